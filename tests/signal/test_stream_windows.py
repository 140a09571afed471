"""The one windowing rule (window_spans) and its streaming form (stream_windows): a stream cut
into any blocks gives the windows of the whole signal."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from polysense.errors import ParameterError
from polysense.signal.streaming import stream_windows, window_spans


def test_spans_every_hop_with_a_tail_ending_at_the_end():
    assert list(window_spans([10], window=4, hop=3)) == [(0, 4), (3, 7), (6, 10)]
    assert list(window_spans([11], window=4, hop=3)) == [(0, 4), (3, 7), (6, 10), (7, 11)]
    assert list(window_spans([11], window=4, hop=4, tail="rest")) == [(0, 4), (4, 8), (8, 11)]
    assert list(window_spans([3], window=4, hop=2)) == [(0, 3)]  # shorter than a window: one window
    assert list(window_spans([], window=4, hop=2)) == []
    with pytest.raises(ParameterError, match="tail='start' is invalid"):
        list(window_spans([3], window=4, hop=2, tail="start"))


@settings(deadline=None, max_examples=80)
@given(total=st.integers(0, 300), window=st.integers(1, 50), hop_fraction=st.floats(0.05, 1.0),
       cuts=st.lists(st.integers(0, 300), max_size=6), tail=st.sampled_from(["end", "rest"]))
def test_a_stream_in_any_blocks_gives_the_windows_of_the_whole(total, window, hop_fraction, cuts, tail):
    hop = max(1, round(window * hop_fraction))
    signal = torch.randn(total, generator=torch.Generator().manual_seed(total))
    bounds = [0, *sorted(c for c in cuts if c <= total), total]
    blocks = [signal[a:b] for a, b in zip(bounds, bounds[1:])]
    streamed = [(start, w.clone()) for start, w in stream_windows(iter(blocks), window=window, hop=hop, tail=tail)]
    whole = list(window_spans([total], window=window, hop=hop, tail=tail))
    assert [s for s, _ in streamed] == [s for s, _ in whole]
    for (start, w), (_, end) in zip(streamed, whole):
        assert torch.equal(w, signal[start:end])
    if total:  # the windows reach the end, and start every hop before the tail
        assert whole[-1][1] == total and all(b - a == hop for (a, _), (b, _) in zip(whole[:-2], whole[1:-1]))
