"""``polysense explain TOPIC``: the lecture's topics, the figure each draws, and the front-end demo
that writes them all."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from polysense._checks import check_choice
from polysense.data.examples import example_sound
from polysense.explain.denoising import denoising_figure
from polysense.explain.drawing import save_figure
from polysense.explain.lecture import (
    aliasing_figure,
    dft_figure,
    quantization_figure,
    resolution_figure,
    stft_figure,
    windows_figure,
)
from polysense.explain.spectrogram import spectrogram_figure
from polysense.explain.synthesis import synthesis_figure

__all__ = ["TOPICS", "explain_figure", "frontend_demo", "write_explain"]

TOPICS = ("aliasing", "quantization", "dft", "windows", "resolution", "stft", "denoising", "synthesis")

_EXPLAIN: dict[str, Callable[..., Figure]] = {
    "aliasing": aliasing_figure,
    "quantization": quantization_figure,
    "dft": dft_figure,
    "windows": windows_figure,
    "resolution": resolution_figure,
    "stft": stft_figure,
    "denoising": denoising_figure,
    "synthesis": synthesis_figure,
}

_DESCRIPTIONS = {
    "aliasing": "a tone above Nyquist, its samples and the alias they trace",
    "quantization": "quantizer staircase, error within ±Δ/2, SQNR vs bits",
    "dft": "50/100/400 Hz sum: three peaks of height 1; the DFT matrix",
    "windows": "eight window shapes and their spectra",
    "resolution": "the same sound as wideband and narrowband spectrograms",
    "stft": "whole-signal DFT vs spectrogram for a sound that changes over time",
    "denoising": "noisy / Wiener gain / denoised / clean spectrograms and the ideal ratio mask",
    "synthesis": "a magnitude spectrogram and Griffin-Lim's sounds from it after 1, 8, 32 iterations",
}


def explain_figure(topic: str, **kwargs: Any) -> Figure:
    """The lecture figure for ``topic`` (one of :data:`TOPICS`); keyword arguments go to its function."""
    check_choice("topic", topic, TOPICS)
    return _EXPLAIN[topic](**kwargs)


def write_explain(topic: str, path: str | os.PathLike, **kwargs: Any) -> Path:
    """Draw :func:`explain_figure` for ``topic`` and save it to ``path``."""
    return save_figure(explain_figure(topic, **kwargs), path)


def frontend_demo(out_dir: str | os.PathLike, *, sample_rate: int = 16000) -> list[dict[str, str]]:
    """Run the front end on :func:`~polysense.data.examples.example_sound` and write every lecture figure to ``out_dir``.

    Writes ``example-spectrogram.png`` (linear STFT, dB), ``example-mel.png`` (128-band
    log-mel) and ``explain-<topic>.png`` for each topic. Returns one row per file:
    ``{"file", "what"}``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    x, sr = example_sound(sample_rate=sample_rate)
    rows: list[dict[str, str]] = []
    path = save_figure(
        spectrogram_figure(x, sample_rate=sr, n_fft=512, hop_length=128, scale="linear",
                           title="Example sound after A/D (16 kHz, 16 bit): STFT power"), out / "example-spectrogram.png")
    rows.append({"file": str(path), "what": "example sound: waveform + linear STFT spectrogram (dB)"})
    path = save_figure(
        spectrogram_figure(x, sample_rate=sr, n_fft=1024, hop_length=256, scale="mel", n_mels=128,
                           title="Example sound after A/D: 128-band mel spectrogram"), out / "example-mel.png")
    rows.append({"file": str(path), "what": "example sound: 128-band mel spectrogram (dB)"})
    for topic in TOPICS:
        path = write_explain(topic, out / f"explain-{topic}.png")
        rows.append({"file": str(path), "what": _DESCRIPTIONS[topic]})
    return rows
