"""The analysis plan and its frame axis: frame_times against scipy's ShortTimeFFT.t and librosa.frames_to_time.

References: ``scipy.signal.ShortTimeFFT(win, hop, fs, mfft=n_fft).t(n)`` (scipy convention) and
``librosa.frames_to_time`` (centred and uncentred framing), exact to 1e-12 s; the frame count is
the number of frames :func:`stft` returns.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.signal
import torch

from polysense.errors import ParameterError
from polysense.signal.plan import SpectrogramPlan, frame_times
from polysense.signal.stft import stft
from polysense.signal.windows import get_window

librosa = pytest.importorskip("librosa")

SR = 16000


@pytest.mark.parametrize(
    ("num_samples", "n_fft", "hop", "win_length", "window"),
    [
        (16001, 512, 128, 512, "hann"),  # the case the figures used to get 8 ms wrong
        (16000, 512, 128, 400, "hann"),
        (1000, 256, 100, 256, "hamming"),
        (777, 64, 48, 33, ("tukey", 0.5)),
        (3000, 255, 64, 255, "rectangular"),
        (500, 128, 200, 128, "hann"),  # hop longer than the window
    ],
)
def test_scipy_frame_times_equal_short_time_fft(num_samples, n_fft, hop, win_length, window):
    times = frame_times(num_samples, sample_rate=SR, n_fft=n_fft, hop_length=hop, win_length=win_length,
                        convention="scipy", window=window)
    w = get_window(window, win_length).numpy()
    ref = scipy.signal.ShortTimeFFT(w, hop, SR, mfft=n_fft).t(num_samples)
    np.testing.assert_allclose(times.numpy(), ref, rtol=0, atol=1e-12)
    X = stft(torch.zeros(num_samples), n_fft=n_fft, hop_length=hop, win_length=win_length, window=window,
             convention="scipy")
    assert X.shape[-1] == times.shape[0]


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize(("num_samples", "n_fft", "hop"), [(16001, 512, 128), (1000, 256, 100), (999, 63, 10), (512, 512, 64)])
@pytest.mark.parametrize("convention", ["librosa", "torchaudio"])
def test_centred_frame_times_equal_librosa(center, num_samples, n_fft, hop, convention):
    times = frame_times(num_samples, sample_rate=SR, n_fft=n_fft, hop_length=hop, center=center, convention=convention)
    X = stft(torch.randn(num_samples), n_fft=n_fft, hop_length=hop, center=center, convention=convention)
    assert times.shape == (X.shape[-1],) and times.dtype == torch.float64
    frames = np.arange(X.shape[-1])
    ref = librosa.frames_to_time(frames, sr=SR, hop_length=hop, n_fft=None if center else n_fft)
    np.testing.assert_allclose(times.numpy(), ref, rtol=0, atol=1e-12)


def test_too_short_signal_has_no_frames_and_bad_arguments_raise():
    assert frame_times(10, sample_rate=SR, n_fft=64, hop_length=8, center=False).shape == (0,)
    assert frame_times(0, sample_rate=SR, n_fft=64, hop_length=8).shape == (1,)  # one frame of padding only
    with pytest.raises(ParameterError, match="num_samples=-1"):
        frame_times(-1, sample_rate=SR, n_fft=64, hop_length=8)
    with pytest.raises(ParameterError, match="sample_rate=0"):
        frame_times(100, sample_rate=0, n_fft=64, hop_length=8)
    with pytest.raises(ParameterError, match="hop_length=0"):
        frame_times(100, sample_rate=SR, n_fft=64, hop_length=0)


def test_the_plan_is_resolved_once_and_immutable():
    plan = SpectrogramPlan.create(n_fft=400, convention="torchaudio").with_mel(sample_rate=SR, n_mels=40).with_db()
    # None arguments took the convention's values
    assert (plan.hop_length, plan.pad_mode, plan.mel_scale, plan.mel_norm) == (200, "reflect", "htk", None)
    assert (plan.db.top_db, plan.db.top_db_scope) == (None, "spectrogram")
    assert plan.window.dtype == torch.float64 and plan.mel_bank.shape == (40, 201) and plan.width == 40
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.n_fft = 512  # type: ignore[misc]
    with pytest.raises(ParameterError, match="power=None is invalid for a mel spectrogram"):
        SpectrogramPlan.create(n_fft=400, power=None).with_mel(sample_rate=SR)
