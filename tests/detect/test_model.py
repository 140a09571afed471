"""frame_crnn: frame targets as defined, the streaming front end equals the one-shot one, and the
model learns (overfits a tiny scene, gradients reach every layer)."""

from __future__ import annotations

import pytest
import torch

from polysense.data.collate import collate
from polysense.data.fsdd import DIGIT_WORDS
from polysense.detect.model import FrameCRNN, frame_targets
from polysense.detect.scenes import Scenes
from polysense.errors import ParameterError
from polysense.metrics.events import event_based_metrics
from tests.detect.conftest import SR


def test_frame_targets_mark_frames_whose_centre_is_inside_an_event():
    # hop 0.01 s: centres 0, 0.01, ...; event [0.025, 0.05) covers centres 0.03, 0.04
    t = frame_targets([[(0.025, 0.05, 1)], []], frames=8, hop_s=0.01, num_classes=2)
    assert t.shape == (2, 8, 2)
    assert t[0, :, 1].tolist() == [0, 0, 0, 1, 1, 0, 0, 0] and t[0, :, 0].sum() == 0 and t[1].sum() == 0
    # an onset exactly on a centre includes it, an offset exactly on one excludes it
    assert frame_targets([[(0.02, 0.04, 0)]], frames=8, hop_s=0.01, num_classes=1)[0, :, 0].tolist() == \
        [0, 0, 1, 1, 0, 0, 0, 0]
    with pytest.raises(ParameterError, match="event class 3 is outside the model's 2 classes"):
        frame_targets([[(0.0, 0.1, 3)]], frames=4, hop_s=0.01, num_classes=2)


def test_streaming_features_equal_the_one_shot_features():
    model = FrameCRNN(sample_rate=SR, num_classes=2, channels=(4,), rnn_hidden=4)
    x = torch.randn(1, 12_345, generator=torch.Generator().manual_seed(0)) * 0.1
    stream = model.stream()
    parts = [stream.push(block) for block in x.split(1000, dim=-1)] + [stream.flush()]
    torch.testing.assert_close(torch.cat(parts, dim=-1), model.features(x), rtol=1e-5, atol=1e-4)


def test_too_short_a_recording_is_refused():
    model = FrameCRNN(sample_rate=SR, num_classes=1, channels=(4,), rnn_hidden=4)
    with pytest.raises(ParameterError, match="the recording has 100 samples: the detector needs at least 256"):
        model.features(torch.zeros(1, 100))


def test_frame_crnn_overfits_a_tiny_scene_and_finds_its_events(tone_words):
    torch.manual_seed(0)
    data = Scenes(tone_words, sample_rate=SR, classes=DIGIT_WORDS, num_scenes=1, scene_s=3.0, snr_db=10.0,
                  noise_types=["white"], seed=3)
    batch = collate([data[0]])
    model = FrameCRNN(sample_rate=SR, num_classes=10, n_mels=16, channels=(8, 8), rnn_hidden=16, dropout=0.0,
                      postprocess={"threshold": 0.5, "median_frames": 3, "min_duration_s": 0.05})
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    first = None
    for step in range(80):
        model.train()
        out = model(batch)
        if step == 0:
            out.loss.backward()
            silent = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
            assert not silent, f"no gradient reaches {silent}"
            first = float(out.loss.detach())
            optimizer.zero_grad()
            continue
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
    assert float(out.loss.detach()) < 0.1 * first
    model.eval()
    out = model(batch)
    assert float(out.metrics["frame_f1"]) > 0.95
    reference = {"0": data.scene(0)[1]}
    found = {str(b): model.events_of(out.frame_logits[b:b + 1], out.frame_mask[b:b + 1], classes=DIGIT_WORDS)[0]
             for b in range(1)}
    scores = event_based_metrics(reference, found, t_collar=0.2)
    assert scores.f_measure > 0.95, scores
