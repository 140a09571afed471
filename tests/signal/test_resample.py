"""Resampling with soxr: content above the new Nyquist is removed, in-band content kept.

Reference: tones of known amplitude; levels measured as RMS over the middle 80 % of the output
(away from the filter's start-up). Measured at the time of writing: > 100 dB attenuation for
LQ…VHQ, < 0.001 dB change in band; the tests assert > 60 dB and < 0.01 dB.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import soxr
import torch

from polysense.errors import ParameterError
from polysense.signal.dft import amplitude_spectrum, fft_frequencies
from polysense.signal.resample import QUALITIES, expected_length, resample
from polysense.signal.sampling import sinusoid

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
RATES = [(44100, 16000), (48000, 16000), (16000, 8000), (22050, 16000)]


def level_db(y: torch.Tensor) -> float:
    n = y.shape[-1]
    mid = y[..., n // 10 : n - n // 10].double()
    rms = mid.pow(2).mean().sqrt()
    return float(20 * torch.log10(rms / (1 / math.sqrt(2))))


@pytest.mark.parametrize("quality", ["LQ", "MQ", "HQ", "VHQ"])
@pytest.mark.parametrize(("orig", "new"), RATES)
def test_content_above_new_nyquist_is_removed(quality, orig, new):
    x = sinusoid(freq_hz=new / 2 * 1.125, sample_rate=orig, duration_s=0.5, dtype=torch.float32)
    y = resample(x, orig_sample_rate=orig, new_sample_rate=new, quality=quality)
    assert level_db(y) < -60.0


@pytest.mark.parametrize("quality", QUALITIES)
@pytest.mark.parametrize(("orig", "new"), RATES)
def test_in_band_tone_is_preserved(quality, orig, new):
    x = sinusoid(freq_hz=1000.0, sample_rate=orig, duration_s=0.5)
    y = resample(x, orig_sample_rate=orig, new_sample_rate=new, quality=quality)
    assert abs(level_db(y)) < 0.01
    # and it is still at 1 kHz: the peak of the resampled signal's spectrum
    n = y.shape[-1] // 2 * 2
    spectrum = amplitude_spectrum(y[:n])
    peak = fft_frequencies(n_fft=n, sample_rate=new)[spectrum.argmax()]
    assert abs(float(peak) - 1000.0) <= new / n


def test_qq_does_not_anti_alias():
    """Documented limitation: "QQ" lets a tone above the new Nyquist through as its alias."""
    x = sinusoid(freq_hz=9000, sample_rate=48000, duration_s=0.5)
    y = resample(x, orig_sample_rate=48000, new_sample_rate=16000, quality="QQ")
    assert level_db(y) > -1.0
    n = y.shape[-1]
    peak = fft_frequencies(n_fft=n, sample_rate=16000)[amplitude_spectrum(y).argmax()]
    assert abs(float(peak) - 7000.0) < 16000 / n


def test_upsampling_keeps_tone():
    x = sinusoid(freq_hz=440, sample_rate=8000, duration_s=0.5)
    y = resample(x, orig_sample_rate=8000, new_sample_rate=44100)
    assert y.shape[-1] == expected_length(4000, orig_sample_rate=8000, new_sample_rate=44100)
    assert abs(level_db(y)) < 0.01


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("device", DEVICES)
def test_batch_dtype_device(dtype, device, rng):
    x = torch.randn(2, 3, 4410, generator=rng, dtype=torch.float64).to(dtype=dtype, device=device)
    y = resample(x, orig_sample_rate=44100, new_sample_rate=16000)
    assert y.dtype == dtype and y.device.type == device
    assert y.shape == (2, 3, expected_length(4410, orig_sample_rate=44100, new_sample_rate=16000))
    # a batch equals the items one by one, and equals soxr on the numpy array
    torch.testing.assert_close(y[1, 2], resample(x[1, 2], orig_sample_rate=44100, new_sample_rate=16000))
    ref = soxr.resample(x[0, 0].cpu().numpy(), 44100, 16000, quality="HQ")
    np.testing.assert_allclose(y[0, 0].cpu().numpy(), ref, rtol=0, atol=1e-6)


def test_same_rate_returns_copy():
    x = torch.randn(100, dtype=torch.float64)
    y = resample(x, orig_sample_rate=16000, new_sample_rate=16000)
    assert torch.equal(x, y) and y.data_ptr() != x.data_ptr()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: resample(torch.ones(10), orig_sample_rate=0, new_sample_rate=16000), r"orig_sample_rate=0 is invalid"),
        (lambda: resample(torch.ones(10), orig_sample_rate=16000, new_sample_rate=-1), r"new_sample_rate=-1 is invalid"),
        (lambda: resample(torch.ones(10), orig_sample_rate=16000, new_sample_rate=8000, quality="best"),
         r"quality='best' is not supported: choose one of 'QQ', 'LQ', 'MQ', 'HQ', 'VHQ'"),
        (lambda: resample(torch.empty(0), orig_sample_rate=16000, new_sample_rate=8000), r"x has 0 samples"),
        (lambda: resample(torch.tensor([0.0, float("nan")]), orig_sample_rate=16000, new_sample_rate=8000),
         r"x contains 1 NaN or Inf"),
        (lambda: resample(torch.tensor([1, 2]), orig_sample_rate=16000, new_sample_rate=8000), r"x has dtype torch.int64"),
    ],
)
def test_errors(call, message):
    with pytest.raises(ParameterError, match=message):
        call()
