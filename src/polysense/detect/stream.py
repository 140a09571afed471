"""Detection over a recording of any length, in bounded memory.

:func:`detect_file` reads the file block by block (:func:`polysense.audio.blocks`, resampled on the
fly to the model's rate), computes log-mel frames with the front end's streaming path
(:class:`~polysense.signal.StreamingLogMel`, equal to the one-shot features), and runs the network
on windows of ``window_s`` seconds of frames with ``context_s`` seconds of frames on each side
(the GRU and the convolutions see that context; only the window's own frames are kept). The frame
probabilities go to an :class:`EventStream`, which turns them into events as soon as they cannot
change any more.

:class:`EventStream` gives exactly the events of :func:`~polysense.detect.postprocess.frames_to_events`
over the whole track: it cuts the pending frames only in the middle of a quiet stretch (every
class below the low threshold) long enough that neither the median filter nor gap filling can
reach across it, so each side is post-processed alone with the same result. Sound that never pauses
for ``max_pending_s`` seconds is cut there anyway (the only approximation; it bounds memory).

Memory: the file's current block, one window of frames plus its context, and the pending frames,
whatever the recording's length (:class:`DetectionStats` reports the peaks).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from polysense._checks import check_positive_float
from polysense.audio import blocks, info
from polysense.data.events import Event
from polysense.detect.postprocess import PostProcessing, frames_to_events
from polysense.errors import ParameterError

__all__ = ["DetectionStats", "EventStream", "detect_file", "detect_frames"]


@dataclass
class DetectionStats:
    """What a detection pass held at most, and how much it read."""

    samples: int = 0
    frames: int = 0
    max_window_frames: int = 0
    max_pending_frames: int = 0
    forced_cuts: int = 0
    pooled_features: torch.Tensor | None = field(default=None, repr=False)


class EventStream:
    """Frame probabilities in, events out, as :func:`frames_to_events` on the whole track (module docstring)."""

    def __init__(self, *, classes: Sequence[str], hop_s: float, settings: PostProcessing,
                 max_pending_s: float = 600.0) -> None:
        self.classes = tuple(classes)
        self.hop_s = check_positive_float("hop_s", hop_s, what="seconds between frames")
        self.settings = settings
        low = settings.threshold if settings.low_threshold is None else settings.low_threshold
        self.low = low
        # half a quiet stretch: the median's reach + the longest gap filled + 1
        self.guard = settings.median_frames // 2 + int(math.ceil(settings.min_gap_s / self.hop_s)) + 1
        self.max_pending = max(4 * self.guard, int(check_positive_float("max_pending_s", max_pending_s) / self.hop_s))
        self.pending = torch.zeros(0, len(self.classes), dtype=torch.float64)
        self.start = 0  # global index of pending[0]
        self.max_pending_frames = 0
        self.forced_cuts = 0

    def _emit(self, stop: int) -> list[Event]:
        part, self.pending = self.pending[:stop], self.pending[stop:]
        first = self.start
        self.start += stop
        if part.shape[0] == 0:
            return []
        return frames_to_events(part, classes=self.classes, hop_s=self.hop_s, settings=self.settings, start_frame=first)

    def push(self, probs: torch.Tensor) -> list[Event]:
        """Add (frames, classes) probabilities; return the events now settled (onset order)."""
        self.pending = torch.cat([self.pending, probs.double()])
        self.max_pending_frames = max(self.max_pending_frames, self.pending.shape[0])
        quiet = (self.pending.max(dim=1).values < self.low).long()
        width = 2 * self.guard
        if quiet.shape[0] >= width:
            runs = torch.nn.functional.conv1d(quiet[None, None].double(), torch.ones(1, 1, width, dtype=torch.float64))[0, 0]
            ok = torch.nonzero(runs >= width).flatten()  # windows [k, k + width) all quiet
            if ok.numel():
                return self._emit(int(ok[-1]) + self.guard)
        if self.pending.shape[0] > self.max_pending:
            self.forced_cuts += 1
            return self._emit(self.pending.shape[0] - width)
        return []

    def flush(self) -> list[Event]:
        """The remaining events (end of the recording)."""
        return self._emit(self.pending.shape[0])


def detect_frames(frames: Iterable[torch.Tensor], logits_of: Callable[[torch.Tensor], torch.Tensor], *,
                  window_frames: int, context_frames: int, stats: DetectionStats | None = None
                  ) -> Iterable[torch.Tensor]:
    """Yield the network's outputs (frames, K) for a stream of feature pieces (F, k), window by window.

    ``logits_of`` maps features (F, n) to outputs (n, K); each window of ``window_frames`` is run with
    up to ``context_frames`` of its neighbours on each side and only its own outputs kept.
    """
    buffer: torch.Tensor | None = None
    buffer_start = 0  # global index of buffer's first frame
    done = 0  # frames whose outputs were yielded
    for piece in frames:
        buffer = piece if buffer is None else torch.cat([buffer, piece], dim=-1)
        while buffer.shape[-1] + buffer_start >= done + window_frames + context_frames:
            lo = max(buffer_start, done - context_frames)
            hi = done + window_frames + context_frames
            chunk = buffer[:, lo - buffer_start: hi - buffer_start]
            if stats is not None:
                stats.max_window_frames = max(stats.max_window_frames, chunk.shape[-1])
            out = logits_of(chunk)
            yield out[done - lo: done - lo + window_frames]
            done += window_frames
            keep_from = max(buffer_start, done - context_frames)
            buffer = buffer[:, keep_from - buffer_start:]
            buffer_start = keep_from
    if buffer is not None and buffer_start + buffer.shape[-1] > done:
        lo = max(buffer_start, done - context_frames)
        chunk = buffer[:, lo - buffer_start:]
        if stats is not None:
            stats.max_window_frames = max(stats.max_window_frames, chunk.shape[-1])
        yield logits_of(chunk)[done - lo:]


def _pool_columns(piece: torch.Tensor, state: dict, factor: int) -> None:
    """Keep the features averaged over ``factor`` frames (a bounded picture of the whole recording)."""
    rest = torch.cat([state.get("rest", piece[:, :0]), piece], dim=-1)
    whole = rest.shape[-1] // factor * factor
    if whole:
        state.setdefault("pooled", []).append(rest[:, :whole].reshape(rest.shape[0], -1, factor).mean(-1))
    state["rest"] = rest[:, whole:]


def detect_file(model: torch.nn.Module, path: str | os.PathLike, *, classes: Sequence[str] | None = None,
                threshold: float | None = None, window_s: float = 30.0, context_s: float = 2.0,
                block_s: float = 5.0, max_pending_s: float = 600.0, keep_picture_columns: int = 0,
                stats: DetectionStats | None = None) -> list[Event]:
    """Events in the recording ``path`` found by a frame detector (``frame_crnn``), in bounded memory.

    Args:
        model: a trained frame detector (``stream()``, ``frame_logits``, ``probabilities``, ``postprocess``).
        path: any audio file the model's rate can be resampled from.
        classes: the class names (the run's); default ``"0"``, ``"1"``, ...
        threshold: replaces the model's post-processing threshold (in [0, 1]); the low threshold
            keeps its distance below it (clipped at 0).
        window_s, context_s: seconds of frames per network call and of context on each side.
        block_s: seconds of audio read at a time.
        keep_picture_columns: when > 0, ``stats.pooled_features`` gets the log-mel averaged down to
            about that many columns (for a figure of the whole recording).
    """
    from dataclasses import replace

    path = Path(path)
    rate = int(model.sample_rate)
    names = tuple(classes) if classes is not None else tuple(str(c) for c in range(model.num_classes))
    settings = model.postprocess
    if threshold is not None:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
            raise ParameterError(f"threshold={threshold!r} is invalid: expected a probability in [0, 1]")
        low = None if settings.low_threshold is None else max(0.0, settings.low_threshold - settings.threshold + threshold)
        settings = replace(settings, threshold=float(threshold), low_threshold=low)
    hop = model.hop_length
    window = max(1, int(round(check_positive_float("window_s", window_s, what="seconds") * rate / hop)))
    context = int(round(check_positive_float("context_s", context_s, allow_zero=True, what="seconds") * rate / hop))
    block = max(1, int(round(check_positive_float("block_s", block_s, what="seconds") * rate)))
    described = info(path)
    expected = int(described.frames * rate / described.sample_rate)
    if expected < model.min_samples:
        raise ParameterError(
            f"{path}: {described.duration_s:.3f} s is shorter than the detector's analysis window "
            f"({model.min_samples / rate:.3f} s at {rate} Hz): give a longer recording")
    stats = stats if stats is not None else DetectionStats()
    factor = max(1, -(-(expected // hop + 1) // keep_picture_columns)) if keep_picture_columns else 0
    picture: dict = {}
    front = model.stream()

    def features() -> Iterable[torch.Tensor]:
        for samples in blocks(path, block_size=block, sample_rate=rate, mono=True):
            stats.samples += samples.shape[-1]
            piece = front.push(samples.float())
            if piece.shape[-1]:
                if factor:
                    _pool_columns(piece, picture, factor)
                stats.frames += piece.shape[-1]
                yield piece
        piece = front.flush()
        if piece.shape[-1]:
            if factor:
                _pool_columns(piece, picture, factor)
            stats.frames += piece.shape[-1]
            yield piece

    @torch.no_grad()
    def logits_of(chunk: torch.Tensor) -> torch.Tensor:
        return model.probabilities(model.frame_logits(chunk[None]))[0]

    was_training = model.training
    model.eval()
    events_out = EventStream(classes=names, hop_s=hop / rate, settings=settings, max_pending_s=max_pending_s)
    found: list[Event] = []
    try:
        for probs in detect_frames(features(), logits_of, window_frames=window, context_frames=context, stats=stats):
            found.extend(events_out.push(probs))
        found.extend(events_out.flush())
    finally:
        model.train(was_training)
    end = stats.samples / rate  # the last frame's span may pass the end of the recording by a hop
    found = [e if e.offset_s <= end else replace(e, offset_s=end) for e in found if e.onset_s < end]
    stats.max_pending_frames = events_out.max_pending_frames
    stats.forced_cuts = events_out.forced_cuts
    if factor and picture.get("pooled"):
        stats.pooled_features = torch.cat(picture["pooled"], dim=-1)
    return found
