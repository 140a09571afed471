"""The analysis plan: every setting of an STFT, spectrogram or log-mel, resolved once, and its frame axis.

A :class:`SpectrogramPlan` is built from the user's arguments (``None`` arguments take the
convention's value, see :mod:`polysense.signal.conventions`), validated once, and is immutable.
The functions of :mod:`polysense.signal.spectrogram`, the modules of
:mod:`polysense.signal.transforms` and :class:`~polysense.signal.streaming.StreamingLogMel` all
build one and hand it to :func:`polysense.signal.stft.apply_plan`; the modules keep its window and
mel bank as buffers. The plan also owns the frame layout, so the frame count and the frame times
(:func:`frame_times`) come from the same place as the frames themselves.

Frame m of a signal of T samples starts at sample ``m·H − left_pad`` and its centre is
``c = ⌊N/2⌋`` samples later (``⌊M/2⌋`` for scipy slices), so its time is
``t_m = (m·H − left_pad + c) / F_s`` seconds:

* centred framing (librosa, torchaudio): ``left_pad = ⌊N/2⌋`` → ``t_m = m·H/F_s``,
  ``1 + ⌊(T + 2⌊N/2⌋ − N)/H⌋`` frames; with ``center=False`` → ``t_m = (m·H + ⌊N/2⌋)/F_s``
  (``librosa.frames_to_time(m, n_fft=N)``);
* scipy (``ShortTimeFFT``): slices p = p_min … p_max − 1 centred on ``p·H`` → ``t = p·H/F_s``
  (``ShortTimeFFT.t``), where p_min, p_max depend on the window's zero samples.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from polysense._checks import (
    check_choice,
    check_positive_float,
    check_positive_int,
    check_sample_rate,
    check_size,
    check_tensor,
)
from polysense.errors import ParameterError
from polysense.signal.conventions import FROM_CONVENTION, Convention, get_convention
from polysense.signal.filterbanks import mel_filterbank
from polysense.signal.windows import get_window

__all__ = ["DecibelScale", "SpectrogramPlan", "frame_times"]

_PAD_MODES = ("constant", "reflect", "replicate", "circular")


@dataclass(frozen=True)
class DecibelScale:
    """``L = 10·log10(max(S, amin)) − 10·log10(max(ref, amin))`` dB, then ``max(L, peak − top_db)``.

    The peak is taken over the whole input (``top_db_scope="global"``, librosa) or per
    (freq, frames) matrix (``"spectrogram"``, so a batch equals its items one by one).
    ``ref`` may be a callable evaluated on S (e.g. ``torch.max``).
    """

    amin: float = 1e-10
    ref: float | Callable = 1.0
    top_db: float | None = 80.0
    top_db_scope: str = "global"

    @classmethod
    def create(cls, *, ref=1.0, amin=1e-10, top_db=80.0, top_db_scope="global") -> DecibelScale:
        amin = check_positive_float("amin", amin, what="floor below which values are clipped before the log")
        if top_db is not None:
            top_db = check_positive_float("top_db", top_db, allow_zero=True, what="dB below the maximum to keep, or None")
        check_choice("top_db_scope", top_db_scope, ("global", "spectrogram"))
        if not callable(ref):
            ref = check_positive_float("ref", ref, what="reference power for 0 dB")
        return cls(amin=amin, ref=ref, top_db=top_db, top_db_scope=top_db_scope)

    def ref_db(self, S: torch.Tensor | None = None) -> float | torch.Tensor:
        """``10·log10(max(ref, amin))``: a float for a numeric ref, a tensor for a callable one."""
        value = self.ref(S) if callable(self.ref) else self.ref
        if isinstance(value, torch.Tensor):
            check_tensor("ref", value)
            if value.is_complex() or value.numel() == 0 or not bool(torch.isfinite(value).all()):
                shown = value.item() if value.numel() == 1 else f"a tensor of shape {tuple(value.shape)}"
                raise ParameterError(f"ref returned {shown}: expected a finite, real reference power for 0 dB "
                                     "(the callable is evaluated on the spectrogram, e.g. torch.max)")
            return 10.0 * torch.log10(torch.clamp(value.to(S.dtype), min=self.amin))
        value = check_positive_float("ref", value, what="reference power for 0 dB")
        return 10.0 * math.log10(max(self.amin, value))

    def to_db(self, S: torch.Tensor, ref_db: float | torch.Tensor, *, inplace: bool = False) -> torch.Tensor:
        """``10·log10(max(S, amin)) − ref_db``; in place on S when ``inplace``."""
        if inplace:
            S = S.clamp_min_(self.amin).log10_().mul_(10.0)
            return S.sub_(ref_db) if ref_db else S
        return 10.0 * torch.log10(torch.clamp(S, min=self.amin)) - ref_db

    def clip(self, db: torch.Tensor, *, inplace: bool = False) -> torch.Tensor:
        """``max(db, peak − top_db)`` (no-op for ``top_db=None``)."""
        if self.top_db is None:
            return db
        if self.top_db_scope == "global" or db.ndim < 2:
            peak = db.max()
        else:
            peak = db.amax(dim=(-2, -1), keepdim=True)
        return torch.maximum(db, peak - self.top_db, out=db if inplace else None)

    def __call__(self, S: torch.Tensor) -> torch.Tensor:
        return self.clip(self.to_db(S, self.ref_db(S)))


@dataclass(frozen=True, eq=False)
class SpectrogramPlan:
    """Everything an analysis needs, resolved: build with :meth:`create`, then :meth:`with_mel` / :meth:`with_db`.

    Attributes:
        convention: the :class:`~polysense.signal.conventions.Convention` the defaults came from.
        n_fft, hop_length, win_length: N, H and N_w in samples (N_w ≤ N).
        window: (N_w,) analysis window (float64 unless a user tensor; scaled for ``scaling``).
        center, pad_mode, periodic: the centre padding and the window symmetry.
        power: exponent of |X| (2 power, 1 magnitude) or None for the complex STFT.
        mel_bank: (n_mels, N//2+1) float64 bank, or None; ``sample_rate`` … ``mel_norm`` its settings.
        db: a :class:`DecibelScale` to apply after the mel product, or None.
    """

    convention: Convention
    n_fft: int
    hop_length: int
    win_length: int
    window: torch.Tensor
    center: bool
    pad_mode: str
    periodic: bool
    power: float | None = 2.0
    mel_bank: torch.Tensor | None = None
    sample_rate: float | None = None
    n_mels: int | None = None
    f_min_hz: float | None = None
    f_max_hz: float | None = None
    mel_scale: str | None = None
    mel_norm: str | None = None
    db: DecibelScale | None = None

    @classmethod
    def create(
        cls,
        *,
        n_fft: int,
        hop_length: int | None = None,
        win_length: int | None = None,
        window: str | tuple | torch.Tensor = "hann",
        center: bool | None = None,
        pad_mode: str | None = None,
        periodic: bool | None = None,
        convention: str | Convention | None = None,
        power: float | None = 2.0,
        scaling: str | None = None,
        sample_rate: float | None = None,
    ) -> SpectrogramPlan:
        """Validate and resolve the STFT settings (arguments as :func:`polysense.signal.stft.stft`)."""
        conv = get_convention(convention)
        n_fft = check_size("n_fft", n_fft, minimum=2, limit="max_fft", bytes_each=16, what="FFT size in samples")
        win_length = check_size("win_length", n_fft if win_length is None else win_length, limit="max_fft",
                                bytes_each=8, what="window length in samples")
        if win_length > n_fft:
            raise ParameterError(
                f"win_length={win_length} is invalid: expected 1 <= win_length <= n_fft={n_fft} "
                "(the window is zero-padded to n_fft samples)"
            )
        if hop_length is None:
            hop_length = max(1, win_length // conv.hop_divisor)
        hop_length = check_positive_int("hop_length", hop_length, what="samples between frames")
        pad_mode = conv.pad_mode if pad_mode is None else pad_mode
        check_choice("pad_mode", pad_mode, _PAD_MODES)
        periodic = conv.periodic if periodic is None else bool(periodic)
        if power is not None:
            power = check_positive_float("power", power, what="exponent of |X|: 1 magnitude, 2 power, None complex")
        w = _resolve_window(window, win_length, periodic)
        if scaling is not None:
            check_choice("scaling", scaling, ("magnitude", "psd"))
            if scaling == "magnitude":
                w = w / w.sum()
            elif sample_rate is None:
                raise ParameterError("scaling='psd' needs sample_rate= (Hz): the PSD is per Hz")
            else:
                w = w / torch.sqrt((w * w).sum() * check_sample_rate(sample_rate))
        return cls(convention=conv, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=w,
                   center=conv.center if center is None else bool(center), pad_mode=pad_mode, periodic=periodic,
                   power=power)

    def with_mel(self, *, sample_rate: float, n_mels: int = 128, f_min_hz: float = 0.0, f_max_hz: float | None = None,
                 mel_scale: str | None = None, norm=FROM_CONVENTION) -> SpectrogramPlan:
        """The plan followed by the mel product ``M = W_mel @ |X|^power`` (scale and norm from the convention)."""
        if self.power is None:
            raise ParameterError("power=None is invalid for a mel spectrogram: expected 1 (magnitude) or 2 (power)")
        sample_rate = check_sample_rate(sample_rate)
        n_mels = check_size("n_mels", n_mels, limit="max_fft", what="number of mel bands")
        mel_scale = self.convention.mel_scale if mel_scale is None else mel_scale
        norm = self.convention.mel_norm if norm is FROM_CONVENTION else norm
        check_choice("mel_scale", mel_scale, ("slaney", "htk"))
        check_choice("norm", norm, ("slaney", None))
        f_max_hz = None if f_max_hz is None else check_positive_float(
            "f_max_hz", f_max_hz, allow_zero=True, what="highest frequency in Hz")
        bank = mel_filterbank(sample_rate=sample_rate, n_fft=self.n_fft, n_mels=n_mels, f_min_hz=f_min_hz,
                              f_max_hz=f_max_hz, mel_scale=mel_scale, norm=norm, dtype=torch.float64)
        return dataclasses.replace(self, mel_bank=bank, sample_rate=sample_rate, n_mels=n_mels,
                                   f_min_hz=float(f_min_hz), f_max_hz=f_max_hz, mel_scale=mel_scale, mel_norm=norm)

    def with_db(self, *, ref: float | Callable = 1.0, amin: float | None = None, top_db=FROM_CONVENTION,
                top_db_scope: str | None = None) -> SpectrogramPlan:
        """The plan followed by the dB conversion (amin, top_db and its scope from the convention)."""
        conv = self.convention
        db = DecibelScale.create(
            ref=ref, amin=conv.amin if amin is None else amin, top_db=conv.top_db if top_db is FROM_CONVENTION else top_db,
            top_db_scope=conv.top_db_scope if top_db_scope is None else top_db_scope,
        )
        return dataclasses.replace(self, db=db)

    def with_tensors(self, *, window: torch.Tensor, mel_bank: torch.Tensor | None = None) -> SpectrogramPlan:
        """The same plan with its window and mel bank replaced (a module's buffers after ``.to()``)."""
        return dataclasses.replace(self, window=window, mel_bank=mel_bank)

    @property
    def width(self) -> int:
        """Rows of the output: mel bands, or the N//2+1 one-sided bins."""
        return self.n_fft // 2 + 1 if self.mel_bank is None else self.mel_bank.shape[0]

    def layout(self, num_samples: int) -> tuple[int, int, int]:
        """``(left_pad, right_pad, frames)`` for a signal of ``num_samples`` samples (frames may be 0)."""
        if self.convention.framing == "scipy":
            return _scipy_layout(self.window, num_samples, self.hop_length)
        pad = self.n_fft // 2 if self.center else 0
        padded = num_samples + 2 * pad
        return pad, pad, 0 if padded < self.n_fft else 1 + (padded - self.n_fft) // self.hop_length

    def frame_window(self) -> torch.Tensor:
        """The window as each frame sees it: centred in N samples, or the scipy slice of N_w samples."""
        if self.convention.framing == "scipy":
            return self.window
        left = (self.n_fft - self.win_length) // 2
        return F.pad(self.window, (left, self.n_fft - self.win_length - left))

    def phase(self) -> torch.Tensor | None:
        """Per-bin factor ``e^{2πik⌊M/2⌋/N}`` of ShortTimeFFT's phase reference (scipy), else None."""
        if self.convention.framing != "scipy":
            return None
        k = torch.arange(self.n_fft // 2 + 1, dtype=torch.float64)
        return torch.polar(torch.ones_like(k), 2.0 * math.pi * k * ((self.win_length // 2) % self.n_fft) / self.n_fft)

    def frame_times(self, num_samples: int, *, sample_rate: float) -> torch.Tensor:
        """Centre time of each frame in seconds, float64 (frames,): ``(m·H − left_pad + c)/F_s`` (module notes)."""
        left, _, frames = self.layout(num_samples)
        centre = self.win_length // 2 if self.convention.framing == "scipy" else self.n_fft // 2
        m = torch.arange(frames, dtype=torch.float64)
        return (m * self.hop_length + (centre - left)) / check_sample_rate(sample_rate)


def frame_times(
    num_samples: int,
    *,
    sample_rate: float,
    n_fft: int,
    hop_length: int,
    win_length: int | None = None,
    center: bool = True,
    convention: str | Convention | None = "librosa",
    window: str | tuple | torch.Tensor = "hann",
) -> torch.Tensor:
    """Centre time in seconds of every frame of the STFT of ``num_samples`` samples: float64 (frames,).

    The length of the result is the frame count of :func:`~polysense.signal.stft.stft` with the same
    arguments (0 when the signal is too short for one frame). Centred framing: ``m·H/F_s``
    (``librosa.frames_to_time``); ``center=False``: ``(m·H + ⌊N/2⌋)/F_s``; ``convention="scipy"``:
    ``ShortTimeFFT.t(num_samples)`` for this ``window`` (its zero samples decide the first slice).
    """
    num_samples = check_positive_int("num_samples", num_samples, minimum=0, what="signal length in samples")
    plan = SpectrogramPlan.create(n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
                                  center=center, convention=convention, power=None)
    return plan.frame_times(num_samples, sample_rate=sample_rate)


def _resolve_window(window, win_length: int, periodic: bool) -> torch.Tensor:
    """The analysis window of ``win_length`` samples: float64 (a user tensor keeps its device and graph)."""
    if not isinstance(window, torch.Tensor):
        return get_window(window, win_length, periodic=periodic, dtype=torch.float64)
    if window.ndim != 1 or window.shape[0] != win_length:
        raise ParameterError(
            f"window has shape {tuple(window.shape)}: expected a 1-D tensor of win_length={win_length} samples"
        )
    if window.is_complex() or not window.is_floating_point():
        raise ParameterError(f"window has dtype {window.dtype}: expected a real floating-point tensor")
    if not bool(torch.isfinite(window).all()):
        raise ParameterError("window contains NaN or Inf values: expected finite window samples")
    return window.to(torch.float64)


def _scipy_layout(window: torch.Tensor, n: int, hop: int) -> tuple[int, int, int]:
    """ShortTimeFFT's slices for n samples: (left_pad, right_pad, number of slices).

    Slice p covers samples pH − ⌊M/2⌋ … pH − ⌊M/2⌋ + M − 1; p runs from p_min (the lowest slice
    whose window still overlaps t ≥ 0 with non-zero samples) to p_max(n) − 1, as scipy's
    ``_pre_padding``/``_post_padding``.
    """
    m = window.shape[-1]
    w2 = (window.detach().double() ** 2).cpu()
    k, p = -(m // 2), 0
    while k - hop + m > 0 and not bool((w2[k - hop :] == 0).all()):  # the slice before still sees t >= 0
        k, p = k - hop, p - 1
    k_min, p_min = k, p
    q = n // hop
    kk = q * hop - m // 2
    while kk + hop < n and not bool((w2[: n - kk - hop] == 0).all()):  # the next slice still sees t < n
        q, kk = q + 1, kk + hop
    return -k_min, max(0, kk + m - n), q + 1 - p_min
