"""Diarization error rate (NIST RT; pyannote.metrics' definition without collar, overlap scored).

Time is cut at every boundary of either annotation. On each piece of duration ``d``, with ``N_ref``
reference speakers and ``N_hyp`` hypothesis speakers active and ``N_correct`` of them paired by the
mapping below::

    missed       += d · max(0, N_ref − N_hyp)
    false alarm  += d · max(0, N_hyp − N_ref)
    confusion    += d · (min(N_ref, N_hyp) − N_correct)
    total        += d · N_ref
    DER = (missed + false alarm + confusion) / total

The mapping pairs hypothesis labels with reference labels one to one so as to maximise their total
co-occurrence time (Hungarian algorithm): cluster names never matter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from polysense.data.events import Event, check_events
from polysense.errors import ParameterError

__all__ = ["DiarizationScores", "diarization_error_rate"]


@dataclass(frozen=True)
class DiarizationScores:
    """The DER and its parts, in seconds (``total`` = reference speech time)."""

    der: float
    missed_s: float
    false_alarm_s: float
    confusion_s: float
    total_s: float
    mapping: dict

    def as_dict(self) -> dict:
        return asdict(self)


def _who(events: Sequence[Event]) -> list[str]:
    out = []
    for k, e in enumerate(events):
        if e.speaker is None:
            raise ParameterError(f"event {k} ({e.onset_s:g}-{e.offset_s:g} s) has no speaker: diarization scores "
                                 "events labelled with who speaks (Event.speaker)")
        out.append(e.speaker)
    return out


def _activity(events: Sequence[Event], names: list[str], starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """(pieces, speakers) bool: speaker active over each elementary piece."""
    active = np.zeros((starts.size, len(names)), dtype=bool)
    index = {n: k for k, n in enumerate(names)}
    for e in events:
        active[(starts >= e.onset_s) & (stops <= e.offset_s), index[e.speaker]] = True
    return active


def diarization_error_rate(reference: Sequence[Event], hypothesis: Sequence[Event]) -> DiarizationScores:
    """DER of ``hypothesis`` against ``reference``, both events with ``speaker`` set (module docstring)."""
    check_events(reference, what="reference")
    check_events(hypothesis, what="hypothesis")
    ref_names = sorted(set(_who(reference)))
    hyp_names = sorted(set(_who(hypothesis)))
    bounds = np.unique([t for e in (*reference, *hypothesis) for t in (e.onset_s, e.offset_s)])
    if bounds.size < 2:
        return DiarizationScores(0.0, 0.0, 0.0, 0.0, 0.0, {})
    starts, stops = bounds[:-1], bounds[1:]
    d = stops - starts
    r = _activity(reference, ref_names, starts, stops)
    h = _activity(hypothesis, hyp_names, starts, stops)
    overlap = (r.astype(float) * d[:, None]).T @ h.astype(float)  # (ref, hyp) co-occurrence seconds
    rows, cols = linear_sum_assignment(-overlap) if overlap.size else (np.array([], int), np.array([], int))
    mapping = {hyp_names[c]: ref_names[r_] for r_, c in zip(rows, cols) if overlap[r_, c] > 0}
    correct = np.zeros(starts.size)
    for r_, c in zip(rows, cols):
        correct += r[:, r_] & h[:, c]
    n_ref, n_hyp = r.sum(1), h.sum(1)
    missed = float((d * np.maximum(0, n_ref - n_hyp)).sum())
    false_alarm = float((d * np.maximum(0, n_hyp - n_ref)).sum())
    confusion = float((d * (np.minimum(n_ref, n_hyp) - correct)).sum())
    total = float((d * n_ref).sum())
    der = (missed + false_alarm + confusion) / total if total > 0 else (0.0 if missed + false_alarm == 0 else np.inf)
    return DiarizationScores(der, missed, false_alarm, confusion, total, mapping)
