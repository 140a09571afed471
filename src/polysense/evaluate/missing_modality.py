"""Missing-modality evaluation: a classifier's accuracy with every modality and with each one
dropped, on the same batches (how much each fusion relies on each modality)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from polysense._checks import check_choice
from polysense.errors import ParameterError
from polysense.models.batch import batch_size, modality_keys, presence_key

__all__ = ["evaluate_missing_modality", "missing_modality_table"]


def _drop(batch: Mapping[str, Any], modality: str, how: str) -> dict[str, Any]:
    input_key, mask_key = modality_keys(modality)
    if how == "absent":
        return {k: v for k, v in batch.items() if k not in (input_key, mask_key, presence_key(modality))}
    dropped = dict(batch)
    dropped[presence_key(modality)] = torch.zeros(batch_size(batch, [modality]), dtype=torch.bool)
    return dropped


def _to_device(batch: Mapping[str, Any], device: torch.device | str | None) -> dict[str, Any]:
    if device is None:
        return dict(batch)
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


@torch.no_grad()
def evaluate_missing_modality(
    model: nn.Module,
    batches: Iterable[Mapping[str, Any]],
    *,
    modalities: Sequence[str] | None = None,
    how: str = "absent",
    label_key: str | None = None,
    device: torch.device | str | None = None,
) -> dict[str, float]:
    """Accuracy with every modality and with each one dropped, on the same batches.

    Args:
        model: a classifier taking a batch dict and returning logits or an object with
            ``.logits`` (a :class:`~polysense.models.classifier.FusionClassifier`); put in eval mode for the evaluation and
            restored afterwards.
        batches: an iterable of batch dicts with labels (iterated once).
        modalities: which modalities to drop one at a time (default ``model.modalities``).
        how: ``"absent"`` removes the modality's keys from the batch; ``"mask"`` keeps the input
            and sets ``"<m>_present"`` to False for every sample. Both must give the same answer.
        label_key: the label key (default ``model.label_key`` or ``"label"``).
        device: move tensors there first (default: leave them).

    Returns:
        ``{"all": acc, "without <m>": acc, ...}`` (fractions in [0, 1]); format it with
        :func:`missing_modality_table`. Every sample must keep at least one modality when one
        is dropped, or the model raises ParameterError.
    """
    check_choice("how", how, ("absent", "mask"))
    modalities = tuple(getattr(model, "modalities", ()) if modalities is None else modalities)
    if not modalities:
        raise ParameterError("modalities is empty: pass the modalities to drop (the model has no .modalities)")
    label_key = label_key or getattr(model, "label_key", "label")
    conditions = ["all"] + [f"without {m}" for m in modalities]
    correct = dict.fromkeys(conditions, 0)
    total = 0
    was_training = model.training
    model.eval()
    try:
        for batch in batches:
            batch = _to_device(batch, device)
            if batch.get(label_key) is None:
                raise ParameterError(f"a batch has no labels under {label_key!r}: accuracy needs them")
            labels = batch[label_key]
            total += int(labels.shape[0])
            variants = [batch] + [_drop(batch, m, how) for m in modalities]
            for condition, variant in zip(conditions, variants):
                out = model(variant)
                logits = getattr(out, "logits", out)
                correct[condition] += int((logits.argmax(dim=-1) == labels).sum())
    finally:
        model.train(was_training)
    if total == 0:
        raise ParameterError("batches is empty: nothing to evaluate")
    return {condition: correct[condition] / total for condition in conditions}


def missing_modality_table(accuracies: Mapping[str, float]) -> str:
    """A Markdown table of :func:`evaluate_missing_modality`'s result, with the drop from "all"."""
    reference = accuracies.get("all")
    lines = ["| modalities | accuracy | change |", "|---|---:|---:|"]
    for condition, accuracy in accuracies.items():
        change = "" if reference is None or condition == "all" else f"{accuracy - reference:+.3f}"
        lines.append(f"| {condition} | {accuracy:.3f} | {change} |")
    return "\n".join(lines)
