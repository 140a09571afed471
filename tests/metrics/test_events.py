"""Event- and segment-based detection metrics against sed_eval (the field's reference implementation)."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from polysense.data.events import Event
from polysense.errors import ParameterError
from polysense.metrics.events import event_based_metrics, segment_based_metrics

LABELS = ["a", "b", "c"]


@pytest.fixture(scope="module")
def sed_eval():
    # dcase_util imports pkg_resources at import time only for version reports; setuptools >= 81 no
    # longer ships it, so an empty stand-in lets sed_eval's metric code (which never uses it) load.
    sys.modules.setdefault("pkg_resources", types.ModuleType("pkg_resources"))
    return pytest.importorskip("sed_eval", reason="sed_eval (the reference metrics) is not installed: pip install sed_eval")


def random_events(rng: np.random.Generator, n: int, length: float = 30.0) -> list[Event]:
    out = []
    for _ in range(n):
        onset = float(np.round(rng.uniform(0, length - 2), 3))
        out.append(Event(onset, float(np.round(onset + rng.uniform(0.1, 2.0), 3)), str(rng.choice(LABELS))))
    return out


def jitter(rng: np.random.Generator, events: list[Event]) -> list[Event]:
    """An imperfect system: most events kept with shifted times, some relabelled, some dropped, some added."""
    out = []
    for e in events:
        if rng.uniform() < 0.15:
            continue
        on = max(0.0, e.onset_s + rng.normal(0, 0.15))
        off = max(on + 0.05, e.offset_s + rng.normal(0, 0.2))
        label = str(rng.choice(LABELS)) if rng.uniform() < 0.15 else e.label
        out.append(Event(round(on, 3), round(off, 3), label))
    return out + random_events(rng, int(rng.integers(0, 4)))


def as_dicts(events, name="f.wav"):
    return [{"filename": name, "event_label": e.label, "onset": e.onset_s, "offset": e.offset_s} for e in events]


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("collar, offsets", [(0.2, True), (0.25, False)])
def test_event_based_equals_sed_eval(sed_eval, seed, collar, offsets):
    rng = np.random.default_rng(seed)
    files = {f"f{k}.wav": random_events(rng, int(rng.integers(3, 12))) for k in range(3)}
    estimated = {name: jitter(rng, ref) for name, ref in files.items()}
    reference_metrics = sed_eval.sound_event.EventBasedMetrics(event_label_list=LABELS, t_collar=collar,
                                                               percentage_of_length=0.5, evaluate_offset=offsets)
    for name in files:
        reference_metrics.evaluate(as_dicts(files[name], name), as_dicts(estimated[name], name))
    expected = reference_metrics.results_overall_metrics()
    ours = event_based_metrics(files, estimated, t_collar=collar, percentage_of_length=0.5, evaluate_offset=offsets)
    assert ours.f_measure == pytest.approx(expected["f_measure"]["f_measure"], abs=1e-12)
    assert ours.precision == pytest.approx(expected["f_measure"]["precision"], abs=1e-12)
    assert ours.recall == pytest.approx(expected["f_measure"]["recall"], abs=1e-12)
    # error rates agree unless a tie in the matching trades a substitution for a deletion + insertion
    assert ours.error_rate == pytest.approx(expected["error_rate"]["error_rate"], abs=1e-12)
    assert ours.deletion_rate == pytest.approx(expected["error_rate"]["deletion_rate"], abs=1e-12)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("resolution", [1.0, 0.1])
def test_segment_based_equals_sed_eval(sed_eval, seed, resolution):
    rng = np.random.default_rng(100 + seed)
    files = {f"f{k}.wav": random_events(rng, int(rng.integers(3, 12))) for k in range(3)}
    estimated = {name: jitter(rng, ref) for name, ref in files.items()}
    reference_metrics = sed_eval.sound_event.SegmentBasedMetrics(event_label_list=LABELS, time_resolution=resolution)
    for name in files:
        reference_metrics.evaluate(as_dicts(files[name], name), as_dicts(estimated[name], name))
    expected = reference_metrics.results_overall_metrics()
    ours = segment_based_metrics(files, estimated, time_resolution=resolution, labels=LABELS)
    assert ours.f_measure == pytest.approx(expected["f_measure"]["f_measure"], abs=1e-12)
    assert ours.error_rate == pytest.approx(expected["error_rate"]["error_rate"], abs=1e-12)
    assert ours.insertion_rate == pytest.approx(expected["error_rate"]["insertion_rate"], abs=1e-12)
    assert ours.substitution_rate == pytest.approx(expected["error_rate"]["substitution_rate"], abs=1e-12)


def test_event_based_by_hand():
    ref = [Event(1.0, 2.0, "a"), Event(3.0, 4.0, "b"), Event(6.0, 7.0, "a")]
    est = [Event(1.15, 2.1, "a"),   # correct
           Event(3.1, 3.9, "a"),    # right time, wrong label: substitution
           Event(6.5, 7.0, "a"),    # onset 0.5 s late: wrong
           Event(9.0, 9.5, "c")]    # insertion
    s = event_based_metrics(ref, est, t_collar=0.2)
    assert (s.tp, s.n_ref, s.n_sys) == (1, 3, 4)
    assert s.f_measure == pytest.approx(2 * 1 / (3 + 4))
    assert s.substitution_rate == pytest.approx(1 / 3)
    assert s.deletion_rate == pytest.approx(1 / 3)      # 6-7 s missed
    assert s.insertion_rate == pytest.approx(2 / 3)     # the late one and 9-9.5 s
    assert s.error_rate == pytest.approx(4 / 3)


def test_segment_based_by_hand():
    ref = [Event(0.2, 1.5, "a")]            # segments 0, 1
    est = [Event(1.2, 2.4, "a"), Event(0.0, 0.5, "b")]  # a in 1, 2; b in 0
    s = segment_based_metrics(ref, est, time_resolution=1.0)
    # segment 0: ref {a}, sys {b}: S=1; segment 1: TP; segment 2: I=1
    assert (s.tp, s.n_ref, s.n_sys) == (1, 2, 3)
    assert s.error_rate == pytest.approx((1 + 0 + 1) / 2)


def test_bad_events_are_refused():
    with pytest.raises(ParameterError, match=r"estimated\[''\]\[0\] has onset 2.0 s and offset 1.0 s"):
        event_based_metrics([Event(0.0, 1.0, "a")], [Event(2.0, 1.0, "a")])
    with pytest.raises(ParameterError, match="t_collar=0"):
        event_based_metrics([], [], t_collar=0)
    with pytest.raises(ParameterError, match=r"recording\(s\) \['x'\]"):
        event_based_metrics({"y": []}, {"x": [Event(0.0, 1.0, "a")]})
