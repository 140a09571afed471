"""Audio windows, index-type choice and the folder scan's rules."""

from __future__ import annotations

import math
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polysense.search.scan import scan_source, windows
from polysense.search.store import FLAT_MAX_VECTORS, choose_index_type, default_nlist


@settings(deadline=None, max_examples=60)
@given(duration=st.floats(0.01, 200.0), window=st.floats(0.5, 30.0), hop_ratio=st.floats(0.1, 1.0))
def test_windows_cover_the_file(duration, window, hop_ratio):
    hop = window * hop_ratio
    spans = windows(duration, window_s=window, hop_s=hop)
    close = lambda x, y: math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9)  # noqa: E731
    assert spans[0][0] == 0.0 and close(spans[-1][1], duration)
    for (a, b), (c, _) in zip(spans, spans[1:]):
        assert c > a and c <= b + 1e-9  # increasing starts, no gap between windows
    assert all(close(b - a, min(window, duration)) for a, b in spans)  # every window full length
    assert all(close(c - a, hop) for (a, _), (c, _) in zip(spans[:-2], spans[1:-1]))  # hop apart


def test_index_type_by_size():
    assert choose_index_type(FLAT_MAX_VECTORS) == "flat"
    assert choose_index_type(FLAT_MAX_VECTORS + 1) == "hnsw"
    assert choose_index_type(10, "ivf") == "ivf"
    assert default_nlist(1_000_000) == 4096 and default_nlist(100) == 2 and default_nlist(10) == 1
    with pytest.raises(ValueError, match="index_type"):
        choose_index_type(10, "lsh")


def test_scan_rules(tmp_path):
    root = tmp_path / "c"
    (root / ".hidden").mkdir(parents=True)
    (root / "a.wav").write_bytes(b"x")
    (root / "a.txt").write_text("caption of a\n")
    (root / "lone.txt").write_text("just text")
    (root / "pic.JPG").write_bytes(b"x")
    (root / ".hidden" / "b.wav").write_bytes(b"x")
    (root / "data.bin").write_bytes(b"x")
    outside = tmp_path / "outside.wav"
    outside.write_bytes(b"x")
    os.symlink(outside, root / "link.wav")
    os.symlink(root / "a.wav", root / "inside_link.wav")
    found, kind, entries, skipped = scan_source(root)
    assert kind == "folder" and found == root.resolve()
    by_key = {e.key: e for e in entries}
    assert sorted(by_key) == ["a.wav", "inside_link.wav", "lone.txt", "pic.JPG"]
    assert by_key["a.wav"].caption == "caption of a" and by_key["pic.JPG"].kind == "image"
    assert by_key["lone.txt"].kind == "text"
    assert [(s.path, "outside" in s.reason) for s in skipped] == [("link.wav", True)]
