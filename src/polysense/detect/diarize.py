"""Who speaks when, lite: detected speech segments, one speaker embedding each, clustered.

Each segment's audio (at the speaker model's rate) is embedded by a trained
``speaker_embedding`` model (unit vectors); the segments are grouped by agglomerative clustering
on cosine distances (average linkage), into ``num_speakers`` clusters when given, else cutting the
tree at ``distance_threshold``. Clusters are named ``speaker1``, ``speaker2``, ... in order of first
appearance. Segments shorter than the speaker model's analysis window are padded with zeros.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch

from polysense.data.collate import collate
from polysense.data.events import Event
from polysense.errors import ParameterError

__all__ = ["cluster_speakers", "label_speakers", "segments_of"]


def cluster_speakers(embeddings: torch.Tensor, *, num_speakers: int | None = None,
                     distance_threshold: float = 0.5) -> list[int]:
    """Cluster index of each (N, D) embedding, numbered by first appearance."""
    from sklearn.cluster import AgglomerativeClustering

    n = embeddings.shape[0]
    if n == 0:
        return []
    if num_speakers is not None and not 1 <= int(num_speakers) <= n:
        raise ParameterError(f"num_speakers={num_speakers} is invalid: expected 1 to {n} (the number of segments)")
    if n == 1:
        return [0]
    e = torch.nn.functional.normalize(embeddings.double(), dim=1).numpy()
    model = AgglomerativeClustering(n_clusters=None if num_speakers is None else int(num_speakers), metric="cosine",
                                    linkage="average",
                                    distance_threshold=float(distance_threshold) if num_speakers is None else None)
    raw = model.fit_predict(e)
    order: dict[int, int] = {}
    return [order.setdefault(int(c), len(order)) for c in raw]


def segments_of(audio: torch.Tensor, events: Sequence[Event], *, sample_rate: int) -> list[torch.Tensor]:
    """The samples of each event in a recording held in memory (T,)."""
    return [audio[int(e.onset_s * sample_rate): int(np.ceil(e.offset_s * sample_rate))] for e in events]


@torch.no_grad()
def label_speakers(pieces: Sequence[torch.Tensor], events: Sequence[Event], speaker_model: torch.nn.Module, *,
                   num_speakers: int | None = None, distance_threshold: float = 0.5,
                   batch_size: int = 32) -> list[Event]:
    """``events`` with ``speaker`` set by clustering the embeddings of their ``pieces`` of audio (at the
    speaker model's rate; see the module docstring)."""
    if len(pieces) != len(events):
        raise ParameterError(f"{len(pieces)} pieces of audio for {len(events)} events: give one piece per event")
    if not events:
        return []
    encoder = speaker_model.encoders["audio"]
    rate = int(getattr(encoder, "sample_rate", 0) or 0)
    minimum = int(getattr(encoder, "n_fft", 1))
    items = []
    for k, piece in enumerate(pieces):
        piece = piece.float()
        if piece.numel() < minimum:
            piece = torch.nn.functional.pad(piece, (0, minimum - piece.numel()))
        items.append({"id": str(k), "audio": piece, "sample_rate": rate})
    was_training = speaker_model.training
    speaker_model.eval()
    try:
        embedded = torch.cat([speaker_model.encode("audio", collate(items[i: i + batch_size]))
                              for i in range(0, len(items), batch_size)])
    finally:
        speaker_model.train(was_training)
    clusters = cluster_speakers(embedded, num_speakers=num_speakers, distance_threshold=distance_threshold)
    return [replace(e, speaker=f"speaker{c + 1}") for e, c in zip(events, clusters)]
