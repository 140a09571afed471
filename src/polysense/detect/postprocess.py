"""From frame probabilities to events: pure functions, each one step.

Frame ``k`` stands for the time ``k · hop_s`` (the centre of its analysis window, as
:func:`polysense.signal.frame_times` with ``center=True``). A run of active frames ``[a, b)`` is the
event ``[a · hop_s, b · hop_s)``.

1. :func:`median_filter`: each frame's probability replaced by the median of the ``width`` frames
   around it (edges repeat the first / last frame, as ``scipy.ndimage.median_filter(mode="nearest")``);
2. :func:`hysteresis`: a run is active where the probability stays ≥ ``low`` and reaches ``high``
   at least once (``low = high`` is a plain threshold);
3. :func:`runs_to_segments`: gaps shorter than ``min_gap_s`` are filled, then runs shorter than
   ``min_duration_s`` dropped;
4. :func:`frames_to_events` does it all for (frames, classes) probabilities, either per class
   (``merge_classes=False``: a multi-label detector) or on the activity ``max_c p[k, c]`` with each
   segment labelled by the class of highest mean probability over it (``merge_classes=True``: one
   sound at a time, as words in speech). An event's score is the mean over its frames of its
   class's probability.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from polysense._checks import check_positive_float, check_positive_int, check_unit_interval
from polysense.data.events import Event
from polysense.errors import ParameterError

__all__ = ["PostProcessing", "frames_to_events", "hysteresis", "median_filter", "runs_to_segments"]


def median_filter(probs: torch.Tensor, *, width: int) -> torch.Tensor:
    """Running median over the last axis (frames) of ``width`` (odd) frames, edges repeated."""
    width = check_positive_int("median_frames", width, what="frames (odd)")
    if width % 2 == 0:
        raise ParameterError(f"median_frames={width} is invalid: expected an odd number of frames (1 = no filter)")
    if width == 1 or probs.shape[-1] == 0:
        return probs
    half = width // 2
    shape = probs.shape
    flat = probs.reshape(-1, 1, shape[-1])
    padded = torch.nn.functional.pad(flat, (half, half), mode="replicate")
    return padded.unfold(-1, width, 1).median(dim=-1).values.reshape(shape)


def hysteresis(probs: torch.Tensor, *, high: float, low: float | None = None) -> torch.Tensor:
    """Boolean activity (frames,): runs where ``probs ≥ low`` that contain a frame ``≥ high``."""
    high = check_unit_interval("threshold", high, what="a probability threshold")
    low = high if low is None else check_unit_interval("low_threshold", low, what="a probability threshold")
    if low > high:
        raise ParameterError(f"low_threshold={low} is above threshold={high}: "
                             "the hysteresis low threshold must be <= the high one")
    if probs.ndim != 1:
        raise ParameterError(f"hysteresis takes one track of probabilities (frames,), got shape {tuple(probs.shape)}")
    above_low = probs >= low
    if not bool(above_low.any()):
        return above_low
    # label the runs of above_low, keep those holding a frame >= high
    starts = above_low & ~torch.nn.functional.pad(above_low[:-1], (1, 0), value=False)
    run_id = torch.cumsum(starts.long(), 0) * above_low
    strong = torch.zeros(int(run_id.max()) + 1, dtype=torch.bool)
    strong[run_id[probs >= high]] = True
    strong[0] = False
    return strong[run_id]


def _runs(active: torch.Tensor) -> list[tuple[int, int]]:
    """[a, b) frame runs of a boolean track."""
    edges = torch.diff(torch.nn.functional.pad(active.long(), (1, 1)))
    starts = torch.nonzero(edges == 1).flatten().tolist()
    stops = torch.nonzero(edges == -1).flatten().tolist()
    return list(zip(starts, stops))


def runs_to_segments(active: torch.Tensor, *, hop_s: float, min_duration_s: float = 0.0,
                     min_gap_s: float = 0.0) -> list[tuple[int, int]]:
    """Frame runs [a, b) of ``active`` after filling gaps < ``min_gap_s`` and dropping runs < ``min_duration_s``."""
    hop_s = check_positive_float("hop_s", hop_s, what="seconds between frames")
    min_duration_s = check_positive_float("min_duration_s", min_duration_s, allow_zero=True, what="seconds")
    min_gap_s = check_positive_float("min_gap_s", min_gap_s, allow_zero=True, what="seconds")
    merged: list[list[int]] = []
    for a, b in _runs(active):
        if merged and (a - merged[-1][1]) * hop_s < min_gap_s - 1e-9:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    return [(a, b) for a, b in merged if (b - a) * hop_s >= min_duration_s - 1e-9]


@dataclass(frozen=True)
class PostProcessing:
    """The settings of :func:`frames_to_events` (a model config's ``postprocess`` section)."""

    threshold: float = 0.5
    low_threshold: float | None = None
    median_frames: int = 1
    min_duration_s: float = 0.0
    min_gap_s: float = 0.0
    merge_classes: bool = True

    def __post_init__(self) -> None:
        check_unit_interval("threshold", self.threshold, what="a probability threshold")
        if self.low_threshold is not None:
            low = check_unit_interval("low_threshold", self.low_threshold, what="a probability threshold")
            if low > self.threshold:
                raise ParameterError(f"low_threshold={low} is above threshold={self.threshold}: give low <= threshold")
        check_positive_int("median_frames", self.median_frames, what="frames (odd)")
        if self.median_frames % 2 == 0:
            raise ParameterError(f"median_frames={self.median_frames} is invalid: expected an odd number of frames")
        check_positive_float("min_duration_s", self.min_duration_s, allow_zero=True, what="seconds")
        check_positive_float("min_gap_s", self.min_gap_s, allow_zero=True, what="seconds")


def frames_to_events(probs: torch.Tensor, *, classes: Sequence[str], hop_s: float,
                     settings: PostProcessing = PostProcessing(), start_frame: int = 0) -> list[Event]:
    """Events (onset order) from probabilities (frames, classes); see the module docstring.

    ``start_frame`` is the index of the first row in the recording (times are ``(start_frame + k)·hop_s``).
    """
    if probs.ndim != 2 or probs.shape[1] != len(classes):
        raise ParameterError(f"probabilities of shape {tuple(probs.shape)}: expected (frames, {len(classes)}) "
                             f"for the classes {list(classes)}")
    p = median_filter(probs.double().T, width=settings.median_frames).T
    tracks = [(None, p.max(dim=1).values)] if settings.merge_classes else list(enumerate(p.T))
    events = []
    for c, track in tracks:
        active = hysteresis(track, high=settings.threshold, low=settings.low_threshold)
        for a, b in runs_to_segments(active, hop_s=hop_s, min_duration_s=settings.min_duration_s,
                                     min_gap_s=settings.min_gap_s):
            k = int(p[a:b].mean(0).argmax()) if c is None else c
            events.append(Event((start_frame + a) * hop_s, (start_frame + b) * hop_s, classes[k], float(p[a:b, k].mean())))
    events.sort(key=lambda e: (e.onset_s, e.label))
    return events
