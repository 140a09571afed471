"""``nn.Module`` wrappers of the front end, for use inside models and data pipelines.

Each module validates its parameters once in ``__init__``, precomputes its window, filter
bank and DCT matrix, and keeps them as **non-persistent buffers**: they move with
``.to(device)`` / ``.to(dtype)`` / ``.cuda()``, but are not written to ``state_dict`` because
they are fully determined by the constructor arguments (a checkpoint stays independent of
the front end's float details, and loading one with ``strict=True`` works). ``forward``
accepts a waveform (..., time) of any float dtype on any device; buffers are cast to the
input's device and dtype when they differ. Buffers are created in float64 (the exact values),
so a float32 input sees exactly the float32 window/bank of the functional path and a float64
input the float64 one; ``.to(device)`` moves them, ``.float()`` stores them in float32.

Every module is exactly its functional counterpart in :mod:`polysense.signal.spectrogram`
(same framing path, same numbers). Unlike the functional ``log_mel_spectrogram`` with the
librosa convention, the modules clip ``top_db`` per spectrogram (``top_db_scope="spectrogram"``)
by default, so a batch gives the same features as its items one by one.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from polysense._checks import check_choice, check_lifter, check_positive_int, check_sample_rate
from polysense.errors import ParameterError
from polysense.signal.conventions import FROM_CONVENTION, Convention, get_convention
from polysense.signal.filterbanks import dct_matrix, mel_filterbank
from polysense.signal.spectrogram import (
    SparseProjection,
    _check_db_args,
    _check_power,
    _clip_top_db,
    _db_defaults,
    _mel_args,
    _ref_db,
    _spectral,
    amplitude_to_db,
    power_to_db,
)
from polysense.signal.stft import _check_fft_args, _resolve_window

__all__ = ["MFCC", "AmplitudeToDB", "LogMelSpectrogram", "MelSpectrogram", "Resample", "Spectrogram"]


class Spectrogram(nn.Module):
    """``|STFT(x)|^power`` (..., n_fft//2+1, frames); complex STFT for ``power=None``.

    Arguments as :func:`polysense.signal.spectrogram.spectrogram`. Buffer: ``window``
    (win_length samples, float64 until converted).
    """

    def __init__(
        self,
        n_fft: int = 2048,
        hop_length: int | None = None,
        win_length: int | None = None,
        window: str | tuple | torch.Tensor = "hann",
        center: bool | None = None,
        pad_mode: str | None = None,
        power: float | None = 2.0,
        periodic: bool | None = None,
        convention: str | Convention | None = None,
    ):
        super().__init__()
        conv = get_convention(convention)
        self.convention = conv
        self.n_fft, self.hop_length, self.win_length = _check_fft_args(n_fft, hop_length, win_length, conv)
        self.center = conv.center if center is None else bool(center)
        self.pad_mode = conv.pad_mode if pad_mode is None else pad_mode
        self.periodic = conv.periodic if periodic is None else bool(periodic)
        self.power = _check_power(power)
        w = _resolve_window(window, self.win_length, self.periodic, torch.float64, None)
        self.register_buffer("window", w.detach().clone(), persistent=False)

    def _stft_kwargs(self) -> dict:
        return dict(
            n_fft=self.n_fft, hop_length=self.hop_length, win_length=self.win_length, window=self.window,
            center=self.center, pad_mode=self.pad_mode, periodic=self.periodic, convention=self.convention,
        )

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return _spectral(waveform, power=self.power, **self._stft_kwargs())

    def extra_repr(self) -> str:
        return (f"n_fft={self.n_fft}, hop_length={self.hop_length}, win_length={self.win_length}, "
                f"power={self.power}, center={self.center}, pad_mode={self.pad_mode!r}, "
                f"convention={self.convention.name!r}")


class AmplitudeToDB(nn.Module):
    """Decibels of a power (``stype="power"``, 10·log10) or amplitude (``"magnitude"``, 20·log10) input.

    Arguments as :func:`~polysense.signal.spectrogram.power_to_db` /
    :func:`~polysense.signal.spectrogram.amplitude_to_db`; ``amin`` defaults to 1e-10 for
    power and 1e-5 for amplitude (the same −100 dB floor); ``top_db`` defaults to None (no
    clipping, as torchaudio) and is taken per spectrogram by default.
    """

    def __init__(
        self,
        stype: str = "power",
        *,
        ref: float | Callable = 1.0,
        amin: float | None = None,
        top_db: float | None = None,
        top_db_scope: str = "spectrogram",
    ):
        super().__init__()
        self.stype = check_choice("stype", stype, ("power", "magnitude"))
        self.amin = (1e-10 if stype == "power" else 1e-5) if amin is None else amin
        self.ref, self.top_db, self.top_db_scope = ref, top_db, top_db_scope
        _check_db_args(self.amin, top_db, top_db_scope)

    def forward(self, S: torch.Tensor) -> torch.Tensor:
        fn = power_to_db if self.stype == "power" else amplitude_to_db
        return fn(S, ref=self.ref, amin=self.amin, top_db=self.top_db, top_db_scope=self.top_db_scope)

    def extra_repr(self) -> str:
        return f"stype={self.stype!r}, amin={self.amin}, top_db={self.top_db}, top_db_scope={self.top_db_scope!r}"


class MelSpectrogram(Spectrogram):
    """Mel spectrogram (..., n_mels, frames); with ``to_db=True`` its dB values (log-mel).

    Arguments as :func:`~polysense.signal.spectrogram.mel_spectrogram` (and, for ``to_db``,
    ``ref``/``amin``/``top_db``/``top_db_scope`` as :func:`~polysense.signal.spectrogram.power_to_db`,
    amin and top_db defaulting from the convention, the scope to ``"spectrogram"``).
    Buffers: ``window`` and ``fb`` (n_mels, n_fft//2+1), float64 until converted.
    """

    def __init__(
        self,
        sample_rate: float = 16000,
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
        to_db: bool = False,
        ref: float | Callable = 1.0,
        amin: float | None = None,
        top_db=FROM_CONVENTION,
        top_db_scope: str = "spectrogram",
    ):
        if power is None:
            raise ParameterError("power=None is invalid for a mel spectrogram: expected 1 (magnitude) or 2 (power)")
        super().__init__(n_fft, hop_length, win_length, window, center, pad_mode, power, periodic, convention)
        conv = self.convention
        self.sample_rate, self.n_mels, self.mel_scale, self.norm, self.f_max_hz = _mel_args(
            conv, sample_rate, n_mels, f_min_hz, f_max_hz, mel_scale, norm
        )
        self.f_min_hz = float(f_min_hz)
        fb = mel_filterbank(
            sample_rate=self.sample_rate, n_fft=self.n_fft, n_mels=self.n_mels, f_min_hz=self.f_min_hz,
            f_max_hz=self.f_max_hz, mel_scale=self.mel_scale, norm=self.norm, dtype=torch.float64,
        )
        self.register_buffer("fb", fb, persistent=False)
        self._projections: dict = {}
        self.to_db = bool(to_db)
        self.ref = ref
        self.amin, self.top_db, self.top_db_scope = _db_defaults(conv, amin, top_db, top_db_scope)
        _check_db_args(self.amin, self.top_db, self.top_db_scope)

    def _projection(self, n_fft: int, dtype: torch.dtype, device: torch.device) -> SparseProjection:
        # Built from the fb buffer in the input's dtype/device (its CSR form included); cached
        # and rebuilt when fb is replaced (e.g. by .to()) or the input's dtype/device changes.
        key = (self.fb.data_ptr(), self.fb.device, self.fb.dtype, torch.device(device), dtype)
        projection = self._projections.get(key)
        if projection is None:
            projection = SparseProjection(self.fb.to(device=device, dtype=dtype))
            self._projections = {key: projection}
        return projection

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        kwargs = dict(power=self.power, projection_factory=self._projection, **self._stft_kwargs())
        if not self.to_db:
            return _spectral(waveform, **kwargs)
        if callable(self.ref):
            mel = _spectral(waveform, **kwargs)
            return power_to_db(mel, ref=self.ref, amin=self.amin, top_db=self.top_db, top_db_scope=self.top_db_scope)
        db = _spectral(waveform, db=(self.amin, _ref_db(self.ref, None, self.amin)), **kwargs)
        return _clip_top_db(db, self.top_db, self.top_db_scope, inplace=not db.requires_grad)

    def extra_repr(self) -> str:
        return (f"sample_rate={self.sample_rate:g}, {super().extra_repr()}, n_mels={self.n_mels}, "
                f"f_min_hz={self.f_min_hz:g}, f_max_hz={self.f_max_hz}, mel_scale={self.mel_scale!r}, "
                f"norm={self.norm!r}, to_db={self.to_db}")


class LogMelSpectrogram(MelSpectrogram):
    """Log-mel spectrogram in dB (..., n_mels, frames): :class:`MelSpectrogram` with ``to_db=True``.

    Equals :func:`~polysense.signal.spectrogram.log_mel_spectrogram` with the same
    arguments (``top_db_scope="spectrogram"`` unless given).
    """

    def __init__(self, sample_rate: float = 16000, **kwargs):
        if "to_db" in kwargs:
            raise ParameterError("LogMelSpectrogram always converts to dB: drop to_db= (use MelSpectrogram for powers)")
        super().__init__(sample_rate, to_db=True, **kwargs)


class MFCC(nn.Module):
    """MFCCs (..., n_mfcc, frames): DCT-II (buffer ``dct``, (n_mfcc, n_mels)) of the log-mel spectrogram.

    Arguments as :func:`~polysense.signal.spectrogram.mfcc`; ``mel_kwargs`` go to
    :class:`LogMelSpectrogram` (top_db 80 by default, as librosa and torchaudio).
    """

    def __init__(
        self,
        sample_rate: float = 16000,
        n_mfcc: int = 20,
        dct_norm: str | None = "ortho",
        lifter: float = 0.0,
        top_db: float | None = 80.0,
        **mel_kwargs,
    ):
        super().__init__()
        self.log_mel = LogMelSpectrogram(sample_rate, top_db=top_db, **mel_kwargs)
        self.n_mfcc = check_positive_int("n_mfcc", n_mfcc, what="number of coefficients")
        self.register_buffer(
            "dct", dct_matrix(n_mfcc, self.log_mel.n_mels, dct_norm, dtype=torch.float64), persistent=False
        )
        lifter = check_lifter(lifter)
        n = torch.arange(1, self.n_mfcc + 1, dtype=torch.float64)
        lift = 1.0 + (lifter / 2.0) * torch.sin(torch.pi * n / lifter) if lifter > 0 else torch.ones_like(n)
        self.register_buffer("lift", lift, persistent=False)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        log_mel = self.log_mel(waveform)
        d = self.dct.to(device=log_mel.device, dtype=log_mel.dtype)
        coeffs = torch.matmul(d, log_mel)
        return coeffs * self.lift.to(device=log_mel.device, dtype=log_mel.dtype).unsqueeze(-1)


class Resample(nn.Module):
    """Sample-rate conversion with soxr: :func:`polysense.signal.resample.resample` as a module.

    Not differentiable (soxr runs on the CPU outside autograd); output (..., new_length)
    in the input's dtype and device.
    """

    def __init__(self, orig_sample_rate: float, new_sample_rate: float, quality: str = "HQ"):
        super().__init__()
        from polysense.signal.resample import QUALITIES

        self.orig_sample_rate = check_sample_rate(orig_sample_rate, "orig_sample_rate")
        self.new_sample_rate = check_sample_rate(new_sample_rate, "new_sample_rate")
        self.quality = check_choice("quality", quality, QUALITIES)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        from polysense.signal.resample import resample

        return resample(waveform, orig_sample_rate=self.orig_sample_rate, new_sample_rate=self.new_sample_rate,
                        quality=self.quality)

    def extra_repr(self) -> str:
        return f"orig_sample_rate={self.orig_sample_rate:g}, new_sample_rate={self.new_sample_rate:g}, quality={self.quality!r}"
