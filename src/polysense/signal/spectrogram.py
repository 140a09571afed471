"""Spectrograms: complex, magnitude and power; decibels; mel, log-mel and MFCC.

Units: for a signal in units u (e.g. full-scale amplitude), the magnitude spectrogram |X(m,k)|
is in u (times the window's gain Σw), the power spectrogram |X|² in u², a mel spectrogram in
u² per band (``norm="slaney"`` filters have unit area in Hz, so u²/Hz·Hz), and dB values are
``10·log10(S/ref)`` for powers, ``20·log10(A/ref)`` for amplitudes.

All spectrograms are (..., freq_or_band, frames), like librosa and ``torch.stft``. Every
function shares :func:`polysense.signal.stft._framewise`, the single framing path, so a
power or mel spectrogram is exactly the STFT of :func:`~polysense.signal.stft.stft` reduced
frame block by frame block: |X|² is taken as re² + im² of ``view_as_real`` (no complex
``abs``) and the mel projection touches only the non-zero bins of each band group
(:class:`BandedProjection`), without materialising the full spectrogram.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import torch

from polysense._checks import check_choice, check_positive_float, check_positive_int, check_sample_rate
from polysense.errors import ParameterError
from polysense.signal.conventions import FROM_CONVENTION, Convention, get_convention
from polysense.signal.filterbanks import _band_limits, dct_matrix, mel_filterbank
from polysense.signal.stft import _analysis_setup, _framewise, _setup_frames

__all__ = [
    "BandedProjection",
    "amplitude_to_db",
    "log_mel_spectrogram",
    "mel_spectrogram",
    "mfcc",
    "power_to_db",
    "spectrogram",
]


# ----------------------------------------------------------------------------- safe powers
class _SafePow(torch.autograd.Function):
    """``s ** e`` for s ≥ 0 with gradient ``e·s^{e−1}`` where s > 0 and 0 where s = 0.

    Magnitudes are ``sqrt(re² + im²)``; the plain derivative 1/(2·sqrt(0)) is inf and turns
    into NaN in the chain rule at silent bins. Here the gradient there is 0 (a subgradient).
    """

    @staticmethod
    def forward(ctx, s: torch.Tensor, exponent: float) -> torch.Tensor:
        out = s.pow(exponent)
        ctx.save_for_backward(s, out)
        ctx.exponent = exponent
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        s, out = ctx.saved_tensors
        positive = s > 0
        safe_s = torch.where(positive, s, torch.ones_like(s))
        local = torch.where(positive, ctx.exponent * out / safe_s, torch.zeros_like(s))
        return grad * local, None


def _magnitude_power(power_spec: torch.Tensor, power: float) -> torch.Tensor:
    """|X|^power from |X|² (power 2 returns it unchanged)."""
    if power == 2.0:
        return power_spec
    return _SafePow.apply(power_spec, power / 2.0)


def _check_power(power) -> float | None:
    if power is None:
        return None
    return check_positive_float("power", power, what="exponent of |X|: 1 magnitude, 2 power, None complex")


# ----------------------------------------------------------------------------- projection
class BandedProjection:
    """``S @ Wᵀ`` for a non-negative filter bank W (bands, bins) that is mostly zeros.

    Each band is non-zero on one contiguous run of bins. Consecutive bands are grouped and
    each group multiplies only its bins ``lo:hi``: ``out[:, g0:g1] = S[:, lo:hi] @ W[g0:g1, lo:hi]ᵀ``.
    The grouping minimises Σ_groups (bands·bins + overhead) by dynamic programming; with the
    128-band Slaney bank at n_fft 1024 (1.5 % non-zero) it does about 1/7 of the dense work.
    Exact: identical to the dense product up to float summation order.
    """

    #: cost of one extra matrix product, in multiply-adds per row (measured, CPU).
    GROUP_OVERHEAD = 600

    def __init__(self, bank: torch.Tensor, overhead: int | None = None):
        self.bank = bank
        self.n_bands, self.n_bins = bank.shape
        nz = (bank != 0)
        idx = torch.arange(self.n_bins)
        has = nz.any(dim=1).cpu()
        lo = torch.where(nz.cpu(), idx, self.n_bins).min(dim=1).values
        hi = torch.where(nz.cpu(), idx + 1, 0).max(dim=1).values
        lo = torch.where(has, lo, 0).tolist()
        hi = torch.where(has, hi, 0).tolist()
        self.bin_range = (min((lo[b] for b in range(self.n_bands) if has[b]), default=0),
                          max(hi, default=0))
        self.groups = self._plan(lo, hi, [bool(h) for h in has], self.GROUP_OVERHEAD if overhead is None else overhead)
        self.weights = [bank[g0:g1, a:b].t().contiguous() for g0, g1, a, b in self.groups]

    def _plan(self, lo, hi, has, overhead):
        n = self.n_bands
        best = [0.0] + [math.inf] * n
        choice = [0] * (n + 1)
        for end in range(1, n + 1):
            a, b = self.n_bins, 0
            for start in range(end - 1, -1, -1):
                if has[start]:
                    a, b = min(a, lo[start]), max(b, hi[start])
                cost = best[start] + overhead + (end - start) * max(0, b - a)
                if cost < best[end]:
                    best[end], choice[end] = cost, start
        groups, end = [], n
        while end > 0:
            start = choice[end]
            a = min((lo[i] for i in range(start, end) if has[i]), default=0)
            b = max((hi[i] for i in range(start, end) if has[i]), default=0)
            groups.append((start, end, a, max(a, b)))
            end = start
        return groups[::-1]

    def to(self, device=None, dtype=None) -> BandedProjection:
        new = object.__new__(BandedProjection)
        new.__dict__.update(self.__dict__)
        new.bank = self.bank.to(device=device, dtype=dtype)
        new.weights = [w.to(device=device, dtype=dtype) for w in self.weights]
        return new

    def __call__(self, spec: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """(rows, bins) → (rows, bands); writes into ``out`` (rows, bands) when given."""
        if out is None:
            parts = [spec[:, a:b] @ w for (g0, g1, a, b), w in zip(self.groups, self.weights)]
            return torch.cat(parts, dim=1)
        for (g0, g1, a, b), w in zip(self.groups, self.weights):
            torch.mm(spec[:, a:b], w, out=out[:, g0:g1])
        return out


@lru_cache(maxsize=32)
def _cached_mel_projection(sample_rate, n_fft, n_mels, f_min_hz, f_max_hz, mel_scale, norm, dtype, device):
    bank = mel_filterbank(
        sample_rate=sample_rate, n_fft=n_fft, n_mels=n_mels, f_min_hz=f_min_hz, f_max_hz=f_max_hz,
        mel_scale=mel_scale, norm=norm, dtype=dtype, device=device,
    )
    return BandedProjection(bank)


# ----------------------------------------------------------------------------- reducers
def _power_reducer(power: float, projection: BandedProjection | None, n_bins: int):
    """reducer(X, out=None) for _framewise: |X|^power, then the projection if any."""
    lo, hi = projection.bin_range if projection is not None else (0, n_bins)

    def reduce(spec: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        ri = torch.view_as_real(spec[:, lo:hi] if (lo, hi) != (0, n_bins) else spec)
        re, im = ri[..., 0], ri[..., 1]
        if out is None:  # differentiable path
            p = _magnitude_power(re * re + im * im, power)
            if projection is None:
                return p
            if (lo, hi) != (0, n_bins):
                p = torch.nn.functional.pad(p, (lo, n_bins - hi))
            return projection(p)
        target = out if projection is None else torch.empty(re.shape, dtype=re.dtype, device=re.device)
        torch.mul(re, re, out=target)
        target.addcmul_(im, im)
        if power == 1.0:
            target.sqrt_()
        elif power != 2.0:
            target.pow_(power / 2.0)
        if projection is not None:
            if (lo, hi) != (0, n_bins):
                target = torch.nn.functional.pad(target, (lo, n_bins - hi))
            projection(target, out=out)
        return out

    return reduce


def _spectral(x, *, n_fft, hop_length, win_length, window, center, pad_mode, periodic, convention, power,
              projection_factory=None):
    """Shared body: validate, frame once, reduce to |X|^power (or its projection). (..., width, frames)."""
    conv, x, n_fft, hop, win_length, w, center, pad_mode = _analysis_setup(
        x, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
        center=center, pad_mode=pad_mode, periodic=periodic, convention=convention,
    )
    frame_window, left, right, phase = _setup_frames(conv, x.shape[-1], n_fft, hop, w, center)
    n_bins = n_fft // 2 + 1
    projection = projection_factory(n_fft, x.dtype, x.device) if projection_factory else None
    if power is None:
        ctype = torch.complex128 if x.dtype == torch.float64 else torch.complex64
        reducer, width, out_dtype = None, n_bins, ctype
    else:
        reducer = _power_reducer(power, projection, n_bins)
        width = projection.n_bands if projection is not None else n_bins
        out_dtype = x.dtype
    out = _framewise(
        x, n_fft=n_fft, hop_length=hop, window=frame_window, left_pad=left, right_pad=right,
        pad_mode=pad_mode, reducer=reducer, width=width, out_dtype=out_dtype, phase=phase,
    )
    return out.transpose(-1, -2)


# ----------------------------------------------------------------------------- public API
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
    power = _check_power(power)
    return _spectral(
        x, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window, center=center,
        pad_mode=pad_mode, periodic=periodic, convention=convention, power=power,
    )


def _check_db_args(amin, top_db, scope):
    amin = check_positive_float("amin", amin, what="floor below which values are clipped before the log")
    if top_db is not None:
        top_db = check_positive_float("top_db", top_db, allow_zero=True, what="dB below the maximum to keep, or None")
    check_choice("top_db_scope", scope, ("global", "spectrogram"))
    return amin, top_db


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
    if not isinstance(S, torch.Tensor) or not S.is_floating_point():
        raise ParameterError(f"S must be a real floating-point tensor of powers, got {getattr(S, 'dtype', type(S))}")
    amin, top_db = _check_db_args(amin, top_db, top_db_scope)
    if not bool(torch.isfinite(S).all()):
        raise ParameterError("S contains NaN or Inf values: expected finite powers")
    if S.numel() == 0:
        raise ParameterError(f"S has shape {tuple(S.shape)}: expected a non-empty spectrogram")
    ref_value = ref(S) if callable(ref) else ref
    if isinstance(ref_value, torch.Tensor):
        ref_db = 10.0 * torch.log10(torch.clamp(ref_value.to(S.dtype), min=amin))
    else:
        ref_value = check_positive_float("ref", ref_value, what="reference power for 0 dB")
        ref_db = 10.0 * math.log10(max(amin, ref_value))
    db = 10.0 * torch.log10(torch.clamp(S, min=amin)) - ref_db
    if top_db is not None:
        if top_db_scope == "global" or db.ndim < 2:
            peak = db.max()
        else:
            peak = db.amax(dim=(-2, -1), keepdim=True)
        db = torch.maximum(db, peak - top_db)
    return db


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
    if not isinstance(S, torch.Tensor) or not (S.is_floating_point() or S.is_complex()):
        raise ParameterError(f"S must be a floating-point tensor of amplitudes, got {getattr(S, 'dtype', type(S))}")
    amin = check_positive_float("amin", amin, what="amplitude floor")
    if S.is_complex():
        ri = torch.view_as_real(S)
        power = ri[..., 0] ** 2 + ri[..., 1] ** 2
        magnitude = None
    else:
        power = S * S
        magnitude = S.abs()
    if callable(ref):
        mag = magnitude if magnitude is not None else _SafePow.apply(power, 0.5)
        ref_value = ref(mag)
        ref_power = ref_value**2 if isinstance(ref_value, torch.Tensor) else float(ref_value) ** 2
    else:
        ref_power = check_positive_float("ref", ref, what="reference amplitude for 0 dB") ** 2
    return power_to_db(power, ref=ref_power, amin=amin * amin, top_db=top_db, top_db_scope=top_db_scope)


def _mel_factory(sample_rate, n_mels, f_min_hz, f_max_hz, mel_scale, norm):
    def factory(n_fft, dtype, device):
        return _cached_mel_projection(sample_rate, n_fft, n_mels, float(f_min_hz), f_max_hz, mel_scale, norm, dtype,
                                      torch.device(device))

    return factory


def _mel_args(conv: Convention, sample_rate, n_mels, f_min_hz, f_max_hz, mel_scale, norm):
    sample_rate = check_sample_rate(sample_rate)
    n_mels = check_positive_int("n_mels", n_mels, what="number of mel bands")
    mel_scale = conv.mel_scale if mel_scale is None else mel_scale
    norm = conv.mel_norm if norm is FROM_CONVENTION else norm
    check_choice("mel_scale", mel_scale, ("slaney", "htk"))
    check_choice("norm", norm, ("slaney", None))
    if f_max_hz is not None:
        f_max_hz = float(f_max_hz)
    _band_limits(sample_rate, 2, f_min_hz, f_max_hz)  # f_min/f_max checks (Nyquist), before any work
    return sample_rate, n_mels, mel_scale, norm, f_max_hz


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
    conv = get_convention(convention)
    power = _check_power(power)
    if power is None:
        raise ParameterError("power=None is invalid for a mel spectrogram: expected 1 (magnitude) or 2 (power)")
    sample_rate, n_mels, mel_scale, norm, f_max_hz = _mel_args(conv, sample_rate, n_mels, f_min_hz, f_max_hz,
                                                              mel_scale, norm)
    return _spectral(
        x, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window, center=center,
        pad_mode=pad_mode, periodic=periodic, convention=conv, power=power,
        projection_factory=_mel_factory(sample_rate, n_mels, f_min_hz, f_max_hz, mel_scale, norm),
    )


def _db_defaults(conv: Convention, amin, top_db, top_db_scope):
    amin = conv.amin if amin is None else amin
    top_db = conv.top_db if top_db is FROM_CONVENTION else top_db
    top_db_scope = conv.top_db_scope if top_db_scope is None else top_db_scope
    return amin, top_db, top_db_scope


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
    conv = get_convention(convention)
    amin, top_db, top_db_scope = _db_defaults(conv, amin, top_db, top_db_scope)
    _check_db_args(amin, top_db, top_db_scope)
    mel = mel_spectrogram(x, sample_rate=sample_rate, convention=conv, **mel_kwargs)
    return power_to_db(mel, ref=ref, amin=amin, top_db=top_db, top_db_scope=top_db_scope)


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
    lifter = float(lifter)
    if not math.isfinite(lifter) or lifter < 0:
        raise ParameterError(f"lifter={lifter!r} is invalid: expected a number >= 0 (0 disables liftering)")
    log_mel = log_mel_spectrogram(
        x, sample_rate=sample_rate, ref=ref, amin=amin, top_db=top_db, top_db_scope=top_db_scope,
        convention=conv, **mel_kwargs,
    )
    n_mels = log_mel.shape[-2]
    d = dct_matrix(n_mfcc, n_mels, dct_norm, dtype=log_mel.dtype, device=log_mel.device)
    coeffs = torch.matmul(d, log_mel)
    if lifter > 0:
        n = torch.arange(1, n_mfcc + 1, dtype=log_mel.dtype, device=log_mel.device)
        coeffs = coeffs * (1.0 + (lifter / 2.0) * torch.sin(math.pi * n / lifter)).unsqueeze(-1)
    return coeffs
