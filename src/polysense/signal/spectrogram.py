"""Spectrograms: complex, magnitude and power; decibels; mel, log-mel and MFCC.

Units: for a signal in units u (e.g. full-scale amplitude), the magnitude spectrogram |X(m,k)|
is in u (times the window's gain Σw), the power spectrogram |X|² in u², a mel spectrogram in
u² per band (``norm="slaney"`` filters have unit area in Hz, so u²/Hz·Hz), and dB values are
``10·log10(S/ref)`` for powers, ``20·log10(A/ref)`` for amplitudes.

All spectrograms are (..., freq_or_band, frames), like librosa and ``torch.stft``. Each function
resolves its arguments into a :class:`~polysense.signal.plan.SpectrogramPlan` and computes it with
:func:`~polysense.signal.stft.apply_plan`, the STFT reduced frame by frame; the modules of
:mod:`polysense.signal.transforms` do the same with the plan they hold, so a module and its
function give the same numbers. Defaults on which libraries disagree (padding, mel scale and
norm, ``top_db`` and whether its maximum is taken over a whole batch) come from the convention:
see :mod:`polysense.signal.conventions`, the one place that says which.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from polysense._checks import (
    check_choice,
    check_lifter,
    check_positive_float,
    check_positive_int,
    check_representable,
    check_signal,
)
from polysense.signal.conventions import FROM_CONVENTION, Convention, get_convention
from polysense.signal.filterbanks import dct_matrix
from polysense.signal.plan import DecibelScale, SpectrogramPlan
from polysense.signal.stft import apply_plan

__all__ = ["amplitude_to_db", "log_mel_spectrogram", "mel_plan", "mel_spectrogram", "mfcc", "power_to_db", "spectrogram"]


def spectrogram(
    x: torch.Tensor,
    *,
    n_fft: int,
    hop_length: int | None = None,
    win_length: int | None = None,
    window: str | tuple | torch.Tensor = "hann",
    center: bool | None = None,
    pad_mode: str | None = None,
    power: float | None = 2.0,
    periodic: bool | None = None,
    convention: str | Convention | None = None,
) -> torch.Tensor:
    """Spectrogram ``|X(m, k)|^power`` (..., n_fft//2+1, frames), or the complex X for ``power=None``.

    ``power=2``: power spectrogram re² + im² (u²); ``power=1``: magnitude √(re² + im²) (u),
    with a zero (not NaN) gradient where X = 0; other positive powers are allowed. The STFT
    X and every other argument are as :func:`~polysense.signal.stft.stft`.
    """
    plan = SpectrogramPlan.create(
        n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window, center=center, pad_mode=pad_mode,
        periodic=periodic, convention=convention, power=power,
    )
    return apply_plan(x, plan)


def power_to_db(
    S: torch.Tensor,
    *,
    ref: float | Callable[[torch.Tensor], torch.Tensor | float] = 1.0,
    amin: float = 1e-10,
    top_db: float | None = 80.0,
    top_db_scope: str = "global",
) -> torch.Tensor:
    """Power → decibels: ``10·log10(max(S, amin)) − 10·log10(max(ref, amin))`` (dB).

    Args:
        S: power values (u²), any shape; finite (NaN/Inf raise).
        ref: the 0 dB reference power, a positive number or a callable evaluated on S
            (e.g. ``torch.max``: the loudest bin of the *whole input* becomes 0 dB).
        amin: floor (u²) that keeps the log finite; 1e-10 = −100 dB.
        top_db: if not None, clip values below ``max − top_db`` dB.
        top_db_scope: where that maximum is taken: ``"global"`` over the whole input
            (librosa: one max for a whole batch), or ``"spectrogram"`` per (freq, frames)
            matrix, i.e. per item of a batch (so a batch equals its items one by one).
            torchaudio's ``AmplitudeToDB`` takes it per item of a 4-D (B, C, F, T) input;
            see :mod:`polysense.signal.conventions`.

    Differentiable (the clip passes gradient only to unclipped values).
    """
    S = check_signal("S", S)  # real float32/float64, non-empty, finite
    scale = DecibelScale.create(ref=ref, amin=amin, top_db=top_db, top_db_scope=top_db_scope)
    check_representable("amin", scale.amin, S.dtype)
    return scale(S)


def amplitude_to_db(
    S: torch.Tensor,
    *,
    ref: float | Callable[[torch.Tensor], torch.Tensor | float] = 1.0,
    amin: float = 1e-5,
    top_db: float | None = 80.0,
    top_db_scope: str = "global",
) -> torch.Tensor:
    """Amplitude → decibels: ``20·log10(max(|S|, amin)) − 20·log10(max(ref, amin))`` (dB).

    Computed as librosa does, ``power_to_db(|S|², ref=ref², amin=amin², top_db)``; a
    complex S uses |S|² = re² + im² directly. ``ref`` may be a callable evaluated on |S|.
    ``top_db``/``top_db_scope`` as :func:`power_to_db`.
    """
    S = check_signal("S", S, allow_complex=True)
    # |S|² must stay finite: an amplitude of 1e30 in float32 would square to Inf
    S = check_signal("S", S, allow_complex=True, max_abs=math.sqrt(torch.finfo(S.real.dtype).max) / 2)
    amin = check_positive_float("amin", amin, what="amplitude floor")
    ri = torch.view_as_real(S) if S.is_complex() else None
    power = ri[..., 0] ** 2 + ri[..., 1] ** 2 if ri is not None else S * S
    if callable(ref):
        ref_value = ref(S.abs())  # complex abs has gradient sgn(S): 0, not NaN, at S = 0
        ref_power = ref_value**2 if isinstance(ref_value, torch.Tensor) else float(ref_value) ** 2
    else:  # an amplitude whose square (the reference power) stays finite in S's dtype
        ref_power = check_positive_float("ref", ref, what="reference amplitude for 0 dB",
                                         maximum=math.sqrt(torch.finfo(S.real.dtype).max)) ** 2
    return power_to_db(power, ref=ref_power, amin=amin * amin, top_db=top_db, top_db_scope=top_db_scope)


def mel_plan(
    *,
    sample_rate: float,
    n_mels: int = 128,
    f_min_hz: float = 0.0,
    f_max_hz: float | None = None,
    mel_scale: str | None = None,
    norm=FROM_CONVENTION,
    to_db: bool = False,
    ref: float | Callable = 1.0,
    amin: float | None = None,
    top_db=FROM_CONVENTION,
    top_db_scope: str | None = None,
    n_fft: int = 2048,
    **stft_kwargs,
) -> SpectrogramPlan:
    """The :class:`~polysense.signal.plan.SpectrogramPlan` of :func:`mel_spectrogram` (``to_db=False``)
    or :func:`log_mel_spectrogram` (``to_db=True``) with these arguments.

    ``stft_kwargs`` (hop_length, win_length, window, center, pad_mode, power, periodic, convention)
    as :meth:`SpectrogramPlan.create <polysense.signal.plan.SpectrogramPlan.create>`. The dB settings
    are validated before the filter bank is built.
    """
    plan = SpectrogramPlan.create(n_fft=n_fft, **stft_kwargs)
    if to_db:
        plan = plan.with_db(ref=ref, amin=amin, top_db=top_db, top_db_scope=top_db_scope)
    return plan.with_mel(sample_rate=sample_rate, n_mels=n_mels, f_min_hz=f_min_hz, f_max_hz=f_max_hz,
                         mel_scale=mel_scale, norm=norm)


def mel_spectrogram(
    x: torch.Tensor,
    *,
    sample_rate: float,
    n_fft: int = 2048,
    hop_length: int | None = None,
    win_length: int | None = None,
    window: str | tuple | torch.Tensor = "hann",
    center: bool | None = None,
    pad_mode: str | None = None,
    power: float = 2.0,
    n_mels: int = 128,
    f_min_hz: float = 0.0,
    f_max_hz: float | None = None,
    mel_scale: str | None = None,
    norm=FROM_CONVENTION,
    periodic: bool | None = None,
    convention: str | Convention | None = None,
) -> torch.Tensor:
    """Mel spectrogram ``M = W_mel @ |X|^power`` (..., n_mels, frames), in u² per band for power 2.

    W_mel is :func:`~polysense.signal.filterbanks.mel_filterbank` (scale and norm from the
    convention unless given: librosa slaney/slaney, torchaudio htk/None); X is the STFT of
    :func:`~polysense.signal.stft.stft` (hop default: win_length // 4 for librosa, i.e. 512
    for n_fft 2048). With ``convention="librosa"`` this equals
    ``librosa.feature.melspectrogram(y=x, sr=sample_rate, n_fft=..., hop_length=...)``.
    """
    plan = mel_plan(
        sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
        center=center, pad_mode=pad_mode, power=power, n_mels=n_mels, f_min_hz=f_min_hz, f_max_hz=f_max_hz,
        mel_scale=mel_scale, norm=norm, periodic=periodic, convention=convention,
    )
    return apply_plan(x, plan)


def log_mel_spectrogram(
    x: torch.Tensor,
    *,
    sample_rate: float,
    ref: float | Callable = 1.0,
    amin: float | None = None,
    top_db=FROM_CONVENTION,
    top_db_scope: str | None = None,
    convention: str | Convention | None = None,
    **mel_kwargs,
) -> torch.Tensor:
    """Log-mel spectrogram ``power_to_db(mel_spectrogram(x))`` in dB (..., n_mels, frames).

    ``ref``, ``amin``, ``top_db`` and ``top_db_scope`` as :func:`power_to_db` (defaults from
    the convention: librosa amin 1e-10, top_db 80 over the whole input; torchaudio amin
    1e-10, no top_db); ``mel_kwargs`` as :func:`mel_spectrogram`.
    """
    plan = mel_plan(sample_rate=sample_rate, convention=convention, to_db=True, ref=ref, amin=amin, top_db=top_db,
                    top_db_scope=top_db_scope, **mel_kwargs)
    return apply_plan(x, plan)


def mfcc(
    x: torch.Tensor,
    *,
    sample_rate: float,
    n_mfcc: int = 20,
    dct_norm: str | None = "ortho",
    lifter: float = 0.0,
    ref: float | Callable = 1.0,
    amin: float | None = None,
    top_db: float | None = 80.0,
    top_db_scope: str | None = None,
    convention: str | Convention | None = None,
    **mel_kwargs,
) -> torch.Tensor:
    """Mel-frequency cepstral coefficients (..., n_mfcc, frames), dimensionless (dB-scaled).

    ``C = D @ L`` with L the log-mel spectrogram in dB (:func:`log_mel_spectrogram`, top_db
    80 as both librosa and torchaudio use for MFCCs) and D the DCT-II matrix
    (:func:`~polysense.signal.filterbanks.dct_matrix`, orthonormal by default), keeping the
    first ``n_mfcc`` rows. ``lifter`` L > 0 multiplies coefficient n by
    1 + (L/2)·sin(π(n+1)/L) (librosa's liftering). Equals ``librosa.feature.mfcc`` with the
    librosa convention.
    """
    conv = get_convention(convention)
    n_mfcc = check_positive_int("n_mfcc", n_mfcc, what="number of coefficients")
    lifter = check_lifter(lifter)
    check_choice("dct_norm", dct_norm, ("ortho", None))
    log_mel = log_mel_spectrogram(
        x, sample_rate=sample_rate, ref=ref, amin=amin, top_db=top_db, top_db_scope=top_db_scope,
        convention=conv, **mel_kwargs,
    )
    n_mels = log_mel.shape[-2]
    d = dct_matrix(n_mfcc, n_mels, dct_norm, dtype=log_mel.dtype, device=log_mel.device)
    coeffs = torch.matmul(d, log_mel)
    if lifter > 0:
        n = torch.arange(1, n_mfcc + 1, dtype=torch.float64, device=log_mel.device)  # float64: n/L may be huge
        coeffs = coeffs * (1.0 + (lifter / 2.0) * torch.sin(math.pi * n / lifter)).to(log_mel.dtype).unsqueeze(-1)
    return coeffs
