"""The samples of events: one padding rule and one cut, for a recording on disk and for one in memory.

The second stage of detection (:func:`polysense.detect.service.classify_events`) hears each event
as its samples widened by ``pad_s`` seconds on each side; the classifier trained for it
(``fsdd_scenes`` with ``items="words"``) hears its training words cut by the same function, so
the two cannot drift apart.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch

from polysense import audio as audio_io
from polysense._checks import check_positive_float, check_sample_rate
from polysense.data.events import Event
from polysense.errors import ParameterError

__all__ = ["event_waveforms", "padded_span"]


def padded_span(event: Event, *, pad_s: float) -> tuple[float, float]:
    """``(begin_s, duration_s)`` of ``[onset − pad_s, offset + pad_s)`` seconds with the begin clipped at 0
    (the end is clipped by the reader, at the end of the recording)."""
    begin = max(0.0, event.onset_s - pad_s)
    return begin, event.offset_s + pad_s - begin


def event_waveforms(source: str | os.PathLike | torch.Tensor, events: Sequence[Event], *, sample_rate: int,
                    pad_s: float = 0.0) -> list[torch.Tensor]:
    """The samples of each event at ``sample_rate`` Hz: ``[onset − pad_s, offset + pad_s)`` seconds
    (:func:`padded_span`) clipped to the recording.

    ``source`` is a recording's path, read span by span (the whole recording is never held; resampled
    to ``sample_rate`` when the file's rate differs), or a waveform ``(T,)`` already at ``sample_rate``,
    sliced at the frames the reader would read (:func:`polysense.audio.span_frames`): a waveform and
    the same waveform written to a file at its rate give the same samples.
    """
    pad_s = check_positive_float("pad_s", pad_s, allow_zero=True, what="seconds")
    sample_rate = check_sample_rate(sample_rate, integer=True)
    if isinstance(source, torch.Tensor) and source.dim() != 1:
        raise ParameterError(f"the recording has shape {tuple(source.shape)}: give a mono waveform (T,) or a path")
    pieces = []
    for e in events:
        begin, duration = padded_span(e, pad_s=pad_s)
        if isinstance(source, torch.Tensor):
            first, stop = audio_io.span_frames(begin, duration, sample_rate=sample_rate, frames=source.shape[-1])
            piece = source[first:stop]
        else:
            piece, _ = audio_io.load(source, sample_rate=sample_rate, offset_s=begin, duration_s=duration)
        pieces.append(piece)
    return pieces
