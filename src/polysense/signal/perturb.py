"""Speaker perturbations: vocal tract length perturbation, speed perturbation, pitch shift.

A speaker's vocal tract length scales the formant frequencies by roughly a constant factor
(shorter tract, higher formants); these functions make new "speakers" from one recording.

VTLP (Jaitly & Hinton, 2013) warps the frequency axis before the mel filter bank. With
``α`` the warp factor, Nyquist ``S/2`` and the boundary ``F_hi`` (Hz; default 0.8·S/2 when
given as None; J&H used 4800 Hz at 16 kHz)::

    f0 = F_hi · min(α, 1) / α
    warp(f) = α f                                                       if f <= f0
    warp(f) = S/2 − (S/2 − F_hi·min(α, 1)) / (S/2 − f0) · (S/2 − f)      otherwise

piecewise linear, continuous, ``warp(0) = 0``, ``warp(S/2) = S/2``, the identity at ``α = 1``.
The warped bank reads the energy at physical frequency ``f`` as if it were at ``warp(f)``:
``W_α[b, k] = W[b](warp(f_k))`` where ``W[b](f)`` is mel filter ``b`` as a function of
frequency. :func:`vtlp_mel_filterbank` builds it from :func:`~polysense.signal.filterbanks.mel_filterbank`
on a grid ``oversample`` times finer than the FFT bins, linearly interpolated (the triangles are
piecewise linear, so the only error is at their corners, below ``Δf_fine``; at ``α = 1`` every
``f_k`` is a grid point and the bank is exactly ``mel_filterbank``'s).

Speed perturbation (Ko et al., 2015) resamples: a speed factor ``s`` plays the recording ``s``
times faster, so duration ÷ s and every frequency × s (tempo and pitch together). Pitch shift
changes the pitch by ``n`` semitones (×2^(n/12)) and keeps the duration: a phase-vocoder time
stretch by ``2^(−n/12)`` followed by resampling (as ``librosa.effects.pitch_shift``).
"""

from __future__ import annotations

import math

import torch

from polysense import limits
from polysense._checks import (
    check_device,
    check_dtype,
    check_positive_float,
    check_positive_int,
    check_real,
    check_sample_rate,
    check_signal,
    check_size,
    check_tensor,
)
from polysense.errors import ParameterError
from polysense.signal.dft import fft_frequencies
from polysense.signal.filterbanks import mel_filterbank
from polysense.signal.resample import MAX_RATIO, resample
from polysense.signal.stft import istft, stft

__all__ = ["pitch_shift", "speed_perturb", "time_stretch", "vtlp_mel_filterbank", "vtlp_warp"]


def _alphas(alpha) -> tuple[torch.Tensor, bool]:
    expected = "expected a positive warp factor (or a 1-D tensor of them)"
    if isinstance(alpha, torch.Tensor):
        check_tensor("alpha", alpha)
    if isinstance(alpha, (bool, str, bytes)) or alpha is None or isinstance(alpha, complex) or (
            isinstance(alpha, torch.Tensor) and (alpha.is_complex() or alpha.dtype == torch.bool)):
        raise ParameterError(f"alpha={alpha!r} is invalid: {expected}")
    try:
        a = torch.as_tensor(alpha, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        raise ParameterError(f"alpha={alpha!r} is invalid: {expected}") from None
    if a.ndim > 1 or not bool(torch.isfinite(a).all()) or bool((a <= 0).any()):
        raise ParameterError(f"alpha={alpha!r} is invalid: expected a positive warp factor (or a 1-D tensor of them)")
    return a.reshape(-1), a.ndim == 0


def vtlp_warp(frequencies_hz: torch.Tensor, *, alpha, sample_rate: float, f_hi_hz: float | None = None) -> torch.Tensor:
    """The VTLP warp (module formula) of ``frequencies_hz`` (any shape, Hz, in [0, S/2]).

    ``alpha`` is a number (result: the input's shape) or a 1-D tensor (result: (len(alpha), *shape)).
    """
    sr = check_sample_rate(sample_rate)
    nyq = sr / 2
    f_hi = 0.8 * nyq if f_hi_hz is None else check_positive_float("f_hi_hz", f_hi_hz, what="Hz")
    if f_hi >= nyq:
        raise ParameterError(f"f_hi_hz={f_hi_hz} is invalid: expected a boundary below Nyquist ({nyq:g} Hz)")
    a, scalar = _alphas(alpha)
    if isinstance(frequencies_hz, torch.Tensor) and (check_tensor("frequencies_hz", frequencies_hz).is_complex()):
        raise ParameterError(f"frequencies_hz has dtype {frequencies_hz.dtype}: expected real frequencies in Hz")
    f = torch.as_tensor(frequencies_hz, dtype=torch.float64)
    a_ = a.reshape(-1, *([1] * f.ndim))
    f0 = f_hi * torch.clamp(a_, max=1.0) / a_
    # f0 <= f_hi < nyq for every α > 0, so the upper piece is always well defined
    low = a_ * f
    high = nyq - (nyq - f_hi * torch.clamp(a_, max=1.0)) / (nyq - f0) * (nyq - f)
    out = torch.where(f <= f0, low, high)
    return out[0] if scalar else out


def vtlp_mel_filterbank(
    *,
    alpha,
    sample_rate: float,
    n_fft: int,
    n_mels: int = 128,
    f_min_hz: float = 0.0,
    f_max_hz: float | None = None,
    mel_scale: str = "slaney",
    norm: str | None = "slaney",
    f_hi_hz: float | None = None,
    oversample: int = 8,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The mel filter bank read on the VTLP-warped frequency axis (module formula).

    Args:
        alpha: warp factor (> 0; ~[0.9, 1.1] in practice), or a 1-D tensor of them (one per item).
        sample_rate, n_fft, n_mels, f_min_hz, f_max_hz, mel_scale, norm: as
            :func:`~polysense.signal.filterbanks.mel_filterbank`.
        f_hi_hz: the warp's boundary (default 0.8 × Nyquist).
        oversample: the fine grid is ``oversample · n_fft`` points (bins ``oversample`` times denser).

    Returns:
        (n_mels, n_fft//2+1) for a scalar alpha, (len(alpha), n_mels, n_fft//2+1) otherwise.
        Equals ``mel_filterbank(...)`` at ``alpha = 1`` (exactly: same grid points).
    """
    n_fft = check_positive_int("n_fft", n_fft, minimum=2)
    oversample = check_positive_int("oversample", oversample)
    check_size(f"n_fft={n_fft} x oversample", n_fft * oversample, limit="max_fft", what="points of the fine grid")
    dtype = check_dtype("dtype", dtype)
    device = check_device(device)
    a, scalar = _alphas(alpha)
    fine = mel_filterbank(sample_rate=sample_rate, n_fft=n_fft * oversample, n_mels=n_mels, f_min_hz=f_min_hz,
                          f_max_hz=f_max_hz, mel_scale=mel_scale, norm=norm, dtype=torch.float64)
    f_k = fft_frequencies(n_fft=n_fft, sample_rate=sample_rate)
    warped = vtlp_warp(f_k, alpha=a, sample_rate=sample_rate, f_hi_hz=f_hi_hz)  # (A, bins)
    position = (warped * (n_fft * oversample) / float(sample_rate)).clamp(0, fine.shape[-1] - 1)
    i0 = position.floor().long().clamp_max(fine.shape[-1] - 2)
    frac = position - i0
    left = fine[:, i0]  # (n_mels, A, bins)
    right = fine[:, i0 + 1]
    bank = (left * (1 - frac) + right * frac).transpose(0, 1)  # (A, n_mels, bins)
    bank = bank.to(device=device, dtype=dtype)
    return bank[0] if scalar else bank


def speed_perturb(x: torch.Tensor, *, factor: float, sample_rate: float, quality: str = "HQ") -> torch.Tensor:
    """Play ``x`` (..., T) ``factor`` times faster: resample from ``factor · sample_rate`` to ``sample_rate``.

    Output length ``T / factor`` to within a sample (soxr's); frequencies × ``factor``. ``factor = 1`` returns a copy.
    """
    factor = check_positive_float("factor", factor, what="speed factor")
    sr = check_sample_rate(sample_rate)
    lim = limits.current()
    if not (1 / MAX_RATIO <= factor <= MAX_RATIO and lim.min_sample_rate <= sr * factor <= lim.max_sample_rate):
        raise ParameterError(
            f"factor={factor:g} is out of range at sample_rate={sr:g} Hz: the resampling ratio must be at most "
            f"{MAX_RATIO:,} either way and factor·sample_rate a sample rate in [{lim.min_sample_rate:g}, "
            f"{lim.max_sample_rate:g}] Hz")
    return resample(x, orig_sample_rate=sr * factor, new_sample_rate=sr, quality=quality)


def time_stretch(x: torch.Tensor, *, rate: float, n_fft: int = 512, hop_length: int | None = None) -> torch.Tensor:
    """Phase-vocoder time stretch: ``rate > 1`` is faster (length ≈ T / rate), pitch unchanged.

    The STFT (Hann window, centred) is read at fractional frames ``t = 0, rate, 2·rate, …``:
    magnitudes interpolated linearly between neighbouring frames, phases accumulated from the
    measured phase advance of each bin (its expected advance ``2π k H / N`` plus the wrapped
    deviation), then the inverse STFT with the same hop. Output length ``round(T / rate)``.
    """
    x = check_signal("x", x)
    rate = check_positive_float("rate", rate, what="stretch rate")
    n_fft = check_positive_int("n_fft", n_fft, minimum=2)
    hop = n_fft // 4 if hop_length is None else check_positive_int("hop_length", hop_length)
    # the output length T / rate, bounded before the frame grid (frames / rate points) is built
    check_size(f"the length of x stretched at rate={rate:g}", max(1, math.ceil(x.shape[-1] / rate)),
               limit="max_samples", bytes_each=x.element_size() * max(1, x[..., 0].numel()),
               what=f"from {x.shape[-1]} samples")
    if round(x.shape[-1] / rate) < 1:
        raise ParameterError(f"rate={rate:g} stretches the {x.shape[-1]} samples of x to none: expected a rate of "
                             f"at most {2 * x.shape[-1]}")
    X = stft(x, n_fft=n_fft, hop_length=hop, window="hann", center=True)  # (..., bins, frames)
    frames = X.shape[-1]
    steps = torch.arange(0, frames, rate, dtype=torch.float64, device=x.device)
    Xp = torch.nn.functional.pad(X, (0, 2))  # a zero frame past the end (as librosa)
    idx = steps.floor().long()
    frac = (steps - idx).to(X.real.dtype)
    mag = (1 - frac) * Xp[..., idx].abs() + frac * Xp[..., idx + 1].abs()
    advance = torch.linspace(0, math.pi * hop, X.shape[-2], dtype=X.real.dtype, device=x.device)[:, None]
    dphase = Xp[..., idx + 1].angle() - Xp[..., idx].angle() - advance
    dphase = dphase - 2 * math.pi * torch.round(dphase / (2 * math.pi))
    phase = torch.cat([X[..., :1].angle(), (advance + dphase)[..., :-1]], dim=-1).cumsum(-1)
    length = int(round(x.shape[-1] / rate))
    return istft(torch.polar(mag, phase), n_fft=n_fft, hop_length=hop, window="hann", center=True, length=length)


def pitch_shift(x: torch.Tensor, *, semitones: float, sample_rate: float, n_fft: int = 512) -> torch.Tensor:
    """Shift the pitch of ``x`` (..., T) by ``semitones`` (×2^(semitones/12)), keeping its length T.

    Time-stretch by ``rate = 2^(−semitones/12)``, then resample from ``sample_rate / rate`` to
    ``sample_rate`` (which scales every frequency by ``1/rate`` and restores the duration); the
    result is cropped or zero-padded to exactly T samples.
    """
    x = check_signal("x", x)
    sr = check_sample_rate(sample_rate)
    semitones = check_real("semitones", semitones, what="number of semitones")
    # the shift resamples by 2^(semitones/12): at most MAX_RATIO either way
    top = 12 * math.log2(MAX_RATIO)
    if abs(semitones) > top:
        raise ParameterError(f"semitones={semitones!r} is out of range: expected at most {top:g} either way "
                             f"(a rate ratio of {MAX_RATIO:,})")
    if semitones == 0:
        return x.detach().clone()
    rate = 2.0 ** (-semitones / 12)
    y = resample(time_stretch(x, rate=rate, n_fft=n_fft), orig_sample_rate=sr / rate, new_sample_rate=sr)
    T = x.shape[-1]
    return y[..., :T] if y.shape[-1] >= T else torch.nn.functional.pad(y, (0, T - y.shape[-1]))
