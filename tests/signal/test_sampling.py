"""Sampling: sinusoids against their closed form, Nyquist, aliasing, band checks.

References: the lecture's f(t) = A·sin(2π(ωt − φ)) and x(n) = f(n/F_s) computed with numpy
in float64 (tolerance 1e-12); alias frequencies from the folding rule checked against the
peak of the sampled tone's DFT.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from polysense.errors import ParameterError
from polysense.signal.dft import amplitude_spectrum, fft_frequencies
from polysense.signal.sampling import (
    alias_frequency,
    check_band,
    chirp,
    nyquist_frequency,
    sample_times,
    sinusoid,
)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def test_sinusoid_matches_closed_form():
    sr, n = 8000, 400
    x = sinusoid(freq_hz=440.0, sample_rate=sr, num_samples=n, amplitude=0.7, phase=0.125)
    t = np.arange(n) / sr
    expected = 0.7 * np.sin(2 * np.pi * (440.0 * t - 0.125))
    np.testing.assert_allclose(x.numpy(), expected, atol=1e-12)
    assert x.dtype == torch.float64 and x.shape == (n,)


def test_phase_is_in_cycles():
    # φ = 0.25 delays the sine by a quarter period: sin(2π(ωt − 1/4)) = −cos(2πωt)
    x = sinusoid(freq_hz=5.0, sample_rate=100, num_samples=50, phase=0.25)
    t = torch.arange(50, dtype=torch.float64) / 100
    torch.testing.assert_close(x, -torch.cos(2 * math.pi * 5 * t), atol=1e-12, rtol=0)


def test_superposition_is_the_sum():
    kw = dict(sample_rate=1000, duration_s=0.2)
    total = sinusoid(freq_hz=[50, 100, 400], amplitude=[1.0, 0.5, 0.25], phase=[0.0, 0.1, 0.2], **kw)
    parts = [
        sinusoid(freq_hz=f, amplitude=a, phase=p, **kw) for f, a, p in [(50, 1.0, 0.0), (100, 0.5, 0.1), (400, 0.25, 0.2)]
    ]
    torch.testing.assert_close(total, sum(parts), atol=1e-12, rtol=0)
    separate = sinusoid(freq_hz=[50, 100, 400], amplitude=[1.0, 0.5, 0.25], phase=[0.0, 0.1, 0.2],
                        sum_components=False, **kw)
    assert separate.shape == (3, 200)
    torch.testing.assert_close(separate.sum(0), total, atol=1e-12, rtol=0)


def test_superposition_is_periodic():
    # 50/100/400 Hz share the period 1/50 s = 20 samples at 1 kHz
    x = sinusoid(freq_hz=[50, 100, 400], sample_rate=1000, num_samples=200)
    torch.testing.assert_close(x[20:], x[:-20], atol=1e-12, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("device", DEVICES)
def test_dtype_and_device(dtype, device):
    x = sinusoid(freq_hz=[100, 200], sample_rate=16000, duration_s=0.01, dtype=dtype, device=device)
    assert x.dtype == dtype and x.device.type == device
    ref = sinusoid(freq_hz=[100, 200], sample_rate=16000, duration_s=0.01)
    torch.testing.assert_close(x.cpu().double(), ref, atol=1e-6, rtol=0)


def test_long_signal_keeps_float64_accuracy():
    # phase reduced modulo one cycle: an hour at 48 kHz still matches the closed form
    sr = 48000
    start = 3600.0
    x = sinusoid(freq_hz=1234.5, sample_rate=sr, num_samples=64, start_s=start)
    t = start + np.arange(64) / sr
    expected = np.sin(2 * np.pi * np.mod(1234.5 * t, 1.0))
    np.testing.assert_allclose(x.numpy(), expected, atol=1e-9)


def test_sample_times():
    t = sample_times(sample_rate=4, duration_s=1.0)
    torch.testing.assert_close(t, torch.tensor([0.0, 0.25, 0.5, 0.75], dtype=torch.float64))


def test_gradcheck_wrt_amplitude_phase_frequency():
    amp = torch.tensor([0.5, 1.5], dtype=torch.float64, requires_grad=True)
    phase = torch.tensor([0.1, 0.3], dtype=torch.float64, requires_grad=True)
    freq = torch.tensor([3.0, 7.0], dtype=torch.float64, requires_grad=True)

    def f(a, p, w):
        return sinusoid(freq_hz=w, amplitude=a, phase=p, sample_rate=50, num_samples=40)

    assert torch.autograd.gradcheck(f, (amp, phase, freq))


def test_nyquist_frequency():
    assert nyquist_frequency(16000) == 8000.0
    assert nyquist_frequency(44100) == 22050.0


@pytest.mark.parametrize(
    ("freq", "sr", "expected"),
    [(1000, 8000, 1000), (7000, 8000, 1000), (9000, 8000, 1000), (4000, 8000, 4000), (8000, 8000, 0),
     (12500, 8000, 3500), (17, 20, 3), (0, 8000, 0)],
)
def test_alias_frequency_values(freq, sr, expected):
    assert alias_frequency(freq, sr) == pytest.approx(expected)


@settings(max_examples=60, deadline=None)
@given(freq=st.floats(min_value=0, max_value=50000), sr=st.sampled_from([8000, 11025, 16000]))
def test_alias_frequency_is_where_the_sampled_tone_peaks(freq, sr):
    """Reference: the peak bin of the sampled tone's DFT (1 Hz bins, 1 s); the fold lies in [0, sr/2]."""
    fa = alias_frequency(freq, sr)
    assert 0 <= fa <= sr / 2
    # put the tone on a bin so the DFT peak is unambiguous
    f = float(round(freq))
    x = sinusoid(freq_hz=f, sample_rate=sr, num_samples=sr, phase=0.1)  # phase avoids sin's zeros
    spectrum = amplitude_spectrum(x)
    peak = fft_frequencies(n_fft=sr, sample_rate=sr)[spectrum.argmax()]
    assert float(peak) == pytest.approx(alias_frequency(f, sr), abs=1e-9)


def test_alias_frequency_samples_are_identical():
    # the samples of a 7 kHz tone at 8 kHz equal those of the (sign-flipped) 1 kHz alias
    x = sinusoid(freq_hz=7000, sample_rate=8000, num_samples=64)
    alias = sinusoid(freq_hz=1000, sample_rate=8000, num_samples=64)
    torch.testing.assert_close(x, -alias, atol=1e-9, rtol=0)


def test_alias_frequency_tensor():
    f = torch.tensor([100.0, 7000.0, 9000.0])
    torch.testing.assert_close(alias_frequency(f, 8000), torch.tensor([100.0, 1000.0, 1000.0]))


def test_check_band():
    assert check_band(8000, 16000) == 8000.0
    assert check_band(None, 16000) == 8000.0
    with pytest.raises(ParameterError, match=r"f_max_hz=9000 Hz exceeds the Nyquist frequency 8000 Hz"):
        check_band(9000, 16000)
    with pytest.raises(ParameterError, match=r"fmax=9000"):
        check_band(9000, 16000, name="fmax")
    with pytest.warns(UserWarning, match="exceeds the Nyquist"):
        assert check_band(9000, 16000, on_exceed="warn") == 9000.0
    with pytest.raises(ParameterError, match=r"on_exceed='clip' is not supported: choose one of 'error', 'warn'"):
        check_band(100, 16000, on_exceed="clip")
    with pytest.raises(ParameterError, match=r"f_max_hz=-1 is invalid"):
        check_band(-1, 16000)


def test_chirp_instantaneous_frequency():
    sr = 8000
    x = chirp(f0_hz=100, f1_hz=1100, sample_rate=sr, duration_s=1.0)
    # zero crossings per 0.1 s window ~ 2 × instantaneous frequency
    first = int((torch.diff(torch.sign(x[:800])) != 0).sum())
    last = int((torch.diff(torch.sign(x[-800:])) != 0).sum())
    assert abs(first / 2 / 0.1 - 150) < 15
    assert abs(last / 2 / 0.1 - 1050) < 15
    y = chirp(f0_hz=100, f1_hz=1600, sample_rate=sr, duration_s=1.0, method="exponential")
    assert y.shape == (sr,) and float(y.abs().max()) <= 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(freq_hz=100, sample_rate=0, num_samples=10), r"sample_rate=0 is invalid: expected a finite number > 0"),
        (dict(freq_hz=100, sample_rate=-8000, num_samples=10), r"sample_rate=-8000 is invalid"),
        (dict(freq_hz=100, sample_rate=float("nan"), num_samples=10), r"sample_rate=nan is invalid"),
        (dict(freq_hz=100, sample_rate=8000), r"give exactly one of them"),
        (dict(freq_hz=100, sample_rate=8000, duration_s=1, num_samples=5), r"give exactly one of them"),
        (dict(freq_hz=100, sample_rate=8000, num_samples=0), r"num_samples=0 is invalid: expected an integer >= 1"),
        (dict(freq_hz=100, sample_rate=8000, duration_s=-1.0), r"duration_s=-1.0 is invalid"),
        (dict(freq_hz=100, sample_rate=8000, duration_s=1e-6), r"shorter than one sample"),
        (dict(freq_hz=-5, sample_rate=8000, num_samples=8), r"freq_hz=-5 is invalid: expected frequencies >= 0"),
        (dict(freq_hz=float("inf"), sample_rate=8000, num_samples=8), r"freq_hz=inf contains NaN or Inf"),
        (dict(freq_hz=[], sample_rate=8000, num_samples=8), r"freq_hz=\[\] is empty"),
        (dict(freq_hz=[1, 2], amplitude=[1, 2, 3], sample_rate=8000, num_samples=8), r"expected equal counts"),
        (dict(freq_hz="100", sample_rate=8000, num_samples=8), r"freq_hz='100' is invalid"),
        (dict(freq_hz=100, sample_rate=8000, num_samples=8, dtype=torch.int32), r"dtype=torch.int32 is not supported"),
    ],
)
def test_sinusoid_errors(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        sinusoid(**kwargs)


def test_other_errors():
    with pytest.raises(ParameterError, match=r"sample_rate=0 is invalid"):
        nyquist_frequency(0)
    with pytest.raises(ParameterError, match=r"sample_rate=-1 is invalid"):
        alias_frequency(100, -1)
    with pytest.raises(ParameterError, match=r"freq_hz=nan is invalid: expected a finite frequency"):
        alias_frequency(float("nan"), 8000)
    with pytest.raises(ParameterError, match=r"freq_hz contains NaN or Inf"):
        alias_frequency(torch.tensor([float("inf")]), 8000)
    with pytest.raises(ParameterError, match=r"method='cubic' is not supported"):
        chirp(f0_hz=1, f1_hz=2, sample_rate=10, num_samples=5, method="cubic")
    with pytest.raises(ParameterError, match=r"f0_hz=0 is invalid: expected a finite number > 0 \(frequency in Hz\)"):
        chirp(f0_hz=0, f1_hz=2, sample_rate=10, num_samples=5, method="exponential")
    with pytest.raises(ParameterError, match=r"start_s=nan is invalid"):
        sample_times(sample_rate=10, num_samples=3, start_s=float("nan"))
