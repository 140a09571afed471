"""The drawing pieces every figure of :mod:`polysense.explain` shares: colours, the Hz axis, the dB
scale for display, the spectrogram panel, writing a figure to a file, and the speech example the
figures show.

Everything is drawn with matplotlib's object API on the Agg canvas (``matplotlib.figure.Figure``,
no ``pyplot`` state), so it works headless, in threads and in tests.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from polysense.audio import load
from polysense.data.builtin import default_fsdd_folder
from polysense.data.examples import vowel
from polysense.signal.filterbanks import hz_to_mel, mel_to_hz
from polysense.signal.spectrogram import power_to_db

__all__ = [
    "ALIAS_COLOUR",
    "SAMPLES_COLOUR",
    "SPECTROGRAM_CMAP",
    "TONE_COLOUR",
    "draw_spectrogram",
    "example_speech",
    "format_hz",
    "power_to_display_db",
    "save_figure",
    "to_numpy",
]

SPECTROGRAM_CMAP = "magma"
TONE_COLOUR = "#1f77b4"
SAMPLES_COLOUR = "#d62728"
ALIAS_COLOUR = "#2ca02c"
_DPI = 120


def save_figure(fig: Figure, path: str | os.PathLike) -> Path:
    """Write ``fig`` to ``path`` (PNG unless the suffix says otherwise); creates parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=_DPI)  # constrained layout already fits the labels: no second "tight" pass
    return path


def to_numpy(x: torch.Tensor) -> np.ndarray:
    """``x`` as a float64 numpy array on the CPU (for plotting)."""
    return x.detach().cpu().to(torch.float64).numpy()


def format_hz(value: float, _pos: Any = None) -> str:
    """Tick label of a frequency axis: ``500``, ``2k``, ``16k`` (a matplotlib ``FuncFormatter`` function)."""
    if abs(value) >= 1000:
        return f"{value / 1000:g}k"
    return f"{value:g}"


def power_to_display_db(power: torch.Tensor, top_db: float | None = 80.0) -> torch.Tensor:
    """Power → dB relative to its maximum (0 dB = loudest bin), floored ``top_db`` below it.

    :func:`~polysense.signal.spectrogram.power_to_db` with ``ref = max(power)`` (``ref = 1`` when
    the power is all zero, so silence draws at the ``amin`` floor, −100 dB, rather than failing).
    """
    ref = float(power.max())
    if ref <= 0:
        ref = 1.0
    return power_to_db(power, ref=ref, top_db=top_db)


def _mel_axis(ax: Any, freqs_hz: np.ndarray, f_max_hz: float | None) -> None:
    def forward(f: np.ndarray) -> np.ndarray:
        return np.asarray(hz_to_mel(torch.as_tensor(np.asarray(f, dtype=np.float64))), dtype=np.float64)

    def inverse(m: np.ndarray) -> np.ndarray:
        return np.asarray(mel_to_hz(torch.as_tensor(np.asarray(m, dtype=np.float64))), dtype=np.float64)

    ax.set_yscale("function", functions=(forward, inverse))
    top = float(f_max_hz if f_max_hz is not None else freqs_hz[-1])
    ticks = [t for t in (0, 250, 500, 1000, 2000, 4000, 8000, 16000) if t <= top]
    ax.set_yticks(ticks)
    ax.set_ylim(0, top)


def draw_spectrogram(
    fig: Figure,
    ax: Any,
    values: np.ndarray,
    *,
    times_s: np.ndarray,
    freqs_hz: np.ndarray,
    db: bool,
    yscale: str = "linear",
    label: str | None = None,
    colorbar: bool = True,
    vmin: float | None = None,
    cax: Any = None,
    f_max_hz: float | None = None,
) -> Any:
    """Draw ``values`` (frequency bins × frames) on ``ax`` as a spectrogram; returns the mesh.

    Parameters
    ----------
    values : array (len(freqs_hz), len(times_s)), e.g. :func:`power_to_display_db` of a power spectrogram.
    times_s, freqs_hz : the frame centres (s) and bin frequencies (Hz); each cell is centred on them.
    db : whether ``values`` are dB (the colour scale then starts at their minimum unless ``vmin``).
    yscale : "linear", "log" or "mel" (a mel-spaced axis labelled in Hz, up to ``f_max_hz``).
    label : the colour bar's label (default: "Power (dB re max)" or "Power").
    colorbar : draw a colour bar, in ``cax`` when given, else beside ``ax``.
    """
    mesh = ax.pcolormesh(times_s, freqs_hz, values, shading="nearest", cmap=SPECTROGRAM_CMAP, rasterized=True,
                         vmin=vmin if vmin is not None else (float(values.min()) if db else None))
    if yscale == "log":
        ax.set_yscale("log")
    elif yscale == "mel":
        _mel_axis(ax, freqs_hz, f_max_hz)
    ax.yaxis.set_major_formatter(FuncFormatter(format_hz))
    ax.set_xlabel("Time (s)")
    ax.set_ylabel("Frequency (Hz)" + (", mel scale" if yscale == "mel" else ""))
    if colorbar:
        label = label or ("Power (dB re max)" if db else "Power")
        if cax is not None:
            fig.colorbar(mesh, cax=cax, label=label)
        else:
            fig.colorbar(mesh, ax=ax, label=label, pad=0.02)
    return mesh


def example_speech(sample_rate: int) -> tuple[torch.Tensor, str]:
    """The speech a figure shows (float64, at ``sample_rate`` Hz) and where it comes from: the first
    FSDD recording when the shared data is there, else a synthetic vowel of 0.6 s."""
    folder = default_fsdd_folder()
    files = sorted(folder.glob("*.wav")) if folder.is_dir() else []
    if files:
        audio, _ = load(files[0], sample_rate=sample_rate)
        return audio.double(), f"FSDD {files[0].stem}"
    return vowel(sample_rate, 0.6), "a synthetic vowel"
