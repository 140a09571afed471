"""Streaming detection: the event stream equals whole-track post-processing, windows with context equal
the one-shot network, and a file is processed in bounded memory."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from polysense.detect.model import FrameCRNN
from polysense.detect.postprocess import PostProcessing, frames_to_events
from polysense.detect.stream import DetectionStats, EventStream, detect_file, detect_frames
from polysense.errors import ParameterError
from tests.detect.conftest import SR

CLASSES = ("a", "b", "c")


def smooth_probs(seed: int, frames: int = 3000) -> torch.Tensor:
    """Bursts of activity (random class, length 5-40 frames, level 0.3-1) over a low noisy floor."""
    rng = np.random.default_rng(seed)
    p = 0.25 * rng.uniform(size=(frames, len(CLASSES)))
    for start in rng.integers(0, frames - 40, size=frames // 40):
        p[start: start + rng.integers(5, 40), rng.integers(0, 3)] += rng.uniform(0.3, 1.0)
    return torch.from_numpy(p)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("settings", [
    PostProcessing(threshold=0.5, low_threshold=0.3, median_frames=5, min_duration_s=0.1, min_gap_s=0.1),
    PostProcessing(threshold=0.4, median_frames=1, merge_classes=False, min_gap_s=0.05),
])
def test_event_stream_equals_whole_track_post_processing(seed, settings):
    probs = smooth_probs(seed).clamp(0, 1)
    whole = frames_to_events(probs, classes=CLASSES, hop_s=0.02, settings=settings)
    assert len(whole) > 10
    stream = EventStream(classes=CLASSES, hop_s=0.02, settings=settings)
    sizes = np.random.default_rng(seed).integers(1, 200, size=100)
    got, start = [], 0
    for n in sizes:
        got.extend(stream.push(probs[start: start + n]))
        start += int(n)
    got.extend(stream.push(probs[start:]))
    got.extend(stream.flush())
    assert got == whole
    assert stream.max_pending_frames < probs.shape[0] and stream.forced_cuts == 0


def test_windows_with_context_equal_the_one_shot_network():
    torch.manual_seed(0)
    model = FrameCRNN(sample_rate=SR, num_classes=2, n_mels=16, channels=(4, 4), rnn_hidden=0).eval()
    feats = torch.randn(16, 500)
    with torch.no_grad():
        whole = model.frame_logits(feats[None])[0]
        pieces = [feats[:, i: i + 37] for i in range(0, 500, 37)]
        stats = DetectionStats()
        windowed = torch.cat(list(detect_frames(pieces, lambda x: model.frame_logits(x[None])[0], window_frames=50,
                                                context_frames=4, stats=stats)))
    # three 3x3 convs see 3 frames each side: 4 frames of context make windows exact
    torch.testing.assert_close(windowed, whole, rtol=1e-5, atol=1e-5)
    assert stats.max_window_frames == 50 + 2 * 4


@pytest.fixture
def long_file(tmp_path):
    rng = np.random.default_rng(0)
    n = 60 * SR
    x = 0.01 * rng.standard_normal(n)
    t = np.arange(int(0.3 * SR)) / SR
    for start in np.arange(1.0, 59.0, 2.0):
        x[int(start * SR): int(start * SR) + t.size] += 0.3 * np.sin(2 * np.pi * 600 * t)
    path = tmp_path / "long.wav"
    sf.write(path, x.astype(np.float32), SR)
    return path


def test_detect_file_equals_one_shot_detection_in_bounded_memory(long_file):
    torch.manual_seed(0)
    model = FrameCRNN(sample_rate=SR, num_classes=1, n_mels=16, hop_length=160, channels=(4,), rnn_hidden=4,
                      postprocess={"threshold": 0.5, "median_frames": 3})
    audio = torch.from_numpy(sf.read(long_file, dtype="float32")[0])[None]
    # a few steps on the first 6 s teach it the tones, so that there are events to compare
    batch = {"audio": audio[:, : 6 * SR], "events": [[(s, s + 0.3, 0) for s in np.arange(1.0, 6.0, 2.0)]]}
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(30):
        optimizer.zero_grad()
        model(batch).loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        logits = model.frame_logits(model.features(audio))
    one_shot = model.events_of(logits, torch.ones(logits.shape[:2], dtype=torch.bool), classes=["speech"])[0]
    whole = detect_file(model, long_file, classes=["speech"], window_s=1000.0, context_s=0.0)
    assert len(one_shot) >= 3 and whole == one_shot
    stats = DetectionStats()
    streamed = detect_file(model, long_file, classes=["speech"], window_s=2.0, context_s=1.0, block_s=0.5,
                           stats=stats, keep_picture_columns=100)
    assert stats.samples == 60 * SR and stats.frames == logits.shape[1]
    assert stats.max_window_frames <= 100 + 2 * 50  # 2 s window + 1 s context each side at 50 frames/s
    assert stats.pooled_features.shape[0] == 16 and 90 <= stats.pooled_features.shape[1] <= 100
    # the GRU sees 1 s of context instead of the whole minute: the same events, times within a frame
    assert len(streamed) == len(one_shot)
    for a, b in zip(streamed, one_shot):
        assert a.label == b.label and abs(a.onset_s - b.onset_s) <= 0.02 + 1e-9 and abs(a.offset_s - b.offset_s) <= 0.02 + 1e-9


def test_bad_detection_input_is_refused(long_file, tmp_path):
    model = FrameCRNN(sample_rate=SR, num_classes=1, channels=(4,), rnn_hidden=0)
    with pytest.raises(ParameterError, match=r"threshold=1.5 is invalid: expected a probability in \[0, 1\]"):
        detect_file(model, long_file, threshold=1.5)
    short = tmp_path / "short.wav"
    sf.write(short, np.zeros(100, dtype=np.float32), SR)
    with pytest.raises(ParameterError, match=r"short.wav: 0.013 s is shorter than the detector's analysis window"):
        detect_file(model, short)
