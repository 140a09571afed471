"""DFT: the matrix-vector product against the FFT, one-sided bins, amplitude scaling.

References: ``torch.fft.fft`` / ``numpy.fft`` (1e-10 in float64, 1e-3 in float32); the
lecture's W_N^{nk}; amplitude scaling checked on tones whose amplitudes are known exactly.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from polysense.errors import ParameterError
from polysense.signal.dft import amplitude_spectrum, dft, dft_matrix, fft_frequencies, one_sided
from polysense.signal.sampling import sinusoid

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("n", [1, 2, 3, 8, 31, 64, 1000])
def test_dft_matrix_entries(n):
    w = dft_matrix(n)
    k = np.arange(n)
    expected = np.exp(-2j * np.pi * np.outer(k, k) / n)
    np.testing.assert_allclose(w.numpy(), expected, atol=1e-12)
    # symmetric and unitary up to N
    torch.testing.assert_close(w, w.T)
    torch.testing.assert_close(w @ w.conj(), n * torch.eye(n, dtype=torch.complex128), atol=1e-9, rtol=0)


@pytest.mark.parametrize("n", [1, 2, 7, 16, 255, 512, 1024])
def test_dft_equals_fft_float64(n, rng):
    x = torch.randn(4, 3, n, dtype=torch.float64, generator=rng)
    X = dft(x)
    assert X.dtype == torch.complex128 and X.shape == (4, 3, n)
    assert float((X - torch.fft.fft(x)).abs().max()) < 1e-10


def test_dft_complex_input_and_float32(rng):
    z = torch.randn(2, 64, dtype=torch.complex128, generator=rng)
    assert float((dft(z) - torch.fft.fft(z)).abs().max()) < 1e-10
    x = torch.randn(2, 256, dtype=torch.float32, generator=rng)
    X = dft(x)
    assert X.dtype == torch.complex64
    torch.testing.assert_close(X, torch.fft.fft(x), atol=1e-3, rtol=1e-4)


def test_dft_batch_equals_items(rng):
    x = torch.randn(5, 40, dtype=torch.float64, generator=rng)
    X = dft(x)
    for i in range(5):
        torch.testing.assert_close(X[i], dft(x[i]), atol=1e-12, rtol=0)


@pytest.mark.parametrize("device", DEVICES)
def test_dft_device(device, rng):
    x = torch.randn(3, 32, dtype=torch.float64, generator=rng).to(device)
    X = dft(x)
    assert X.device.type == device
    assert float((X - torch.fft.fft(x)).abs().max()) < 1e-10


def test_dft_gradcheck(rng):
    x = torch.randn(2, 12, dtype=torch.float64, generator=rng, requires_grad=True)
    assert torch.autograd.gradcheck(dft, (x,))


def test_one_sided_and_frequencies():
    for n in (8, 9):
        X = torch.fft.fft(torch.arange(n, dtype=torch.float64))
        half = one_sided(X)
        assert half.shape == (n // 2 + 1,)
        torch.testing.assert_close(half, torch.fft.rfft(torch.arange(n, dtype=torch.float64)))
        np.testing.assert_allclose(
            fft_frequencies(n_fft=n, sample_rate=16000).numpy(), np.fft.rfftfreq(n, 1 / 16000), rtol=1e-15
        )
    f = fft_frequencies(n_fft=512, sample_rate=16000)
    assert f.shape == (257,) and float(f[1]) == 31.25 and float(f[-1]) == 8000.0


def test_lecture_example_three_peaks_of_height_one():
    """f(t) = sin(2π·50t) + sin(2π·100t) + sin(2π·400t): three peaks of exactly 1 (1e-12)."""
    sr = 1000
    x = sinusoid(freq_hz=[50, 100, 400], sample_rate=sr, duration_s=1.0)
    a = amplitude_spectrum(x)
    f = fft_frequencies(n_fft=x.shape[-1], sample_rate=sr)
    peaks = torch.topk(a, 3)
    assert sorted(f[peaks.indices].tolist()) == [50.0, 100.0, 400.0]
    torch.testing.assert_close(peaks.values, torch.ones(3, dtype=torch.float64), atol=1e-12, rtol=0)
    others = torch.ones_like(a, dtype=torch.bool)
    others[peaks.indices] = False
    assert float(a[others].max()) < 1e-12


def test_amplitude_scaling_dc_and_nyquist():
    n = 64
    t = torch.arange(n, dtype=torch.float64)
    # constant c reads c at DC
    torch.testing.assert_close(amplitude_spectrum(torch.full((n,), 0.3, dtype=torch.float64))[0],
                               torch.tensor(0.3, dtype=torch.float64))
    # A·cos(πn) sits on the Nyquist bin and reads A (no mirror image: no factor 2)
    a = amplitude_spectrum(0.7 * torch.cos(math.pi * t))
    torch.testing.assert_close(a[-1], torch.tensor(0.7, dtype=torch.float64))
    # interior bin with an arbitrary phase reads its amplitude
    x = 2.5 * torch.cos(2 * math.pi * 5 * t / n + 0.9)
    torch.testing.assert_close(amplitude_spectrum(x)[5], torch.tensor(2.5, dtype=torch.float64))
    # odd length: no Nyquist bin, last bin is interior
    m = 63
    tt = torch.arange(m, dtype=torch.float64)
    torch.testing.assert_close(amplitude_spectrum(torch.sin(2 * math.pi * 31 * tt / m))[-1],
                               torch.tensor(1.0, dtype=torch.float64))


def test_amplitude_spectrum_with_window():
    # periodic Hann: the mirror image does not leak onto a bin-centred tone, so the peak is exact
    n = 256
    x = sinusoid(freq_hz=20, sample_rate=n, num_samples=n, amplitude=0.8)
    hann = 0.5 - 0.5 * torch.cos(2 * math.pi * torch.arange(n, dtype=torch.float64) / n)
    a = amplitude_spectrum(x, window=hann)
    assert int(a.argmax()) == 20
    torch.testing.assert_close(a[20], torch.tensor(0.8, dtype=torch.float64), atol=1e-12, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_amplitude_spectrum_dtype_and_batch(dtype, rng):
    x = torch.randn(2, 3, 100, generator=rng, dtype=torch.float64).to(dtype)
    a = amplitude_spectrum(x)
    assert a.shape == (2, 3, 51) and a.dtype == dtype
    torch.testing.assert_close(a[1, 2], amplitude_spectrum(x[1, 2]))


def test_amplitude_spectrum_gradients(rng):
    x = torch.randn(2, 16, dtype=torch.float64, generator=rng, requires_grad=True)
    assert torch.autograd.gradcheck(amplitude_spectrum, (x,))
    # a zero signal: zero magnitude everywhere, gradient defined (0), not NaN
    z = torch.zeros(16, dtype=torch.float64, requires_grad=True)
    amplitude_spectrum(z).sum().backward()
    assert bool(torch.isfinite(z.grad).all())


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: dft(torch.empty(3, 0)), r"x has 0 samples along its last \(time\) axis"),
        (lambda: dft(torch.tensor([1.0, float("nan")])), r"x contains 1 NaN or Inf"),
        (lambda: dft(torch.tensor([1, 2])), r"x has dtype torch.int64"),
        (lambda: dft_matrix(0), r"n=0 is invalid: expected an integer >= 1"),
        (lambda: dft_matrix(4, dtype=torch.float64), r"dtype=torch.float64 is not supported"),
        (lambda: one_sided(torch.empty(0)), r"X has 0 bins"),
        (lambda: one_sided([1, 2]), r"X must be a torch.Tensor"),
        (lambda: fft_frequencies(n_fft=1, sample_rate=16000), r"n_fft=1 is invalid: expected an integer >= 2"),
        (lambda: fft_frequencies(n_fft=512, sample_rate=0), r"sample_rate=0 is invalid"),
        (lambda: amplitude_spectrum(torch.ones(8), window=torch.ones(7)), r"window has shape \(7,\): expected \(8,\)"),
        (lambda: amplitude_spectrum(torch.ones(8), window=torch.zeros(8)), r"window sums to <= 0"),
        (lambda: amplitude_spectrum(torch.ones(8), window=3), r"window=3 is invalid"),
        (lambda: amplitude_spectrum(torch.tensor([float("inf")])), r"x contains 1 NaN or Inf"),
    ],
)
def test_errors(call, message):
    with pytest.raises(ParameterError, match=message):
        call()
