"""The figure of ``polysense detect --plot``: the recording's log-mel with the detected events over it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

from polysense.data.events import Event

__all__ = ["detection_figure"]


def detection_figure(features: torch.Tensor, events: Sequence[Event], *, seconds_per_column: float,
                     classes: Sequence[str], title: str = "") -> Figure:
    """Log-mel (n_mels, columns) in dB as an image over time, one shaded band per event (colour by
    class, label and score written at its onset), and below it each class's events as a track."""
    names = list(classes)
    fig = Figure(figsize=(12, 5.5), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, max(1, min(len(names), 10)) * 0.35 + 0.5])
    end = features.shape[-1] * seconds_per_column
    image = features.double().numpy()
    top.imshow(image, origin="lower", aspect="auto", cmap="magma", extent=(0.0, end, 0, image.shape[0]),
               vmin=float(np.percentile(image, 5)), vmax=float(image.max()))
    top.set_ylabel("mel band")
    top.set_title(title or f"{len(events)} events")
    colours = [f"C{k % 10}" for k in range(len(names))]
    for e in events:
        k = names.index(e.label) if e.label in names else 0
        top.axvspan(e.onset_s, e.offset_s, color=colours[k], alpha=0.25, lw=0)
        if len(events) <= 200:
            top.text(e.onset_s, image.shape[0] * 0.97, f"{e.label} {e.score:.2f}", fontsize=7, color="white",
                     va="top", clip_on=True)
        bottom.broken_barh([(e.onset_s, e.duration_s)], (k - 0.4, 0.8), color=colours[k])
    bottom.set_yticks(range(len(names)), names, fontsize=7)
    bottom.set_ylim(-0.6, len(names) - 0.4)
    bottom.set_xlim(0.0, end)
    bottom.set_xlabel("time (s)")
    return fig
