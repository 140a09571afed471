"""Diarization error rate against pyannote.metrics (the field's reference implementation)."""

from __future__ import annotations

import numpy as np
import pytest

from polysense.data.events import Event
from polysense.errors import ParameterError
from polysense.metrics.diarization import diarization_error_rate


def random_turns(rng, speakers, n, length=60.0):
    """Turns of each speaker one after another (a voice never overlaps itself; different voices may)."""
    out = []
    for speaker in speakers:
        t = 0.0
        for _ in range(n // len(speakers)):
            onset = float(np.round(t + rng.uniform(0.0, 6.0), 2))
            offset = float(np.round(onset + rng.uniform(0.2, 3.0), 2))
            if offset > length:
                break
            out.append(Event(onset, offset, "speech", speaker=speaker))
            t = offset
    return out


@pytest.mark.parametrize("seed", range(10))
def test_der_equals_pyannote(seed):
    metrics = pytest.importorskip("pyannote.metrics.diarization", reason="pyannote.metrics (reference) not installed")
    from pyannote.core import Annotation, Segment

    rng = np.random.default_rng(seed)
    reference = random_turns(rng, ["ann", "bob", "cy"], 15)
    hypothesis = random_turns(rng, ["s1", "s2", "s3", "s4"], 18)

    def annotation(events):
        a = Annotation()
        for k, e in enumerate(events):
            a[Segment(e.onset_s, e.offset_s), k] = e.speaker
        return a

    expected = metrics.DiarizationErrorRate(collar=0.0, skip_overlap=False)(
        annotation(reference), annotation(hypothesis), detailed=True)
    got = diarization_error_rate(reference, hypothesis)
    assert got.der == pytest.approx(expected["diarization error rate"], abs=1e-9)
    assert got.missed_s == pytest.approx(expected["missed detection"], abs=1e-9)
    assert got.false_alarm_s == pytest.approx(expected["false alarm"], abs=1e-9)
    assert got.confusion_s == pytest.approx(expected["confusion"], abs=1e-9)


def test_der_by_hand():
    reference = [Event(0, 10, "speech", speaker="a"), Event(12, 20, "speech", speaker="b")]
    hypothesis = [Event(0, 8, "speech", speaker="x"), Event(8, 10, "speech", speaker="y"),
                  Event(12, 21, "speech", speaker="y")]
    s = diarization_error_rate(reference, hypothesis)
    assert (s.missed_s, s.false_alarm_s, s.confusion_s, s.total_s) == (0.0, 1.0, 2.0, 18.0)
    assert s.der == pytest.approx(3 / 18) and s.mapping == {"x": "a", "y": "b"}


def test_events_without_speaker_are_refused():
    with pytest.raises(ParameterError, match="event 0 .* has no speaker"):
        diarization_error_rate([Event(0, 1, "speech")], [])
