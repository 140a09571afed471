"""Whisper's input features from :mod:`polysense.signal`.

Whisper reads 16 kHz audio as a log-mel spectrogram (OpenAI's ``log_mel_spectrogram``;
faster-whisper's ``FeatureExtractor`` with ``padding=160``, the reference here)::

    x ← x followed by 160 zeros
    P = |STFT(x)|²        n_fft 400 (25 ms), hop 160 (10 ms), periodic Hann, centred, reflect padding;
                          the last frame dropped
    M = W_mel · P         80 (or 128) Slaney mel bands with Slaney area normalisation, 0-8 kHz
    L = log10(max(M, 1e-10));   L ← max(L, max(L) − 8);   features = (L + 4) / 4

``max(L)`` is taken over one recording (so a batch is computed item by item on its real length).
The model always sees 3000 frames (30 s): :func:`pad_features` pads with zeros as faster-whisper
does. Other sample rates are resampled to 16 kHz with :func:`polysense.signal.resample`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from polysense._checks import check_positive_int, check_sample_rate, check_signal
from polysense.errors import ParameterError
from polysense.signal.resample import resample
from polysense.signal.spectrogram import mel_plan
from polysense.signal.stft import apply_plan

__all__ = [
    "HOP_LENGTH",
    "N_FFT",
    "SAMPLE_RATE",
    "content_frames",
    "pad_features",
    "trim_to_content",
    "whisper_log_mel",
    "whisper_num_frames",
]

SAMPLE_RATE = 16000
N_FFT = 400
HOP_LENGTH = 160

_PLANS: dict[int, object] = {}


def _plan(n_mels: int):
    # the mel bank is built once per size (a few ms each time otherwise, per clip)
    if n_mels not in _PLANS:
        _PLANS[n_mels] = mel_plan(sample_rate=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP_LENGTH, n_mels=n_mels,
                                  window="hann", periodic=True, center=True, pad_mode="reflect", power=2.0,
                                  mel_scale="slaney", norm="slaney", convention="librosa")
    return _PLANS[n_mels]


def whisper_num_frames(num_samples: int) -> int:
    """Feature frames of a 16 kHz recording of ``num_samples`` samples: ``num_samples // 160 + 1``."""
    return num_samples // HOP_LENGTH + 1


def content_frames(num_samples: int, max_frames: int | None = None) -> int:
    """Frames of a 16 kHz recording the reference transcribes: its ``num_samples // 160 + 1`` frames
    without the last (faster-whisper's and OpenAI's ``content_frames``), at least 1, at most ``max_frames``."""
    frames = max(1, whisper_num_frames(num_samples) - 1)
    return frames if max_frames is None else min(frames, max_frames)


def trim_to_content(features: torch.Tensor, max_frames: int | None = None) -> torch.Tensor:
    """Features (..., n_mels, F) of :func:`whisper_log_mel` cut to the :func:`content_frames` of their recording."""
    frames = max(1, features.shape[-1] - 1)
    return features[..., : frames if max_frames is None else min(frames, max_frames)]


def whisper_log_mel(waveform: torch.Tensor, *, sample_rate: float = SAMPLE_RATE, n_mels: int = 80) -> torch.Tensor:
    """Whisper's log-mel features (n_mels, frames) of one recording (T,) (module docstring).

    ``sample_rate`` other than 16 kHz is resampled first (soxr, HQ). A (B, T) batch of equal-length
    recordings gives (B, n_mels, frames), each item with its own peak. Float32 out.
    """
    waveform = check_signal("waveform", waveform)
    n_mels = check_positive_int("n_mels", n_mels)
    if waveform.ndim > 2:
        raise ParameterError(f"waveform has shape {tuple(waveform.shape)}: expected (time,) or (batch, time)")
    if waveform.shape[-1] == 0:
        raise ParameterError("waveform is empty: Whisper needs at least one sample")
    if check_sample_rate(sample_rate) != SAMPLE_RATE:
        waveform = resample(waveform, orig_sample_rate=sample_rate, new_sample_rate=SAMPLE_RATE)
    x = waveform.float()
    # 160 zeros at the end (the reference's padding); a recording shorter than the reflect pad
    # (41 samples) gets more zeros so the centred frame exists
    x = F.pad(x, (0, HOP_LENGTH + max(0, N_FFT // 2 + 1 - HOP_LENGTH - x.shape[-1])))
    power = apply_plan(x, _plan(n_mels))[..., : whisper_num_frames(waveform.shape[-1])]
    log_spec = torch.clamp(power, min=1e-10).log10()
    peak = log_spec.amax(dim=(-2, -1), keepdim=True)
    return (torch.maximum(log_spec, peak - 8.0) + 4.0) / 4.0


def pad_features(features: torch.Tensor, frames: int = 3000) -> torch.Tensor:
    """Features (..., n_mels, F) zero-padded (or cut) to ``frames`` (the model's 30 s): faster-whisper's ``pad_or_trim``."""
    have = features.shape[-1]
    if have >= frames:
        return features[..., :frames]
    return F.pad(features, (0, frames - have))
