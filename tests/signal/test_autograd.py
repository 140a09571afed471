"""Autograd: gradcheck in float64 through every front-end function, and no NaN gradient at silence."""

from __future__ import annotations

import pytest
import torch
from torch.autograd import gradcheck

from polysense.signal.spectrogram import amplitude_to_db, log_mel_spectrogram, mel_spectrogram, mfcc, power_to_db, spectrogram
from polysense.signal.stft import istft, stft
from polysense.signal.transforms import LogMelSpectrogram

SR = 8000
SMALL = dict(n_fft=32, hop_length=8)


@pytest.fixture
def x(rng) -> torch.Tensor:
    return torch.randn(2, 120, generator=rng, dtype=torch.float64, requires_grad=True)


CASES = {
    "stft": lambda x: torch.view_as_real(stft(x, **SMALL)),
    "stft_short_window_reflect": lambda x: torch.view_as_real(stft(x, win_length=20, pad_mode="reflect", **SMALL)),
    "stft_scipy": lambda x: torch.view_as_real(stft(x, convention="scipy", win_length=24, **SMALL)),
    "magnitude": lambda x: spectrogram(x, power=1, **SMALL),
    "power": lambda x: spectrogram(x, power=2, **SMALL),
    "mel": lambda x: mel_spectrogram(x, sample_rate=SR, n_mels=8, **SMALL),
    "mel_magnitude_htk": lambda x: mel_spectrogram(x, sample_rate=SR, n_mels=8, power=1, mel_scale="htk", **SMALL),
    "log_mel": lambda x: log_mel_spectrogram(x, sample_rate=SR, n_mels=8, **SMALL),
    "log_mel_top_db": lambda x: log_mel_spectrogram(x, sample_rate=SR, n_mels=8, top_db=10.0, **SMALL),
    "mfcc": lambda x: mfcc(x, sample_rate=SR, n_mels=8, n_mfcc=5, **SMALL),
    "module": lambda x: LogMelSpectrogram(SR, n_mels=8, **SMALL)(x),
}


@pytest.mark.parametrize("name", list(CASES))
def test_gradcheck(name, x):
    assert gradcheck(CASES[name], (x,), eps=1e-6, atol=1e-5, rtol=1e-4)


def test_gradcheck_window_and_istft(rng):
    w = torch.hann_window(32, dtype=torch.float64).requires_grad_()
    sig = torch.randn(100, generator=rng, dtype=torch.float64)
    assert gradcheck(lambda w: torch.view_as_real(stft(sig, window=w, **SMALL)), (w,), eps=1e-6, atol=1e-5)
    X = stft(sig, **SMALL).detach().requires_grad_()
    assert gradcheck(lambda X: istft(X, length=100, **SMALL), (X,), eps=1e-6, atol=1e-5)


def test_db_gradients(rng):
    S = (torch.rand(3, 6, 5, generator=rng, dtype=torch.float64) + 0.1).requires_grad_()
    assert gradcheck(lambda S: power_to_db(S, ref=torch.max, top_db=None), (S,), eps=1e-7, atol=1e-5)
    assert gradcheck(lambda S: amplitude_to_db(S, top_db=None), (S,), eps=1e-7, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_no_nan_gradient_where_the_magnitude_is_zero(dtype):
    x = torch.zeros(2, 400, dtype=dtype)
    x[1, 200:] = 0.5  # one silent item, one with silent and non-silent frames
    x.requires_grad_()
    for fn in (
        lambda x: spectrogram(x, n_fft=64, hop_length=16, power=1),
        lambda x: mel_spectrogram(x, sample_rate=SR, n_fft=64, hop_length=16, n_mels=8, power=1),
        lambda x: log_mel_spectrogram(x, sample_rate=SR, n_fft=64, hop_length=16, n_mels=8),
        lambda x: amplitude_to_db(stft(x, n_fft=64, hop_length=16)),
        lambda x: mfcc(x, sample_rate=SR, n_fft=64, hop_length=16, n_mels=8, n_mfcc=4),
    ):
        (grad,) = torch.autograd.grad(fn(x).sum(), x)
        assert torch.isfinite(grad).all()
