"""Validation during training: the numbers that choose the best epoch.

One pass of :func:`polysense.inference.collect` over the validation split, scored by
:func:`polysense.inference.scored` exactly as ``polysense evaluate`` scores a split: the mean
``loss``/``loss_<part>``/model metrics over items; ``accuracy`` and ``macro_f1`` from a
classifier's class scores; for a model whose modalities share one space (``shared_space``),
Recall@1 both ways between its two modalities through ``encode`` (``{a}_to_{b}_r1``,
``{b}_to_{a}_r1``, and their mean ``r1``), with the same positives as evaluation (an item's
caption; items with the same label when there are no captions); for a generator, ``fd``: the
Fréchet distance between the features of its generated and the real items over the whole split
(lower is better); for a speaker model (``kind == "speaker"``) whose validation items are voices it
was not trained on, ``eer``: the verification equal error rate among them (lower is better).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from polysense.inference import collect, scored

__all__ = ["validate"]


def validate(model: nn.Module, batches: Iterator[dict[str, Any]], *, device: torch.device,
             num_classes: int | None, autocast: Callable[[], Any]) -> dict[str, float]:
    """Flat {name: float} of the validation metrics (see the module docstring); R@1 is a
    fraction of queries in [0, 1]."""
    retrieval = bool(model.shared_space) and len(model.modalities) >= 2
    verification = getattr(model, "kind", None) == "speaker"
    found = collect(model, batches, device=device, autocast=autocast, embed=retrieval or verification)
    report = scored(found, num_classes=num_classes, retrieval=retrieval, ks=(1,), verification=verification)
    metrics = {k: v for k, v in report.items() if isinstance(v, float)}
    if len(report.get("retrieval", {})) == 2:
        (ab, a_to_b), (ba, b_to_a) = report["retrieval"].items()
        metrics[f"{ab}_r1"], metrics[f"{ba}_r1"] = a_to_b["r@1"], b_to_a["r@1"]
        metrics["r1"] = 0.5 * (a_to_b["r@1"] + b_to_a["r@1"])
    if "verification" in report:
        metrics["eer"] = report["verification"]["eer"]
    return metrics
