"""Spectrogram powers, dB conversions (ref, amin, top_db scope), mel / log-mel / MFCC, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from polysense.errors import ParameterError
from polysense.signal.filterbanks import dct_matrix, mel_filterbank
from polysense.signal.spectrogram import (
    amplitude_to_db,
    log_mel_spectrogram,
    mel_spectrogram,
    mfcc,
    power_to_db,
    spectrogram,
)
from polysense.signal.stft import stft


@pytest.fixture
def tones() -> torch.Tensor:
    t = torch.arange(16000, dtype=torch.float64) / 16000
    return torch.stack([torch.sin(2 * math.pi * 440 * t), 0.1 * torch.sin(2 * math.pi * 3000 * t)])


def test_power_none_one_two(tones):
    kw = dict(n_fft=512, hop_length=128)
    X = stft(tones, **kw)
    assert torch.equal(spectrogram(tones, power=None, **kw), X)
    np.testing.assert_allclose(spectrogram(tones, power=1, **kw).numpy(), X.abs().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(spectrogram(tones, power=2, **kw).numpy(), (X.abs() ** 2).numpy(), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(spectrogram(tones, power=0.5, **kw).numpy(), X.abs().numpy() ** 0.5, rtol=1e-12, atol=1e-9)


def test_tone_lands_in_its_bin(tones):
    P = spectrogram(tones[0], n_fft=1600, hop_length=400)  # 10 Hz bins: 440 Hz is bin 44
    assert int(P[:, 10].argmax()) == 44
    # Hann window of N samples: a unit sine peaks at |X| = N/4
    assert abs(float(P[44, 10].sqrt()) - 1600 / 4) < 1e-6


def test_power_to_db_formula_ref_and_amin():
    S = torch.tensor([[1e-12, 1e-3, 1.0, 100.0]], dtype=torch.float64)
    db = power_to_db(S, top_db=None)
    np.testing.assert_allclose(db.numpy(), [[-100.0, -30.0, 0.0, 20.0]], atol=1e-12)
    np.testing.assert_allclose(power_to_db(S, ref=torch.max, top_db=None).numpy(), [[-120.0, -50.0, -20.0, 0.0]], atol=1e-12)
    np.testing.assert_allclose(power_to_db(S, ref=10.0, amin=1e-6, top_db=None).numpy(), [[-70.0, -40.0, -10.0, 10.0]], atol=1e-12)
    np.testing.assert_allclose(power_to_db(S, top_db=40.0).numpy(), [[-20.0, -20.0, 0.0, 20.0]], atol=1e-12)


def test_top_db_scope_global_vs_per_spectrogram():
    loud = torch.full((1, 4, 5), 1.0, dtype=torch.float64)
    quiet = torch.full((1, 4, 5), 1e-6, dtype=torch.float64)
    quiet[0, 0, 0] = 1e-4
    batch = torch.cat([loud, quiet])
    glob = power_to_db(batch, top_db=30.0, top_db_scope="global")  # librosa: one max over everything
    per = power_to_db(batch, top_db=30.0, top_db_scope="spectrogram")  # per (freq, frames) matrix
    assert float(glob[1].max()) == -30.0 and float(glob[1].min()) == -30.0
    assert float(per[1].max()) == -40.0 and float(per[1].min()) == -60.0
    np.testing.assert_array_equal(per[1].numpy(), power_to_db(batch[1], top_db=30.0).numpy())


def test_amplitude_to_db_matches_librosa_and_complex(rng):
    librosa = pytest.importorskip("librosa")
    A = torch.rand(5, 7, generator=rng, dtype=torch.float64) * 3
    A[0, 0] = 0.0
    for ref in (1.0, 0.5):
        ours = amplitude_to_db(A, ref=ref)
        np.testing.assert_allclose(ours.numpy(), librosa.amplitude_to_db(A.numpy(), ref=ref), atol=1e-10)
    np.testing.assert_allclose(amplitude_to_db(A, ref=torch.max).numpy(), librosa.amplitude_to_db(A.numpy(), ref=np.max), atol=1e-10)
    Z = torch.polar(A, torch.rand(5, 7, generator=rng, dtype=torch.float64))
    np.testing.assert_allclose(amplitude_to_db(Z).numpy(), amplitude_to_db(A).numpy(), atol=1e-10)


def test_mel_is_filterbank_times_power(tones):
    kw = dict(n_fft=512, hop_length=160)
    P = spectrogram(tones, **kw)
    for scale, norm in [("slaney", "slaney"), ("htk", None)]:
        fb = mel_filterbank(sample_rate=16000, n_fft=512, n_mels=40, mel_scale=scale, norm=norm, dtype=torch.float64)
        M = mel_spectrogram(tones, sample_rate=16000, n_mels=40, mel_scale=scale, norm=norm, **kw)
        np.testing.assert_allclose(M.numpy(), (fb @ P).numpy(), rtol=1e-10, atol=1e-12)
    band = mel_spectrogram(tones, sample_rate=16000, n_mels=20, f_min_hz=300, f_max_hz=4000, **kw)
    fb = mel_filterbank(sample_rate=16000, n_fft=512, n_mels=20, f_min_hz=300, f_max_hz=4000, dtype=torch.float64)
    np.testing.assert_allclose(band.numpy(), (fb @ P).numpy(), rtol=1e-10, atol=1e-12)
    magnitude = mel_spectrogram(tones, sample_rate=16000, n_mels=40, power=1.0, **kw)
    fb = mel_filterbank(sample_rate=16000, n_fft=512, n_mels=40, dtype=torch.float64)
    np.testing.assert_allclose(magnitude.numpy(), (fb @ P.sqrt()).numpy(), rtol=1e-10, atol=1e-12)


def test_log_mel_and_mfcc_compose(tones):
    kw = dict(sample_rate=16000, n_fft=512, hop_length=160, n_mels=40)
    M = mel_spectrogram(tones, **kw)
    L = log_mel_spectrogram(tones, **kw)
    np.testing.assert_allclose(L.numpy(), power_to_db(M).numpy(), atol=1e-12)
    C = mfcc(tones, n_mfcc=13, **kw)
    np.testing.assert_allclose(C.numpy(), (dct_matrix(13, 40, dtype=torch.float64) @ power_to_db(M)).numpy(), atol=1e-9)
    lifted = mfcc(tones, n_mfcc=13, lifter=22, **kw)
    scale = 1 + 11 * np.sin(np.pi * np.arange(1, 14) / 22)
    np.testing.assert_allclose(lifted.numpy(), C.numpy() * scale[:, None], atol=1e-9)


def test_float32_in_float32_out(tones):
    x = tones.float()
    for out in (spectrogram(x, n_fft=256), mel_spectrogram(x, sample_rate=16000, n_fft=256, n_mels=20),
                log_mel_spectrogram(x, sample_rate=16000, n_fft=256, n_mels=20), mfcc(x, sample_rate=16000, n_fft=256, n_mels=20)):
        assert out.dtype == torch.float32 and torch.isfinite(out).all()


def test_silence_gives_the_floor_not_nan():
    x = torch.zeros(2000)
    L = log_mel_spectrogram(x, sample_rate=16000, n_fft=256, n_mels=20)
    assert torch.equal(L, torch.full_like(L, -100.0))
    assert torch.isfinite(mfcc(x, sample_rate=16000, n_fft=256, n_mels=20)).all()


X = torch.ones(4000)
BAD = [
    (lambda: spectrogram(torch.zeros(2, 0), n_fft=64), "0 samples"),
    (lambda: spectrogram(torch.tensor([1.0, float("nan")] * 100), n_fft=64), "NaN or Inf"),
    (lambda: mel_spectrogram(torch.tensor([float("-inf")] * 100), sample_rate=16000, n_fft=64), "NaN or Inf"),
    (lambda: spectrogram(X, n_fft=1), "n_fft=1"),
    (lambda: spectrogram(X, n_fft=64, hop_length=0), "hop_length=0"),
    (lambda: spectrogram(X, n_fft=64, win_length=65), "win_length=65"),
    (lambda: spectrogram(X, n_fft=64, window="hanning_2"), "window='hanning_2'"),
    (lambda: spectrogram(X, n_fft=64, power=0), "power=0"),
    (lambda: mel_spectrogram(X, sample_rate=0, n_fft=64), "sample_rate=0"),
    (lambda: mel_spectrogram(X, sample_rate=-1, n_fft=64), "sample_rate=-1"),
    (lambda: mel_spectrogram(X, sample_rate=16000, n_fft=64, f_max_hz=8001), "f_max_hz=8001"),
    (lambda: mel_spectrogram(X, sample_rate=16000, n_fft=64, power=None), "power=None"),
    (lambda: mel_spectrogram(X, sample_rate=16000, n_fft=64, mel_scale="erb"), "mel_scale='erb'"),
    (lambda: log_mel_spectrogram(X, sample_rate=16000, n_fft=64, amin=0), "amin=0"),
    (lambda: log_mel_spectrogram(X, sample_rate=16000, n_fft=64, top_db=-5), "top_db=-5"),
    (lambda: log_mel_spectrogram(X, sample_rate=16000, n_fft=64, top_db_scope="batch"), "top_db_scope='batch'"),
    (lambda: mfcc(X, sample_rate=16000, n_fft=64, n_mels=10, n_mfcc=20), "n_mfcc=20"),
    (lambda: mfcc(X, sample_rate=16000, n_fft=64, n_mels=10, lifter=-1), "lifter=-1"),
    (lambda: power_to_db(torch.tensor([1.0, float("nan")])), "NaN or Inf"),
    (lambda: power_to_db(torch.tensor([1.0]), ref=0.0), "ref=0.0"),
]


@pytest.mark.parametrize(("call", "needle"), BAD, ids=[b[1] for b in BAD])
def test_bad_input_raises_parameter_error(call, needle):
    with pytest.raises(ParameterError, match=needle):
        call()
