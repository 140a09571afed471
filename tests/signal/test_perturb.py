"""Speaker perturbations: VTLP warp and bank (identity at α = 1, formants moved), speed, pitch."""

from __future__ import annotations

import math

import pytest
import torch

from polysense.errors import ParameterError
from polysense.signal import mel_filterbank, pitch_shift, speed_perturb, time_stretch, vtlp_mel_filterbank, vtlp_warp

SR = 8000


def tone(f_hz, n=8000, sr=SR):
    return torch.sin(2 * math.pi * f_hz * torch.arange(n, dtype=torch.float64) / sr)


def peak_hz(x, sr=SR):
    spectrum = torch.fft.rfft(x * torch.hann_window(x.shape[-1], dtype=torch.float64))
    return float(spectrum.abs().argmax()) * sr / x.shape[-1]


@pytest.mark.parametrize("mel_scale,norm", [("slaney", "slaney"), ("htk", None)])
def test_vtlp_bank_at_alpha_one_is_the_mel_bank_exactly(mel_scale, norm):
    kw = dict(sample_rate=SR, n_fft=256, n_mels=40, f_min_hz=20.0, mel_scale=mel_scale, norm=norm, dtype=torch.float64)
    assert torch.equal(vtlp_mel_filterbank(alpha=1.0, **kw), mel_filterbank(**kw))
    batch = vtlp_mel_filterbank(alpha=torch.tensor([1.0, 1.0]), **kw)
    assert batch.shape == (2, 40, 129) and torch.equal(batch[1], mel_filterbank(**kw))


def test_vtlp_warp_is_piecewise_linear_continuous_and_keeps_the_band_edges():
    f = torch.linspace(0, SR / 2, 4001, dtype=torch.float64)
    for alpha in (0.9, 0.95, 1.0, 1.05, 1.1):
        w = vtlp_warp(f, alpha=alpha, sample_rate=SR)
        assert float(w[0]) == 0.0 and math.isclose(float(w[-1]), SR / 2, abs_tol=1e-9)
        assert bool((w.diff() > 0).all())  # monotonic: no two frequencies meet
        step = float(f[1] - f[0])
        assert float(w.diff().max()) <= 1.5 * step  # continuous: no jump, slopes stay below 1.5
        low = f <= 0.8 * (SR / 2) * min(alpha, 1) / alpha
        assert torch.allclose(w[low], alpha * f[low])
    assert torch.equal(vtlp_warp(f, alpha=1.0, sample_rate=SR), f)


def test_vtlp_alpha_above_one_moves_a_tone_to_a_lower_band_and_below_one_to_a_higher():
    # W_α[b, k] = W[b](α f_k): a tone at f is read as α f, i.e. by the band that was centred at α f
    power = torch.zeros(129, dtype=torch.float64)
    power[40] = 1.0  # 1250 Hz
    kw = dict(sample_rate=SR, n_fft=256, n_mels=40, dtype=torch.float64)
    band = {a: int((vtlp_mel_filterbank(alpha=a, **kw) @ power).argmax()) for a in (0.9, 1.0, 1.1)}
    assert band[0.9] < band[1.0] < band[1.1]


def test_speed_perturb_scales_duration_and_frequency():
    y = speed_perturb(tone(500.0), factor=1.1, sample_rate=SR)
    assert abs(y.shape[-1] - 8000 / 1.1) <= 1
    assert abs(peak_hz(y) - 550.0) <= SR / y.shape[-1]
    assert torch.allclose(speed_perturb(tone(500.0), factor=1.0, sample_rate=SR), tone(500.0))


@pytest.mark.parametrize("semitones", [-2.0, 3.0])
def test_pitch_shift_keeps_the_length_and_moves_the_pitch(semitones):
    x = tone(400.0)
    y = pitch_shift(x, semitones=semitones, sample_rate=SR)
    assert y.shape == x.shape
    expected = 400.0 * 2 ** (semitones / 12)
    assert abs(peak_hz(y[1000:7000]) - expected) <= 2 * SR / 6000
    assert torch.equal(pitch_shift(x, semitones=0.0, sample_rate=SR), x)


def test_time_stretch_keeps_the_pitch_and_changes_the_length():
    y = time_stretch(tone(600.0), rate=1.25)
    assert y.shape[-1] == round(8000 / 1.25)
    assert abs(peak_hz(y[500:-500]) - 600.0) <= 2 * SR / (y.shape[-1] - 1000)


def test_errors_name_the_argument():
    with pytest.raises(ParameterError, match="alpha"):
        vtlp_mel_filterbank(alpha=-1.0, sample_rate=SR, n_fft=256)
    with pytest.raises(ParameterError, match="f_hi_hz"):
        vtlp_warp(torch.tensor([1.0]), alpha=1.0, sample_rate=SR, f_hi_hz=5000.0)
    with pytest.raises(ParameterError, match="factor"):
        speed_perturb(tone(100.0), factor=0.0, sample_rate=SR)
    with pytest.raises(ParameterError, match="semitones"):
        pitch_shift(tone(100.0), semitones=float("inf"), sample_rate=SR)
