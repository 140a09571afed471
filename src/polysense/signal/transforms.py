"""``nn.Module`` wrappers of the front end, for use inside models and data pipelines.

Each module resolves its arguments once, in ``__init__``, into a
:class:`~polysense.signal.plan.SpectrogramPlan` (attribute ``plan``) — the same plan the
functions of :mod:`polysense.signal.spectrogram` build per call — and keeps the plan's window,
filter bank and DCT matrix as **non-persistent buffers**: they move with ``.to(device)`` /
``.to(dtype)`` / ``.cuda()``, but are not written to ``state_dict`` because they are fully
determined by the constructor arguments (a checkpoint stays independent of the front end's float
details, and loading one with ``strict=True`` works). Buffers are created in float64 (the exact
values); ``forward`` casts them to the input's device and dtype, so a module gives exactly the
numbers of its functional counterpart, defaults included (``top_db`` and its scope come from the
convention for both; see :mod:`polysense.signal.conventions`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from polysense._checks import check_choice, check_lifter, check_positive_int, check_sample_rate
from polysense.errors import ParameterError
from polysense.signal.conventions import FROM_CONVENTION, Convention
from polysense.signal.filterbanks import dct_matrix
from polysense.signal.plan import DecibelScale, SpectrogramPlan
from polysense.signal.resample import QUALITIES, resample
from polysense.signal.spectrogram import amplitude_to_db, mel_plan, power_to_db
from polysense.signal.stft import apply_plan

__all__ = ["MFCC", "AmplitudeToDB", "LogMelSpectrogram", "MelSpectrogram", "Resample", "Spectrogram"]


def _from_plan(name: str, field: str | None = None) -> property:
    return property(lambda self: getattr(self.plan, field or name), doc=f"``plan.{field or name}``")


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
        self._use(SpectrogramPlan.create(
            n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window, center=center,
            pad_mode=pad_mode, power=power, periodic=periodic, convention=convention,
        ))

    def _use(self, plan: SpectrogramPlan) -> None:
        self.plan = plan
        self.register_buffer("window", plan.window.detach().clone(), persistent=False)
        if plan.mel_bank is not None:
            self.register_buffer("fb", plan.mel_bank.clone(), persistent=False)

    n_fft = _from_plan("n_fft")
    hop_length = _from_plan("hop_length")
    win_length = _from_plan("win_length")
    center = _from_plan("center")
    pad_mode = _from_plan("pad_mode")
    power = _from_plan("power")
    convention = _from_plan("convention")

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return apply_plan(waveform, self.plan.with_tensors(window=self.window, mel_bank=getattr(self, "fb", None)))

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
        DecibelScale.create(ref=ref, amin=self.amin, top_db=top_db, top_db_scope=top_db_scope)  # validate once

    def forward(self, S: torch.Tensor) -> torch.Tensor:
        fn = power_to_db if self.stype == "power" else amplitude_to_db
        return fn(S, ref=self.ref, amin=self.amin, top_db=self.top_db, top_db_scope=self.top_db_scope)

    def extra_repr(self) -> str:
        return f"stype={self.stype!r}, amin={self.amin}, top_db={self.top_db}, top_db_scope={self.top_db_scope!r}"


class MelSpectrogram(Spectrogram):
    """Mel spectrogram (..., n_mels, frames); with ``to_db=True`` its dB values (log-mel).

    Arguments as :func:`~polysense.signal.spectrogram.mel_spectrogram` (and, for ``to_db``,
    ``ref``/``amin``/``top_db``/``top_db_scope`` as :func:`~polysense.signal.spectrogram.log_mel_spectrogram`,
    defaults from the convention). Buffers: ``window`` and ``fb`` (n_mels, n_fft//2+1), float64
    until converted.
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
        top_db_scope: str | None = None,
    ):
        nn.Module.__init__(self)
        plan = mel_plan(
            sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
            center=center, pad_mode=pad_mode, power=power, n_mels=n_mels, f_min_hz=f_min_hz, f_max_hz=f_max_hz,
            mel_scale=mel_scale, norm=norm, periodic=periodic, convention=convention, to_db=to_db, ref=ref, amin=amin,
            top_db=top_db, top_db_scope=top_db_scope,
        )
        self._use(plan)

    sample_rate = _from_plan("sample_rate")
    n_mels = _from_plan("n_mels")
    f_min_hz = _from_plan("f_min_hz")
    f_max_hz = _from_plan("f_max_hz")
    mel_scale = _from_plan("mel_scale")
    norm = _from_plan("norm", "mel_norm")

    @property
    def to_db(self) -> bool:
        return self.plan.db is not None

    def extra_repr(self) -> str:
        return (f"sample_rate={self.sample_rate:g}, {super().extra_repr()}, n_mels={self.n_mels}, "
                f"f_min_hz={self.f_min_hz:g}, f_max_hz={self.f_max_hz}, mel_scale={self.mel_scale!r}, "
                f"norm={self.norm!r}, to_db={self.to_db}")


class LogMelSpectrogram(MelSpectrogram):
    """Log-mel spectrogram in dB (..., n_mels, frames): :class:`MelSpectrogram` with ``to_db=True``.

    Equals :func:`~polysense.signal.spectrogram.log_mel_spectrogram` with the same arguments.
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

        self.orig_sample_rate = check_sample_rate(orig_sample_rate, "orig_sample_rate")
        self.new_sample_rate = check_sample_rate(new_sample_rate, "new_sample_rate")
        self.quality = check_choice("quality", quality, QUALITIES)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return resample(waveform, orig_sample_rate=self.orig_sample_rate, new_sample_rate=self.new_sample_rate,
                        quality=self.quality)

    def extra_repr(self) -> str:
        return f"orig_sample_rate={self.orig_sample_rate:g}, new_sample_rate={self.new_sample_rate:g}, quality={self.quality!r}"
