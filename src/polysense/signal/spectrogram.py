"""Spectrograms: complex, magnitude and power; decibels; mel, log-mel and MFCC.

Units: for a signal in units u (e.g. full-scale amplitude), the magnitude spectrogram |X(m,k)|
is in u (times the window's gain Σw), the power spectrogram |X|² in u², a mel spectrogram in
u² per band (``norm="slaney"`` filters have unit area in Hz, so u²/Hz·Hz), and dB values are
``10·log10(S/ref)`` for powers, ``20·log10(A/ref)`` for amplitudes.

All spectrograms are (..., freq_or_band, frames), like librosa and ``torch.stft``. Every
function shares :func:`polysense.signal.stft._framewise`, the single framing path, so a
power or mel spectrogram is exactly the STFT of :func:`~polysense.signal.stft.stft` reduced
frame block by frame block: |X|² is taken as re² + im² of ``view_as_real`` (no complex
``abs``), the mel projection uses the filter bank's sparsity (:class:`SparseProjection`) and
the log is taken on each block while it is in cache, without materialising the full
spectrogram.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from functools import lru_cache

import torch

from polysense._checks import (
    check_choice,
    check_lifter,
    check_positive_float,
    check_positive_int,
    check_representable,
    check_sample_rate,
    check_signal,
    check_size,
    power_headroom,
)
from polysense.errors import ParameterError
from polysense.signal.conventions import FROM_CONVENTION, Convention, get_convention
from polysense.signal.filterbanks import _band_limits, dct_matrix, mel_filterbank
from polysense.signal.stft import _analysis_setup, _framewise, _needs_grad, _setup_frames

__all__ = [
    "SparseProjection",
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
class SparseProjection:
    """``W @ S`` for a filter bank W (bands, bins) that is mostly zeros, S (..., bins, frames).

    Mel banks are sparse (the 128-band Slaney bank at n_fft 1024 is 1.5 % non-zero, at most 24
    bins per band). On the CPU without autograd the product uses W in CSR form (MKL's sparse
    × dense kernel), about 12× less work than the dense product and, for a (bins, frames)
    block stored frame-contiguous, 4× faster than a banded product of dense slices
    (measured: 25 µs vs 100-160 µs banded vs 300 µs dense for 256 frames, 128 bands, 1 thread).
    With autograd, on accelerators, or for batched (3-D) input it is the dense
    ``torch.matmul`` (cuBLAS is faster than cuSPARSE at these sizes). Both give the same
    values up to float summation order.
    """

    def __init__(self, bank: torch.Tensor):
        self.bank = bank
        self.n_bands, self.n_bins = bank.shape
        self.csr = None
        if bank.device.type == "cpu":
            with warnings.catch_warnings():  # "sparse CSR support is in beta": the product is stable
                warnings.simplefilter("ignore", UserWarning)
                self.csr = bank.to_sparse_csr()

    def __call__(self, spec: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """(..., bins, frames) → (..., bands, frames); ``out`` (bands, frames) only for the CSR product."""
        if self.csr is not None and spec.ndim == 2 and spec.device.type == "cpu" and not _needs_grad(spec):
            return torch.mm(self.csr, spec, out=out) if out is not None else self.csr @ spec
        return torch.matmul(self.bank.to(spec.device), spec)


@lru_cache(maxsize=32)
def _cached_mel_projection(sample_rate, n_fft, n_mels, f_min_hz, f_max_hz, mel_scale, norm, dtype, device):
    bank = mel_filterbank(
        sample_rate=sample_rate, n_fft=n_fft, n_mels=n_mels, f_min_hz=f_min_hz, f_max_hz=f_max_hz,
        mel_scale=mel_scale, norm=norm, dtype=dtype, device=device,
    )
    return SparseProjection(bank)


# ----------------------------------------------------------------------------- dB
def _to_db(S: torch.Tensor, amin: float, ref_db, inplace: bool = False) -> torch.Tensor:
    """``10·log10(max(S, amin)) − ref_db`` (dB); in place on S when ``inplace``."""
    if inplace:
        S = S.clamp_min_(amin).log10_().mul_(10.0)
        return S.sub_(ref_db) if ref_db else S
    return 10.0 * torch.log10(torch.clamp(S, min=amin)) - ref_db


def _clip_top_db(db: torch.Tensor, top_db: float | None, scope: str, inplace: bool = False) -> torch.Tensor:
    """``max(db, peak − top_db)`` with the peak over everything or per (freq, frames) matrix."""
    if top_db is None:
        return db
    if scope == "global" or db.ndim < 2:
        peak = db.max()
    else:
        peak = db.amax(dim=(-2, -1), keepdim=True)
    floor = peak - top_db
    if inplace:
        return torch.maximum(db, floor, out=db)
    return torch.maximum(db, floor)


# ----------------------------------------------------------------------------- reducers
def _power_reducer(power: float, projection: SparseProjection | None, db: tuple[float, float] | None):
    """reducer(spec, workspace, dest) for _framewise: |X|^power, then the projection, then dB if asked.

    With a workspace (CPU, no autograd) spec is an (items, frames, bins) block it may
    overwrite and dest the (items, width, frames) slice of the output to fill. |X|² is
    re² + im² of ``view_as_real`` (complex ``abs()`` costs more than the FFT): the squares are
    taken in place on the contiguous interleaved buffer and the pair sum is written
    frame-contiguous, (bins, frames): without a projection straight into dest (no temporary),
    otherwise into a workspace buffer, the layout the sparse product reads fastest, whose
    (bands, frames) result (in the workspace, dB taken in place) is then copied to dest.
    Without a workspace, the same formula out of place, returned.
    """

    def reduce(spec: torch.Tensor, workspace, dest: torch.Tensor | None) -> torch.Tensor | None:
        ri = torch.view_as_real(spec)
        if workspace is None:
            re, im = ri[..., 0], ri[..., 1]
            p = _magnitude_power(re * re + im * im, power).transpose(-1, -2)
            if projection is not None:
                p = projection(p)
            return _to_db(p, db[0], db[1]) if db is not None else p
        ri.mul_(ri)
        items, frames, bins = spec.shape
        if projection is None:
            p = dest  # (items, bins, frames)
        else:  # (bins, items·frames): the sparse product's operand
            p = workspace.get("power", (bins, items, frames), ri.dtype).transpose(0, 1)
        torch.add(ri[..., 0], ri[..., 1], out=p.transpose(-1, -2))
        if power == 1.0:
            p.sqrt_()
        elif power != 2.0:
            p.pow_(power / 2.0)
        if projection is None:
            if db is not None:
                _to_db(p, db[0], db[1], inplace=True)
            return None
        bands = workspace.get("bands", (projection.n_bands, items * frames), p.dtype)
        bands = projection(p.transpose(0, 1).reshape(bins, items * frames), out=bands)
        if db is not None:
            _to_db(bands, db[0], db[1], inplace=True)
        dest.copy_(bands.view(-1, items, frames).transpose(0, 1))
        return None

    return reduce


def _spectral(x, *, n_fft, hop_length, win_length, window, center, pad_mode, periodic, convention, power,
              projection_factory=None, db=None):
    """Shared body: validate, frame once, reduce. (..., width, frames), complex for power=None.

    ``db=(amin, ref_db)`` converts each value to dB on the fly (no top_db).
    """
    conv, x, n_fft, hop, win_length, w, center, pad_mode = _analysis_setup(
        x, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
        center=center, pad_mode=pad_mode, periodic=periodic, convention=convention,
    )
    if power is not None and power > 2:  # |X|^p overflows sooner than the power spectrum checked above
        check_signal("x", x, max_abs=power_headroom(x.dtype, n_fft, power))
    frame_window, left, right, phase = _setup_frames(conv, x.shape[-1], n_fft, hop, w, center)
    n_bins = n_fft // 2 + 1
    projection = projection_factory(n_fft, x.dtype, x.device) if projection_factory else None
    if power is None:
        ctype = torch.complex128 if x.dtype == torch.float64 else torch.complex64
        reducer, width, out_dtype = None, n_bins, ctype
    else:
        reducer = _power_reducer(power, projection, db)
        width = projection.n_bands if projection is not None else n_bins
        out_dtype = x.dtype
    return _framewise(
        x, n_fft=n_fft, hop_length=hop, window=frame_window, left_pad=left, right_pad=right,
        pad_mode=pad_mode, reducer=reducer, width=width, out_dtype=out_dtype, phase=phase,
    )


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
    S = check_signal("S", S)  # real float32/float64, non-empty, finite
    amin, top_db = _check_db_args(amin, top_db, top_db_scope)
    check_representable("amin", amin, S.dtype)
    return _clip_top_db(_to_db(S, amin, _ref_db(ref, S, amin)), top_db, top_db_scope)


def _ref_db(ref, S: torch.Tensor | None, amin: float):
    """10·log10(max(ref, amin)): a float for a numeric ref, a tensor for a callable one."""
    ref_value = ref(S) if callable(ref) else ref
    if isinstance(ref_value, torch.Tensor):
        return 10.0 * torch.log10(torch.clamp(ref_value.to(S.dtype), min=amin))
    ref_value = check_positive_float("ref", ref_value, what="reference power for 0 dB")
    return 10.0 * math.log10(max(amin, ref_value))


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
    n_mels = check_size("n_mels", n_mels, limit="max_fft", what="number of mel bands")
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
    return _mel(
        x, None, sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, win_length=win_length,
        window=window, center=center, pad_mode=pad_mode, power=power, n_mels=n_mels, f_min_hz=f_min_hz,
        f_max_hz=f_max_hz, mel_scale=mel_scale, norm=norm, periodic=periodic, convention=convention,
    )


def _mel(x, db, *, sample_rate, n_fft=2048, hop_length=None, win_length=None, window="hann", center=None,
         pad_mode=None, power=2.0, n_mels=128, f_min_hz=0.0, f_max_hz=None, mel_scale=None, norm=FROM_CONVENTION,
         periodic=None, convention=None):
    """mel_spectrogram's body; ``db=(amin, ref_db)`` also takes the dB of each block on the fly."""
    conv = get_convention(convention)
    power = _check_power(power)
    if power is None:
        raise ParameterError("power=None is invalid for a mel spectrogram: expected 1 (magnitude) or 2 (power)")
    sample_rate, n_mels, mel_scale, norm, f_max_hz = _mel_args(conv, sample_rate, n_mels, f_min_hz, f_max_hz,
                                                              mel_scale, norm)
    return _spectral(
        x, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window, center=center,
        pad_mode=pad_mode, periodic=periodic, convention=conv, power=power,
        projection_factory=_mel_factory(sample_rate, n_mels, f_min_hz, f_max_hz, mel_scale, norm), db=db,
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
    amin, top_db = _check_db_args(amin, top_db, top_db_scope)
    if callable(ref):  # the reference needs the whole mel spectrogram first
        mel = mel_spectrogram(x, sample_rate=sample_rate, convention=conv, **mel_kwargs)
        return power_to_db(mel, ref=ref, amin=amin, top_db=top_db, top_db_scope=top_db_scope)
    db = _mel(x, (amin, _ref_db(ref, None, amin)), sample_rate=sample_rate, convention=conv, **mel_kwargs)
    return _clip_top_db(db, top_db, top_db_scope, inplace=not db.requires_grad)


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
