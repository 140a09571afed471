"""Validation during training: the numbers that choose the best epoch.

Reads only the output contract: ``loss``/``losses``/``metrics`` (averaged over items),
``logits`` with labels (accuracy, macro-F1), two modalities' ``embeddings`` (Recall@1 both
ways, items with the same text being positives of each other) and a generator's ``features`` of
generated and real items (``fd``: their Fréchet distance over the whole split, lower is better).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
from torch import nn

from polysense.models.output import EmbeddingOutput, GenerationOutput

__all__ = ["output_scalars", "scalar", "to_device", "validate"]


def to_device(batch: Mapping[str, Any], device: torch.device) -> dict[str, Any]:
    """The batch with every tensor (also inside dicts) on ``device``."""

    def move(value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            return value.to(device, non_blocking=True)
        if isinstance(value, dict):
            return {k: move(v) for k, v in value.items()}
        return value

    return {k: move(v) for k, v in batch.items()}



def scalar(value: Any) -> float:
    return float(value.detach().float().mean()) if isinstance(value, torch.Tensor) else float(value)


def output_scalars(out: Any) -> dict[str, float]:
    """One model output's numbers as floats: ``loss``, ``loss_<part>`` for each of ``losses``, and
    each of ``metrics`` under its own name (what validation and evaluation average over items)."""
    values = {}
    if getattr(out, "loss", None) is not None:
        values["loss"] = scalar(out.loss)
    values.update({f"loss_{k}": scalar(v) for k, v in (getattr(out, "losses", None) or {}).items()})
    values.update({k: scalar(v) for k, v in (getattr(out, "metrics", None) or {}).items()})
    return values


@torch.no_grad()
def validate(model: nn.Module, batches: Iterator[dict[str, Any]], *, device: torch.device,
             num_classes: int | None, autocast: Callable[[], Any]) -> dict[str, float]:
    """Mean loss, losses and model metrics over the batches; accuracy and macro-F1 from
    ``logits`` when the batches carry labels; R@1 both ways from ``embeddings`` of two modalities
    (items with the same text are positives of each other)."""
    from polysense.evaluate.classification import accuracy, macro_f1
    from polysense.evaluate.retrieval import pair_similarity, retrieval_metrics

    was_training = model.training
    model.eval()
    sums: dict[str, float] = {}
    count = 0
    logits, labels = [], []
    embeddings: dict[str, list[torch.Tensor]] = {}
    texts: list[str] = []
    generated: dict[str, list[torch.Tensor]] = {}
    try:
        for batch in batches:
            batch = to_device(batch, device)
            with autocast():
                out = model(batch)
            size = len(batch.get("id") or []) or 1
            count += size
            for key, value in output_scalars(out).items():
                sums[key] = sums.get(key, 0.0) + value * size
            out_logits = getattr(out, "logits", None)
            label = batch.get("label")
            if (isinstance(out_logits, torch.Tensor) and isinstance(label, torch.Tensor) and label.ndim == 1
                    and not isinstance(out, EmbeddingOutput)
                    and out_logits.ndim == 2 and out_logits.shape[0] == label.shape[0]):
                logits.append(out_logits.float().cpu())
                labels.append(label.cpu())
            if isinstance(out, GenerationOutput) and out.features:
                for key, value in out.features.items():
                    generated.setdefault(key, []).append(value.double().cpu())
            out_embeddings = getattr(out, "embeddings", None) or {}
            if len(out_embeddings) == 2 and not logits:
                for key, value in out_embeddings.items():
                    embeddings.setdefault(key, []).append(value.float().cpu())
                texts.extend(batch.get("text") or [str(i) for i in batch.get("id", [])])
    finally:
        model.train(was_training)
    metrics = {k: v / max(count, 1) for k, v in sums.items()}
    if logits:
        all_logits, all_labels = torch.cat(logits), torch.cat(labels)
        predictions = all_logits.argmax(dim=1)
        metrics["accuracy"] = accuracy(predictions, all_labels)
        metrics["macro_f1"] = macro_f1(predictions, all_labels, num_classes or all_logits.shape[1])
    if {"generated", "real"} <= set(generated):
        from polysense.evaluate.generation import frechet_distance

        metrics["fd"] = frechet_distance(torch.cat(generated["generated"]), torch.cat(generated["real"]))
    if len(embeddings) == 2 and texts:
        (a, ea), (b, eb) = embeddings.items()
        similarity, positives = pair_similarity(torch.cat(ea), torch.cat(eb), a=a, b=b, texts=texts, keys=texts)
        result = retrieval_metrics(similarity, ks=(1, 5), positives=positives)
        metrics[f"{a}_to_{b}_r1"] = result.a_to_b.recall[1]
        metrics[f"{b}_to_{a}_r1"] = result.b_to_a.recall[1]
        metrics["r1"] = 0.5 * (result.a_to_b.recall[1] + result.b_to_a.recall[1])
    return metrics


