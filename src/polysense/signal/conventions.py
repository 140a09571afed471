"""Library conventions: the defaults on which librosa, torchaudio and scipy disagree.

Every front-end function and module takes ``convention=None | "librosa" | "torchaudio" | "scipy"``.
An argument left at ``None`` takes the value from the chosen convention; an argument you
pass explicitly always wins. ``convention=None`` means ``"librosa"`` (polysense's reference).
This table is the one place that decides a default: a function and its module (e.g.
``log_mel_spectrogram`` and ``LogMelSpectrogram``) resolve the same
:class:`~polysense.signal.plan.SpectrogramPlan` and agree, ``top_db`` and its scope included
(librosa: 80 dB below the maximum of the whole input; pass ``top_db_scope="spectrogram"`` for
features of a batch that equal those of its items one by one).

========================  ==========================  ============================  ==============================
setting                   ``"librosa"`` (0.11)        ``"torchaudio"`` (2.x)        ``"scipy"`` (ShortTimeFFT)
========================  ==========================  ============================  ==============================
frame placement           centred: frame m covers     centred, as librosa           slice p covers samples
                          samples mH − N/2 … (N/2     (``center=True``)             pH − ⌊M/2⌋ … +M−1 for p =
                          padding both ends),                                       p_min … p_max−1 (every slice
                          1 + ⌊T/H⌋ frames                                          that touches the signal)
centre padding mode       ``"constant"`` (zeros;      ``"reflect"``                 zeros (``padding="zeros"``)
                          librosa ≥ 0.10)
window symmetry           periodic (``fftbins=True``) periodic (``torch.hann_window``  periodic (``get_window``
                                                      default)                      default); any window allowed
window inside the frame   centred in the n_fft frame  centred                       starts the slice; the DFT
                                                                                    phase is referred to the
                                                                                    slice centre (phase_shift=0)
default hop               win_length // 4             win_length // 2               (required)
STFT scaling              none                        none (``normalized=False``)   none, or ``scaling=
                                                                                    "magnitude"`` (w/Σw) or
                                                                                    ``"psd"`` (w/√(Σw²·fs))
mel scale                 ``"slaney"``                ``"htk"``                     — (slaney used)
mel filter norm           ``"slaney"`` (area 1/Hz)    ``None`` (peak 1)             — (slaney used)
dB floor ``amin``         1e-10 (power),              1e-10                         1e-10
                          1e-5 (amplitude)
``top_db``                80 dB                       ``None`` (no clipping)        ``None``
``top_db`` scope          the whole input (one max    per spectrogram: torchaudio   —
                          over every item)            takes the max per item of
                                                      a (B, C, F, T) input; here
                                                      over each (freq, frames)
                                                      matrix
MFCC log                  ``power_to_db`` (top_db 80) dB with top_db 80             —
MFCC DCT                  DCT-II, orthonormal         DCT-II, orthonormal           —
========================  ==========================  ============================  ==============================

Notes:

* librosa changed its default ``pad_mode`` from ``"reflect"`` to ``"constant"`` in 0.10;
  the table is for the installed 0.11.
* torchaudio's ``AmplitudeToDB`` reshapes a 4-D ``(B, C, F, T)`` input and takes the max per
  ``B`` item over ``(C, F, T)``; a 3-D ``(B, F, T)`` batch of mono spectrograms is therefore
  clipped against one max over the whole batch. polysense's ``"spectrogram"`` scope clips
  each ``(freq, frames)`` matrix against its own max, so a batch equals its items one by one.
* scipy's ``ShortTimeFFT`` also zero-pads the slice of ``M = win_length`` samples to
  ``mfft = n_fft`` and (``phase_shift=0``) rolls it left by ⌊M/2⌋, which multiplies bin k by
  e^{2πik⌊M/2⌋/n_fft}; :func:`polysense.signal.stft.stft` reproduces that.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from polysense.errors import ParameterError

__all__ = ["CONVENTIONS", "FROM_CONVENTION", "Convention", "get_convention"]


class _FromConvention:
    """Default marker for arguments where ``None`` is itself a valid value (e.g. top_db, norm)."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "FROM_CONVENTION"

    def __reduce__(self):
        return (_FromConvention, ())


#: Default of arguments taken from the chosen convention when not passed.
FROM_CONVENTION = _FromConvention()


@dataclass(frozen=True)
class Convention:
    """The defaults one library uses (see the module table).

    Attributes:
        name: "librosa", "torchaudio" or "scipy".
        framing: "center" (librosa/torchaudio frames) or "scipy" (ShortTimeFFT slices).
        center: pad n_fft//2 samples at both ends (framing="center" only).
        pad_mode: how the centre padding is filled ("constant" = zeros, "reflect", ...).
        periodic: window symmetry (True = periodic/DFT-even).
        hop_divisor: default hop_length = win_length // hop_divisor.
        mel_scale: "slaney" or "htk".
        mel_norm: "slaney" or None.
        amin: dB floor for power (amplitude uses sqrt(amin) ... see power_to_db).
        amplitude_amin: dB floor for amplitude_to_db.
        top_db: clipping below the maximum in dB (None = no clipping).
        top_db_scope: "global" (one max over the whole input) or "spectrogram" (per matrix).
    """

    name: str
    framing: Literal["center", "scipy"]
    center: bool
    pad_mode: str
    periodic: bool
    hop_divisor: int
    mel_scale: Literal["slaney", "htk"]
    mel_norm: Literal["slaney"] | None
    amin: float
    amplitude_amin: float
    top_db: float | None
    top_db_scope: Literal["global", "spectrogram"]

    def replace(self, **changes) -> Convention:
        """A copy with some fields changed."""
        return replace(self, **changes)


CONVENTIONS: dict[str, Convention] = {
    "librosa": Convention(
        name="librosa", framing="center", center=True, pad_mode="constant", periodic=True, hop_divisor=4,
        mel_scale="slaney", mel_norm="slaney", amin=1e-10, amplitude_amin=1e-5, top_db=80.0, top_db_scope="global",
    ),
    "torchaudio": Convention(
        name="torchaudio", framing="center", center=True, pad_mode="reflect", periodic=True, hop_divisor=2,
        mel_scale="htk", mel_norm=None, amin=1e-10, amplitude_amin=1e-10, top_db=None, top_db_scope="spectrogram",
    ),
    "scipy": Convention(
        name="scipy", framing="scipy", center=True, pad_mode="constant", periodic=True, hop_divisor=4,
        mel_scale="slaney", mel_norm="slaney", amin=1e-10, amplitude_amin=1e-5, top_db=None, top_db_scope="global",
    ),
}


def get_convention(convention: str | Convention | None = None) -> Convention:
    """The :class:`Convention` named ``convention`` (None → "librosa"); a Convention passes through."""
    if convention is None:
        return CONVENTIONS["librosa"]
    if isinstance(convention, Convention):
        return convention
    if isinstance(convention, str) and convention.lower() in CONVENTIONS:
        return CONVENTIONS[convention.lower()]
    raise ParameterError(
        f"convention={convention!r} is not supported: choose one of "
        + ", ".join(repr(c) for c in CONVENTIONS)
        + " (or None for 'librosa')"
    )
