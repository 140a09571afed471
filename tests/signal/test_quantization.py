"""Quantization: the lecture's Q(a), its error bound, SQNR ≈ 6.02·b + 1.76 dB, μ-law.

References: Q(a) = sgn(a)·Δ·⌊|a|/Δ + 1/2⌋ evaluated with numpy (exact); the error bound
|a − Q(a)| ≤ Δ/2 (hypothesis); the textbook SQNR of a full-scale sine (tolerance 0.5 dB);
μ-law against its closed form (torchaudio's convention, codes 0 … Q−1), exact codes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from polysense.errors import ParameterError
from polysense.signal.quantization import (
    mu_law_compress,
    mu_law_decode,
    mu_law_encode,
    mu_law_expand,
    quantization_error,
    quantization_step,
    quantize,
    quantize_bits,
    sqnr_db,
)
from polysense.signal.sampling import sinusoid

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def q_reference(a: np.ndarray, delta: float) -> np.ndarray:
    return np.sign(a) * delta * np.floor(np.abs(a) / delta + 0.5)


def test_quantize_matches_lecture_formula():
    a = np.array([-3.0, -2.5, -2.1, -0.49, 0.0, 0.49, 0.5, 2.1, 2.5, 2.6, 3.0])
    q = quantize(torch.from_numpy(a), 1.0).numpy()
    np.testing.assert_array_equal(q, q_reference(a, 1.0))
    # halves round away from zero, symmetric in sign (the sgn(a) factor)
    np.testing.assert_array_equal(q, [-3, -3, -2, 0, 0, 0, 1, 2, 3, 3, 3])


@settings(max_examples=200, deadline=None)
@given(
    a=arrays(np.float64, st.integers(1, 64), elements=st.floats(-1e3, 1e3, allow_nan=False)),
    step=st.floats(1e-3, 10.0),
)
def test_error_is_bounded_by_half_a_step(a, step):
    x = torch.from_numpy(a)
    n = quantization_error(x, step)
    assert bool((n.abs() <= step / 2 * (1 + 1e-12) + 1e-12).all())
    q = quantize(x, step)
    torch.testing.assert_close(n, x - q, atol=0, rtol=0)
    # every value is an integer multiple of the step
    k = q / step
    torch.testing.assert_close(k, torch.round(k), atol=1e-9, rtol=0)


def test_quantization_step():
    assert quantization_step(16) == 2 / 65536
    assert quantization_step(8, full_scale=2.0) == 4 / 256
    assert quantization_step(1) == 1.0


def test_quantize_bits_levels_and_clipping():
    x = torch.linspace(-1.5, 1.5, 10001, dtype=torch.float64)
    q = quantize_bits(x, 3)
    levels = torch.unique(q)
    torch.testing.assert_close(levels, torch.arange(-4, 4, dtype=torch.float64) / 4)  # 2^3 levels, Δ = 1/4
    assert float(q.min()) == -1.0 and float(q.max()) == 0.75
    # 16-bit PCM: integer codes in [-32768, 32767]
    codes = quantize_bits(x, 16) * 32768
    assert torch.equal(codes, torch.round(codes))
    assert float(codes.min()) == -32768 and float(codes.max()) == 32767


def test_quantize_bits_within_range_is_lecture_q():
    x = torch.linspace(-0.99, 0.87, 997, dtype=torch.float64)
    delta = quantization_step(4)
    np.testing.assert_array_equal(quantize_bits(x, 4).numpy(), q_reference(x.numpy(), delta))


@pytest.mark.parametrize("bits", range(8, 17))
def test_sqnr_of_full_scale_sine(bits):
    """Textbook SQNR = 6.02·b + 1.76 dB within 0.5 dB (measured: within 0.2 dB).

    Full scale: the largest sine that never overloads, amplitude 1 − Δ/2 (see quantize_bits).
    997 Hz at 48 kHz for 2 s is incommensurate enough for the error to be noise-like.
    """
    delta = quantization_step(bits)
    x = sinusoid(freq_hz=997.0, sample_rate=48000, duration_s=2.0, amplitude=1.0 - delta / 2)
    measured = float(sqnr_db(x, quantize_bits(x, bits)))
    assert abs(measured - (6.02 * bits + 1.76)) < 0.5


def test_sqnr_batched():
    x = torch.stack([sinusoid(freq_hz=f, sample_rate=8000, duration_s=0.5) for f in (101.0, 333.0)])
    q = quantize_bits(x, 8)
    s = sqnr_db(x, q)
    assert s.shape == (2,)
    torch.testing.assert_close(s[1], sqnr_db(x[1], q[1]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("device", DEVICES)
def test_dtype_device_batch(dtype, device):
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(3, 2, 100, generator=g, dtype=torch.float64) * 2 - 1).to(dtype=dtype, device=device)
    q = quantize_bits(x, 6)
    assert q.dtype == dtype and q.device.type == device and q.shape == x.shape
    # batch equals the items one by one
    torch.testing.assert_close(q[1, 0], quantize_bits(x[1, 0], 6))


def test_gradients():
    x = torch.tensor([0.13, -0.4, 0.77], dtype=torch.float64, requires_grad=True)
    quantize(x, 0.1).sum().backward()
    assert torch.equal(x.grad, torch.zeros(3, dtype=torch.float64))  # piecewise constant
    x.grad = None
    y = quantize(x, 0.1, straight_through=True)
    np.testing.assert_array_equal(y.detach().numpy(), q_reference(x.detach().numpy(), 0.1))
    y.sum().backward()
    assert torch.equal(x.grad, torch.ones(3, dtype=torch.float64))
    x.grad = None
    quantize_bits(x, 4, straight_through=True).sum().backward()
    assert torch.equal(x.grad, torch.ones(3, dtype=torch.float64))


def test_mu_law_matches_closed_form():
    x = torch.linspace(-1, 1, 4001, dtype=torch.float64)
    mu = 255.0
    expected = np.floor(
        (np.sign(x.numpy()) * np.log1p(mu * np.abs(x.numpy())) / np.log1p(mu) + 1) / 2 * mu + 0.5
    ).astype(np.int64)
    codes = mu_law_encode(x, 256)
    assert codes.dtype == torch.int64
    np.testing.assert_array_equal(codes.numpy(), expected)
    assert int(codes.min()) == 0 and int(codes.max()) == 255
    assert int(mu_law_encode(torch.zeros(1), 256)) == 128
    decoded = mu_law_decode(torch.arange(256), 256, dtype=torch.float64)
    y = np.arange(256) / mu * 2 - 1
    np.testing.assert_allclose(decoded.numpy(), np.sign(y) * ((1 + mu) ** np.abs(y) - 1) / mu, atol=1e-15)
    assert float(decoded[0]) == pytest.approx(-1.0, abs=1e-15) and float(decoded[-1]) == pytest.approx(1.0, abs=1e-15)


@pytest.mark.parametrize("channels", [2, 16, 256, 65536])
def test_mu_law_round_trip_bound(channels):
    """|x − decode(encode(x))| ≤ (ln(1+μ)/μ²)·(1 + μ|x|)·(1+μ)^(1/μ) (the docstring's bound)."""
    x = torch.linspace(-1, 1, 100001, dtype=torch.float64)
    xh = mu_law_decode(mu_law_encode(x, channels), channels, dtype=torch.float64)
    mu = channels - 1
    bound = math.log1p(mu) / mu**2 * (1 + mu * x.abs()) * (1 + mu) ** (1 / mu)
    assert bool(((x - xh).abs() <= bound + 1e-12).all())


def test_mu_law_compress_expand_inverse_and_differentiable():
    x = torch.linspace(-1, 1, 101, dtype=torch.float64)
    torch.testing.assert_close(mu_law_expand(mu_law_compress(x)), x, atol=1e-12, rtol=0)
    xs = torch.tensor([-0.5, 0.01, 0.3], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(mu_law_compress, (xs,))


def test_mu_law_clips_out_of_range():
    codes = mu_law_encode(torch.tensor([-3.0, 3.0]), 256)
    assert codes.tolist() == [0, 255]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: quantize(torch.ones(4), 0), r"step=0 is invalid: expected a finite number > 0"),
        (lambda: quantize(torch.ones(4), -0.1), r"step=-0.1 is invalid"),
        (lambda: quantize(torch.ones(4), float("nan")), r"step=nan is invalid"),
        (lambda: quantize(torch.empty(0), 0.1), r"x has 0 samples along its last \(time\) axis"),
        (lambda: quantize(torch.tensor([0.0, float("nan")]), 0.1), r"x contains 1 NaN or Inf value\(s\), first at index \(1,\)"),
        (lambda: quantize(torch.tensor([1, 2]), 0.1), r"x has dtype torch.int64: expected float32 or float64"),
        (lambda: quantize([0.1, 0.2], 0.1), r"x must be a torch.Tensor"),
        (lambda: quantize_bits(torch.ones(4), 0), r"bits=0 is invalid: expected an integer >= 1"),
        (lambda: quantize_bits(torch.ones(4), 33), r"bits=33 is invalid: expected an integer in \[1, 32\]"),
        (lambda: quantize_bits(torch.ones(4), 2.5), r"bits=2.5 is invalid"),
        (lambda: quantize_bits(torch.ones(4), 8, full_scale=0), r"full_scale=0 is invalid"),
        (lambda: quantization_error(torch.tensor([float("inf")]), 0.1), r"x contains 1 NaN or Inf"),
        (lambda: sqnr_db(torch.ones(4), torch.ones(3)), r"x_quantized has shape \(3,\): expected the shape of x, \(4,\)"),
        (lambda: sqnr_db(torch.zeros(4), torch.zeros(4)), r"x is all zeros along time"),
        (lambda: mu_law_encode(torch.ones(4), 1), r"quantization_channels=1 is invalid: expected an integer >= 2"),
        (lambda: mu_law_encode(torch.empty(2, 0)), r"x has 0 samples"),
        (lambda: mu_law_decode(torch.tensor([0, 256])), r"codes contains 256: expected integers in \[0, 255\]"),
        (lambda: mu_law_decode(torch.tensor([-1, 3])), r"codes contains -1: expected integers in \[0, 255\]"),
        (lambda: mu_law_decode(torch.tensor([0.5])), r"non-integer values: expected integer codes"),
        (lambda: mu_law_decode(torch.tensor([], dtype=torch.int64)), r"codes is empty"),
        (lambda: mu_law_decode([1, 2]), r"codes must be a torch.Tensor"),
        (lambda: mu_law_decode(torch.tensor([1]), dtype=torch.int32), r"dtype=torch.int32 is not supported"),
    ],
)
def test_errors(call, message):
    with pytest.raises(ParameterError, match=message):
        call()
