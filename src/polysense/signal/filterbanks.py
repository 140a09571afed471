"""Frequency filter banks: mel (HTK and Slaney), linear and logarithmic; the DCT-II for MFCCs.

Every bank is a matrix ``W`` of shape (n_bands, n_fft//2 + 1) of triangular filters over the
one-sided FFT bins f_k = k·sr/n_fft (Hz), so a spectrogram S (..., bins, frames) becomes
``W @ S`` (..., n_bands, frames). Filter b rises linearly from edge e_b to its peak at e_{b+1}
and falls to zero at e_{b+2} (edges in Hz)::

    W[b, k] = max(0, min((f_k − e_b)/(e_{b+1} − e_b), (e_{b+2} − f_k)/(e_{b+2} − e_{b+1})))

``norm=None`` leaves the peaks at 1; ``norm="slaney"`` scales filter b by 2/(e_{b+2} − e_b) so
every filter has unit area in Hz (constant energy per band), as librosa's default.
The mel bank's edges are n_bands+2 points equally spaced on the mel scale: identical to
``librosa.filters.mel`` (same formula; agreement ~1e-15 absolute in float64, tested at 1e-10).
"""

from __future__ import annotations

import math
import numbers
import warnings

import torch

from polysense._checks import (
    check_choice,
    check_device,
    check_dtype,
    check_matrix_size,
    check_positive_float,
    check_positive_int,
    check_real,
    check_sample_rate,
    check_size,
    check_tensor,
)
from polysense.errors import ParameterError
from polysense.signal.dft import fft_frequencies
from polysense.signal.sampling import check_band

__all__ = [
    "dct_matrix",
    "hz_to_mel",
    "linear_filterbank",
    "log_filterbank",
    "mel_filterbank",
    "mel_frequencies",
    "mel_to_hz",
]

# Slaney's (Auditory Toolbox) mel scale: linear below 1 kHz, logarithmic above.
_F_SP = 200.0 / 3.0  # Hz per mel in the linear part
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP  # = 15 mel
_LOGSTEP = math.log(6.4) / 27.0  # mel step of the log part: 27 mels per factor 6.4


def _as_tensor(f, name: str) -> tuple[torch.Tensor, bool]:
    """Frequencies (Hz or mel) as a real float tensor, and whether they came as one."""
    if isinstance(f, torch.Tensor):
        check_tensor(name, f)
        if f.is_complex() or f.dtype == torch.bool:
            raise ParameterError(f"{name} has dtype {f.dtype}: expected real numbers")
        return f.to(torch.promote_types(f.dtype, torch.float32)), True
    if isinstance(f, (bool, str, bytes)) or f is None:
        raise ParameterError(f"{name}={f!r} is invalid: expected a real number, a sequence of them or a tensor")
    if isinstance(f, numbers.Number):
        return torch.tensor(check_real(name, f), dtype=torch.float64), False
    try:
        return torch.as_tensor(f, dtype=torch.float64), False
    except (TypeError, ValueError, RuntimeError):
        raise ParameterError(f"{name}={f!r} is invalid: expected real numbers, a sequence of them or a tensor") from None


def _out(t: torch.Tensor, was_tensor: bool):
    return t if was_tensor or t.ndim else float(t)


def hz_to_mel(frequencies, htk: bool = False):
    """Frequency in Hz → mel.

    HTK: ``m = 2595·log10(1 + f/700)``. Slaney (default, librosa's): ``m = f / (200/3)`` below
    1 kHz and ``m = 15 + ln(f/1000) / (ln 6.4 / 27)`` above. Accepts a float (returns a float)
    or a tensor (returns a tensor of the same shape).
    """
    f, was_tensor = _as_tensor(frequencies, "frequencies")
    if htk:
        return _out(2595.0 * torch.log10(1.0 + f / 700.0), was_tensor)
    linear = f / _F_SP
    log_part = _MIN_LOG_MEL + torch.log(torch.clamp(f, min=_MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP
    return _out(torch.where(f >= _MIN_LOG_HZ, log_part, linear), was_tensor)


def mel_to_hz(mels, htk: bool = False):
    """Mel → frequency in Hz, the inverse of :func:`hz_to_mel`.

    HTK: ``f = 700·(10^{m/2595} − 1)``. Slaney: ``f = (200/3)·m`` below 15 mel and
    ``f = 1000·exp((ln 6.4/27)·(m − 15))`` above.
    """
    m, was_tensor = _as_tensor(mels, "mels")
    if htk:
        return _out(700.0 * (10.0 ** (m / 2595.0) - 1.0), was_tensor)
    linear = _F_SP * m
    log_part = _MIN_LOG_HZ * torch.exp(_LOGSTEP * (torch.clamp(m, min=_MIN_LOG_MEL) - _MIN_LOG_MEL))
    return _out(torch.where(m >= _MIN_LOG_MEL, log_part, linear), was_tensor)


def mel_frequencies(
    n_mels: int = 128, *, f_min_hz: float = 0.0, f_max_hz: float = 11025.0, htk: bool = False,
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """``n_mels`` frequencies (Hz) equally spaced on the mel scale from f_min_hz to f_max_hz."""
    n_mels = check_size("n_mels", n_mels, limit="max_fft", what="number of mel frequencies")
    dtype = check_dtype("dtype", dtype)
    f_min_hz = check_positive_float("f_min_hz", f_min_hz, allow_zero=True, what="lowest frequency in Hz")
    f_max_hz = check_positive_float("f_max_hz", f_max_hz, allow_zero=True, what="highest frequency in Hz")
    lo, hi = hz_to_mel(f_min_hz, htk=htk), hz_to_mel(f_max_hz, htk=htk)
    return mel_to_hz(torch.linspace(lo, hi, n_mels, dtype=torch.float64), htk=htk).to(dtype)


def _band_limits(sample_rate, n_fft, f_min_hz, f_max_hz) -> tuple[float, int, float, float]:
    sr = check_sample_rate(sample_rate)
    n_fft = check_size("n_fft", n_fft, minimum=2, limit="max_fft", what="FFT size in samples")
    f_min = check_positive_float("f_min_hz", f_min_hz, allow_zero=True, what="lowest frequency in Hz")
    f_max = check_band(f_max_hz, sr, name="f_max_hz")
    if f_min >= f_max:
        top = f"f_max_hz={f_max:g} Hz" if f_max_hz is not None else \
            f"the Nyquist frequency {f_max:g} Hz of sample_rate={sr:g} (f_max_hz not given)"
        raise ParameterError(f"f_min_hz={f_min:g} is invalid: expected f_min_hz < {top}")
    return sr, n_fft, f_min, f_max


def _triangles(edges_hz: torch.Tensor, fft_hz: torch.Tensor, norm: str | None, what: str) -> torch.Tensor:
    """The triangular bank for edge frequencies e_0 … e_{B+1} (float64, (B, bins))."""
    fdiff = edges_hz[1:] - edges_hz[:-1]
    ramps = edges_hz[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = torch.clamp(torch.minimum(lower, upper), min=0.0)
    if norm == "slaney":
        weights = weights * (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]
    empty = (weights.max(dim=1).values == 0).nonzero().flatten()
    if empty.numel():
        warnings.warn(
            f"{empty.numel()} empty {what} filter(s) (first: band {int(empty[0])}): the bands are narrower than "
            "the FFT bin spacing; use fewer bands or a larger n_fft",
            UserWarning,
            stacklevel=3,
        )
    return weights


def mel_filterbank(
    *,
    sample_rate: float,
    n_fft: int,
    n_mels: int = 128,
    f_min_hz: float = 0.0,
    f_max_hz: float | None = None,
    mel_scale: str = "slaney",
    norm: str | None = "slaney",
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Mel filter bank W (n_mels, n_fft//2+1): triangles on n_mels+2 mel-spaced edges (module formula).

    Args:
        sample_rate: Hz. n_fft: FFT size (samples). n_mels: number of bands.
        f_min_hz, f_max_hz: band limits in Hz (f_max default sr/2; above Nyquist is an error).
        mel_scale: "slaney" (librosa's default) or "htk" (torchaudio's default).
        norm: "slaney" (unit area per filter, in 1/Hz) or None (peak 1).
        dtype, device: of the result (computed in float64, then cast).

    Equals ``librosa.filters.mel(sr=, n_fft=, n_mels=, fmin=, fmax=, htk=mel_scale=="htk",
    norm=norm, dtype=float64)`` to 1e-10 (measured ~1e-16).
    """
    sr, n_fft, f_min, f_max = _band_limits(sample_rate, n_fft, f_min_hz, f_max_hz)
    n_mels = check_size("n_mels", n_mels, limit="max_fft", what="number of mel bands")
    check_matrix_size("n_mels", n_mels, n_fft // 2 + 1, what="a mel filter bank")
    dtype = check_dtype("dtype", dtype)
    device = check_device(device)
    check_choice("mel_scale", mel_scale, ("slaney", "htk"))
    check_choice("norm", norm, ("slaney", None))
    edges = mel_frequencies(n_mels + 2, f_min_hz=f_min, f_max_hz=f_max, htk=mel_scale == "htk")
    bank = _triangles(edges, fft_frequencies(n_fft=n_fft, sample_rate=sr), norm, "mel")
    return bank.to(device=device, dtype=dtype)


def linear_filterbank(
    *,
    sample_rate: float,
    n_fft: int,
    n_bands: int = 64,
    f_min_hz: float = 0.0,
    f_max_hz: float | None = None,
    norm: str | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Triangular bank (n_bands, n_fft//2+1) with edges equally spaced in Hz from f_min_hz to f_max_hz.

    Edge spacing (f_max − f_min)/(n_bands + 1) Hz; ``norm`` as :func:`mel_filterbank`.
    """
    sr, n_fft, f_min, f_max = _band_limits(sample_rate, n_fft, f_min_hz, f_max_hz)
    n_bands = check_size("n_bands", n_bands, limit="max_fft", what="number of bands")
    check_matrix_size("n_bands", n_bands, n_fft // 2 + 1, what="a filter bank")
    dtype = check_dtype("dtype", dtype)
    device = check_device(device)
    check_choice("norm", norm, ("slaney", None))
    edges = torch.linspace(f_min, f_max, n_bands + 2, dtype=torch.float64)
    bank = _triangles(edges, fft_frequencies(n_fft=n_fft, sample_rate=sr), norm, "linear")
    return bank.to(device=device, dtype=dtype)


def log_filterbank(
    *,
    sample_rate: float,
    n_fft: int,
    n_bands: int = 48,
    f_min_hz: float = 55.0,
    f_max_hz: float | None = None,
    norm: str | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Triangular bank (n_bands, n_fft//2+1) with edges equally spaced in log-frequency.

    Edges e_j = f_min·(f_max/f_min)^{j/(n_bands+1)} Hz (a constant ratio, i.e. a constant
    number of bands per octave: (n_bands+1)/log2(f_max/f_min)); needs f_min_hz > 0.
    Low bands narrower than the bin spacing sr/n_fft come out empty (a warning says so).
    """
    sr, n_fft, f_min, f_max = _band_limits(sample_rate, n_fft, f_min_hz, f_max_hz)
    check_positive_float("f_min_hz", f_min, what="lowest edge in Hz; a log scale needs > 0")
    n_bands = check_size("n_bands", n_bands, limit="max_fft", what="number of bands")
    check_matrix_size("n_bands", n_bands, n_fft // 2 + 1, what="a filter bank")
    dtype = check_dtype("dtype", dtype)
    device = check_device(device)
    check_choice("norm", norm, ("slaney", None))
    j = torch.arange(n_bands + 2, dtype=torch.float64) / (n_bands + 1)
    edges = f_min * (f_max / f_min) ** j
    bank = _triangles(edges, fft_frequencies(n_fft=n_fft, sample_rate=sr), norm, "log")
    return bank.to(device=device, dtype=dtype)


def dct_matrix(
    n_mfcc: int, n_mels: int, norm: str | None = "ortho", *, dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """DCT-II matrix D (n_mfcc, n_mels): ``c = D @ x`` along the mel axis.

    ``D[k, n] = s_k · cos(π·k·(2n + 1) / (2N))``, N = n_mels; ``norm="ortho"``:
    s_0 = √(1/N), s_k = √(2/N) (an orthonormal matrix when n_mfcc = N); ``norm=None``:
    s_k = 2 (scipy's unnormalised DCT-II). Rows equal ``scipy.fft.dct(eye(N), norm=norm, axis=0)[:n_mfcc]``.
    """
    n_mels = check_size("n_mels", n_mels, limit="max_fft", what="number of mel bands")
    n_mfcc = check_positive_int("n_mfcc", n_mfcc, what="number of coefficients")
    check_matrix_size("n_mels", n_mels, min(n_mfcc, n_mels), what="a DCT matrix")
    dtype = check_dtype("dtype", dtype)
    device = check_device(device)
    if n_mfcc > n_mels:
        raise ParameterError(f"n_mfcc={n_mfcc} is invalid: expected 1 <= n_mfcc <= n_mels={n_mels}")
    check_choice("norm", norm, ("ortho", None))
    k = torch.arange(n_mfcc, dtype=torch.float64)[:, None]
    n = torch.arange(n_mels, dtype=torch.float64)[None, :]
    d = torch.cos(math.pi * k * (2.0 * n + 1.0) / (2.0 * n_mels))
    if norm == "ortho":
        d = d * math.sqrt(2.0 / n_mels)
        d[0] /= math.sqrt(2.0)
    else:
        d = 2.0 * d
    return d.to(device=device, dtype=dtype)
