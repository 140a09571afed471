"""Diarization-lite: clustering of segment embeddings, and labelling segments of a recording."""

from __future__ import annotations

import torch

from polysense.data.events import Event
from polysense.detect.diarize import cluster_speakers, label_speakers, segments_of
from polysense.metrics.diarization import diarization_error_rate
from polysense.models.registry import build_model
from tests.detect.test_speakers import ENCODER, voice


def test_clusters_are_numbered_by_first_appearance():
    e = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.99, 0.1], [0.1, 0.99]])
    assert cluster_speakers(e, num_speakers=2) == [0, 1, 0, 1]
    assert cluster_speakers(e, distance_threshold=0.3) == [0, 1, 0, 1]
    assert cluster_speakers(e, distance_threshold=1.5) == [0, 0, 0, 0]


def test_label_speakers_finds_two_voices_with_a_trained_embedding():
    torch.manual_seed(0)
    model = build_model({"name": "speaker_embedding", "encoder": ENCODER, "num_speakers": 2, "embed_dim": 16})
    from polysense.data.collate import collate

    batch = collate([{"id": str(k), "audio": voice(120 + 200 * s, 10 * s + k), "sample_rate": 8000, "label": s}
                     for s in range(2) for k in range(3)])
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(40):
        optimizer.zero_grad()
        model(batch).loss.backward()
        optimizer.step()
    # a recording: turns of the two voices with silences
    parts, reference, t = [], [], 0.0
    for k, s in enumerate([0, 1, 1, 0, 1, 0]):
        parts += [torch.zeros(2000), voice(120 + 200 * s, 100 + k)]
        reference.append(Event(t + 0.25, t + 0.75, "speech", speaker="ab"[s]))
        t += 0.75
    audio = torch.cat(parts)
    unlabelled = [Event(e.onset_s, e.offset_s, "speech") for e in reference]
    found = label_speakers(segments_of(audio, unlabelled, sample_rate=8000), unlabelled, model, num_speakers=2)
    assert [e.speaker for e in found] == ["speaker1", "speaker2", "speaker2", "speaker1", "speaker2", "speaker1"]
    assert diarization_error_rate(reference, found).der == 0.0
