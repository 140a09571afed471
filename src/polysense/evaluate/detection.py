"""Detection runs evaluated over a split: every recording through the detector, events against the
reference with the event-based (collar) and segment-based metrics of :mod:`polysense.metrics.events`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from polysense.data.events import Event
from polysense.metrics.events import event_based_metrics, segment_based_metrics

__all__ = ["detect_items", "evaluate_detection"]


@torch.no_grad()
def detect_items(model: torch.nn.Module, dataset: Any, *, classes: Sequence[str]
                 ) -> tuple[dict[str, list[Event]], dict[str, list[Event]], dict[str, float]]:
    """(reference, estimated, length_s) per recording id: each item of ``dataset`` (scene items with
    ``audio``, ``events`` as (onset_s, offset_s, class index)) through the model in one piece."""
    was_training = model.training
    model.eval()
    reference, estimated, lengths = {}, {}, {}
    try:
        for index in range(len(dataset)):
            item = dataset[index]
            name = str(item.get("id", index))
            audio = item["audio"][None].float()
            logits = model.frame_logits(model.features(audio))
            centres = torch.arange(logits.shape[1]) * model.hop_length
            mask = (centres < audio.shape[-1])[None]
            length = audio.shape[-1] / item["sample_rate"]
            found = model.events_of(logits, mask, classes=classes)[0]
            estimated[name] = [e if e.offset_s <= length else Event(e.onset_s, length, e.label, e.score)
                               for e in found if e.onset_s < length]
            reference[name] = [Event(on, off, classes[int(c)]) for on, off, c in item["events"]]
            lengths[name] = length
    finally:
        model.train(was_training)
    return reference, estimated, lengths


def evaluate_detection(model: torch.nn.Module, dataset: Any, *, classes: Sequence[str], collar_s: float = 0.2,
                       segment_s: float = 1.0) -> dict[str, Any]:
    """Event-based (``collar_s`` onset/offset collar) and segment-based (``segment_s``) scores over the split."""
    reference, estimated, lengths = detect_items(model, dataset, classes=classes)
    event = event_based_metrics(reference, estimated, t_collar=collar_s)
    segment = segment_based_metrics(reference, estimated, time_resolution=segment_s, labels=list(classes),
                                    evaluated_length_s=lengths)
    return {"event_based": {"collar_s": collar_s, **event.as_dict()},
            "segment_based": {"segment_s": segment_s, **segment.as_dict()},
            "recordings": len(reference), "seconds": sum(lengths.values())}
