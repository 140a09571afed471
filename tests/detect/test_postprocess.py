"""Post-processing of frame probabilities: median filter vs scipy, hysteresis and run rules vs plain loops."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import median_filter as scipy_median

from polysense.data.events import Event
from polysense.detect.postprocess import PostProcessing, frames_to_events, hysteresis, median_filter, runs_to_segments
from polysense.errors import ParameterError


@pytest.mark.parametrize("width", [1, 3, 5, 9])
@pytest.mark.parametrize("frames", [1, 4, 50])
def test_median_filter_equals_scipy(width, frames):
    x = torch.rand(3, frames, generator=torch.Generator().manual_seed(width * 100 + frames), dtype=torch.float64)
    expected = scipy_median(x.numpy(), size=(1, width), mode="nearest")
    torch.testing.assert_close(median_filter(x, width=width), torch.from_numpy(expected), rtol=0, atol=0)


def reference_hysteresis(p, high, low):
    """Plain loop: scan runs of p >= low, keep those reaching high."""
    out = np.zeros(len(p), dtype=bool)
    k = 0
    while k < len(p):
        if p[k] >= low:
            j = k
            while j < len(p) and p[j] >= low:
                j += 1
            if (p[k:j] >= high).any():
                out[k:j] = True
            k = j
        else:
            k += 1
    return out


@pytest.mark.parametrize("seed", range(20))
def test_hysteresis_equals_a_plain_loop(seed):
    p = torch.rand(200, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    p = torch.from_numpy(np.convolve(p.numpy(), np.ones(5) / 5, mode="same"))  # smooth: longer runs
    got = hysteresis(p, high=0.6, low=0.45)
    assert np.array_equal(got.numpy(), reference_hysteresis(p.numpy(), 0.6, 0.45))
    assert torch.equal(hysteresis(p, high=0.5), p >= 0.5)


def test_hysteresis_keeps_a_weak_tail_only_when_attached_to_a_strong_frame():
    p = torch.tensor([0.1, 0.45, 0.7, 0.45, 0.1, 0.45, 0.45, 0.1])
    assert hysteresis(p, high=0.6, low=0.4).tolist() == [False, True, True, True, False, False, False, False]


def test_runs_fill_short_gaps_then_drop_short_runs():
    active = torch.tensor([1, 1, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1], dtype=torch.bool)
    # hop 0.1 s: gap of 1 frame (0.1 s) filled with min_gap 0.15, gaps of 3 frames kept
    assert runs_to_segments(active, hop_s=0.1, min_gap_s=0.15) == [(0, 5), (8, 9), (12, 16)]
    assert runs_to_segments(active, hop_s=0.1, min_gap_s=0.15, min_duration_s=0.2) == [(0, 5), (12, 16)]
    assert runs_to_segments(active, hop_s=0.1) == [(0, 2), (3, 5), (8, 9), (12, 16)]


def test_frames_to_events_labels_segments_by_their_mean_class():
    probs = torch.zeros(20, 2, dtype=torch.float64)
    probs[2:6, 0] = 0.9
    probs[4:6, 1] = 0.95  # the tail leans to class 1, but the segment's mean says class 0
    probs[10:15, 1] = 0.8
    events = frames_to_events(probs, classes=("a", "b"), hop_s=0.1, start_frame=10)
    assert [(round(e.onset_s, 6), round(e.offset_s, 6), e.label) for e in events] == [(1.2, 1.6, "a"), (2.0, 2.5, "b")]
    assert events[0].score == pytest.approx(0.9)
    per_class = frames_to_events(probs, classes=("a", "b"), hop_s=0.1, settings=PostProcessing(merge_classes=False))
    assert [e.label for e in per_class] == ["a", "b", "b"]


def test_bad_settings_are_refused():
    with pytest.raises(ParameterError, match="threshold=1.5"):
        PostProcessing(threshold=1.5)
    with pytest.raises(ParameterError, match="low_threshold=0.7 is above threshold=0.5"):
        PostProcessing(low_threshold=0.7)
    with pytest.raises(ParameterError, match="median_frames=4"):
        PostProcessing(median_frames=4)
    with pytest.raises(ParameterError, match=r"expected \(frames, 2\)"):
        frames_to_events(torch.zeros(5, 3), classes=("a", "b"), hop_s=0.1)


def test_event_roundtrip_fields():
    e = Event(1.23456, 2.5, "seven", 0.91234, speaker="theo")
    assert e.as_dict() == {"onset": 1.2346, "offset": 2.5, "label": "seven", "score": 0.9123, "speaker": "theo"}
