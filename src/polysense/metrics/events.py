"""Sound event detection metrics as sed_eval defines them (Mesaros, Heittola & Virtanen 2016).

Both take the reference and the estimated events of each recording (a sequence of
:class:`~polysense.data.events.Event` for one recording, or a mapping recording → events) and
accumulate counts over all recordings (micro-average, sed_eval's "overall" metrics).

**Event-based** (:func:`event_based_metrics`). An estimated event is correct when its label equals
a reference event's, its onset is within ``t_collar`` of the reference onset and (with
``evaluate_offset``) its offset within ``max(t_collar, percentage_of_length · reference length)``
of the reference offset. Each reference matches at most one estimate: the number of correct events
``TP`` is the size of a maximum bipartite matching (sed_eval's "optimal" matching). Among the
leftovers, a reference and an estimate that would match but for the label count as one
substitution ``S`` (greedily, in reference order); then ``D = N_ref − TP − S``, ``I = N_sys − TP − S``::

    P = TP / N_sys,  R = TP / N_ref,  F = 2PR / (P + R),  ER = (S + D + I) / N_ref

**Segment-based** (:func:`segment_based_metrics`). Time is cut into segments of ``time_resolution``
seconds; a class is active in a segment when an event of it overlaps the segment (onset floored,
offset ceiled to segments). Per segment, ``TP`` = classes active in both, ``N_ref``/``N_sys`` the
active classes in each, ``S = min(N_ref, N_sys) − TP``, ``D = max(0, N_ref − N_sys)``,
``I = max(0, N_sys − N_ref)``; all summed over segments and recordings, then P, R, F and
``ER = (S + D + I) / N_ref`` as above. A recording is evaluated up to ``evaluated_length_s`` (its
length when given) or to the last offset of either list.

The matching uses scipy's maximum bipartite matching; its size (hence TP, P, R, F) is the one
sed_eval finds. Which maximum matching is picked can change the substitution count in rare ties, so
ER may differ from sed_eval's by a substitution traded for a deletion + insertion.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from polysense._checks import check_positive_float, check_unit_interval
from polysense.data.events import Event, check_events
from polysense.errors import ParameterError

__all__ = ["DetectionScores", "event_based_metrics", "segment_based_metrics"]

EventLists = Sequence[Event] | Mapping[str, Sequence[Event]]


@dataclass(frozen=True)
class DetectionScores:
    """Overall counts and scores (see the module docstring)."""

    f_measure: float
    precision: float
    recall: float
    error_rate: float
    substitution_rate: float
    deletion_rate: float
    insertion_rate: float
    n_ref: int
    n_sys: int
    tp: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _pairs(reference: EventLists, estimated: EventLists) -> list[tuple[str, Sequence[Event], Sequence[Event]]]:
    ref_map = reference if isinstance(reference, Mapping) else {"": reference}
    est_map = estimated if isinstance(estimated, Mapping) else {"": estimated}
    extra = sorted(set(est_map) - set(ref_map))
    if extra:
        raise ParameterError(f"estimated events for recording(s) {extra[:3]} that have no reference: give a "
                             "reference list (possibly empty) for every recording evaluated")
    out = []
    for name, ref in ref_map.items():
        est = est_map.get(name, [])
        check_events(ref, what=f"reference[{name!r}]")
        check_events(est, what=f"estimated[{name!r}]")
        out.append((name, list(ref), list(est)))
    return out


def _scores(tp: float, n_ref: float, n_sys: float, s: float, d: float, i: float) -> DetectionScores:
    precision = tp / n_sys if n_sys else 0.0
    recall = tp / n_ref if n_ref else 0.0
    f = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    rate = (lambda x: x / n_ref) if n_ref else (lambda x: math.nan)
    return DetectionScores(f_measure=f, precision=precision, recall=recall, error_rate=rate(s + d + i),
                           substitution_rate=rate(s), deletion_rate=rate(d), insertion_rate=rate(i),
                           n_ref=int(n_ref), n_sys=int(n_sys), tp=int(tp))


def _matches(ref: Sequence[Event], est: Sequence[Event], *, t_collar: float, percentage_of_length: float,
             evaluate_onset: bool, evaluate_offset: bool) -> np.ndarray:
    """(N_ref, N_sys) bool: the times of estimate i are within the collars of reference j."""
    hit = np.ones((len(ref), len(est)), dtype=bool)
    if not ref or not est:
        return hit
    r_on = np.array([e.onset_s for e in ref])[:, None]
    r_off = np.array([e.offset_s for e in ref])[:, None]
    e_on = np.array([e.onset_s for e in est])[None, :]
    e_off = np.array([e.offset_s for e in est])[None, :]
    if evaluate_onset:
        hit &= np.abs(r_on - e_on) <= t_collar
    if evaluate_offset:
        hit &= np.abs(r_off - e_off) <= np.maximum(t_collar, percentage_of_length * (r_off - r_on))
    return hit


def _max_matching(hit: np.ndarray) -> list[tuple[int, int]]:
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_bipartite_matching

    if hit.size == 0 or not hit.any():
        return []
    match = maximum_bipartite_matching(csr_matrix(hit.astype(np.int8)), perm_type="column")
    return [(j, int(i)) for j, i in enumerate(match) if i >= 0]


def event_based_metrics(reference: EventLists, estimated: EventLists, *, t_collar: float = 0.2,
                        percentage_of_length: float = 0.5, evaluate_onset: bool = True,
                        evaluate_offset: bool = True) -> DetectionScores:
    """Event-based P/R/F and error rate with onset/offset collars (see the module docstring).

    Args:
        reference, estimated: the events of one recording, or recording name → events.
        t_collar: seconds (> 0) within which onsets (and offsets) must agree; 0.2 s is DCASE's.
        percentage_of_length: the offset may also be off by this share of the reference's length.
        evaluate_onset, evaluate_offset: which boundaries must agree.
    """
    t_collar = check_positive_float("t_collar", t_collar, what="seconds")
    percentage_of_length = check_unit_interval("percentage_of_length", percentage_of_length,
                                               what="a share of the reference event's length")
    tp = s = n_ref = n_sys = 0
    for _, ref, est in _pairs(reference, estimated):
        times = _matches(ref, est, t_collar=t_collar, percentage_of_length=percentage_of_length,
                         evaluate_onset=evaluate_onset, evaluate_offset=evaluate_offset)
        labels = np.array([[r.label == e.label for e in est] for r in ref], dtype=bool).reshape(len(ref), len(est))
        matching = _max_matching(times & labels)
        ref_ok = np.zeros(len(ref), dtype=bool)
        est_ok = np.zeros(len(est), dtype=bool)
        for j, i in matching:
            ref_ok[j] = est_ok[i] = True
        for j in np.flatnonzero(~ref_ok):  # substitutions: right time, wrong label (greedy, as sed_eval)
            for i in np.flatnonzero(~est_ok):
                if times[j, i]:
                    est_ok[i] = True
                    s += 1
                    break
        tp += len(matching)
        n_ref += len(ref)
        n_sys += len(est)
    return _scores(tp, n_ref, n_sys, s, n_ref - tp - s, n_sys - tp - s)


def _roll(events: Sequence[Event], labels: dict[str, int], segments: int, resolution: float) -> np.ndarray:
    roll = np.zeros((segments, len(labels)), dtype=bool)
    for e in events:
        if e.label not in labels:
            raise ParameterError(f"event label {e.label!r} is not among the labels {sorted(labels)}: "
                                 "give labels= with every class")
        roll[int(math.floor(e.onset_s / resolution)): int(math.ceil(e.offset_s / resolution)), labels[e.label]] = True
    return roll


def segment_based_metrics(reference: EventLists, estimated: EventLists, *, time_resolution: float = 1.0,
                          labels: Sequence[str] | None = None,
                          evaluated_length_s: float | Mapping[str, float] | None = None) -> DetectionScores:
    """Segment-based P/R/F and error rate over segments of ``time_resolution`` seconds (module docstring).

    ``labels``: the classes (default: every label of either list); ``evaluated_length_s``: the
    recording's length (or recording → length); default the last offset of either list.
    """
    time_resolution = check_positive_float("time_resolution", time_resolution, what="seconds per segment")
    pairs = _pairs(reference, estimated)
    names = sorted({e.label for _, ref, est in pairs for e in (*ref, *est)}) if labels is None else list(labels)
    index = {name: k for k, name in enumerate(names)}
    totals = dict(tp=0, n_ref=0, n_sys=0, s=0, d=0, i=0)
    for name, ref, est in pairs:
        if isinstance(evaluated_length_s, Mapping):
            length = evaluated_length_s.get(name)
        else:
            length = evaluated_length_s
        if length is None:
            length = max([e.offset_s for e in (*ref, *est)], default=0.0)
        segments = int(math.ceil(length / time_resolution))
        span = max(segments, int(math.ceil(max([e.offset_s for e in (*ref, *est)], default=0.0) / time_resolution)))
        r = _roll(ref, index, span, time_resolution)[:segments]
        e = _roll(est, index, span, time_resolution)[:segments]
        tp = (r & e).sum(1)
        nr, ns = r.sum(1), e.sum(1)
        totals["tp"] += int(tp.sum())
        totals["n_ref"] += int(nr.sum())
        totals["n_sys"] += int(ns.sum())
        totals["s"] += int((np.minimum(nr, ns) - tp).sum())
        totals["d"] += int(np.maximum(0, nr - ns).sum())
        totals["i"] += int(np.maximum(0, ns - nr).sum())
    return _scores(totals["tp"], totals["n_ref"], totals["n_sys"], totals["s"], totals["d"], totals["i"])
