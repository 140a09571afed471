"""Missing-modality evaluation: a classifier's accuracy with every modality and with each one
dropped, on the same batches (how much each fusion relies on each modality), each condition one
pass of the one inference path (:func:`polysense.inference.collect`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from polysense._checks import check_choice
from polysense.errors import ParameterError
from polysense.inference import collect
from polysense.metrics.classification import accuracy
from polysense.models.batch import batch_size, modality_keys, presence_key

__all__ = ["evaluate_missing_modality", "missing_modality_table"]


def _drop(batch: Mapping[str, Any], modality: str, how: str) -> dict[str, Any]:
    input_key, mask_key = modality_keys(modality)
    if how == "absent":
        return {k: v for k, v in batch.items() if k not in (input_key, mask_key, presence_key(modality))}
    dropped = dict(batch)
    dropped[presence_key(modality)] = torch.zeros(batch_size(batch, [modality]), dtype=torch.bool)
    return dropped


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
        model: a classifier (a :class:`~polysense.models.classifier.FusionClassifier`) returning a
            :class:`~polysense.models.output.ClassifierOutput`; put in eval mode for the evaluation
            and restored afterwards.
        batches: batch dicts with labels (held, then run once per condition).
        modalities: which modalities to drop one at a time (default ``model.modalities``).
        how: ``"absent"`` removes the modality's keys from the batch; ``"mask"`` keeps the input
            and sets ``"<m>_present"`` to False for every sample. Both must give the same answer.
        label_key: the label key (default ``model.label_key`` or ``"label"``).
        device: where the batches go (default: the model's device).

    Returns:
        ``{"all": acc, "without <m>": acc, ...}`` (fractions in [0, 1]); format it with
        :func:`missing_modality_table`. Every sample must keep at least one modality when one
        is dropped, or the model raises ParameterError.
    """
    check_choice("how", how, ("absent", "mask"))
    modalities = tuple(model.modalities if modalities is None else modalities)
    if not modalities:
        raise ParameterError("modalities is empty: pass the modalities to drop (the model has no .modalities)")
    label_key = label_key or getattr(model, "label_key", "label")
    batches = list(batches)
    if not batches:
        raise ParameterError("batches is empty: nothing to evaluate")
    if any(batch.get(label_key) is None for batch in batches):
        raise ParameterError(f"a batch has no labels under {label_key!r}: accuracy needs them")
    device = next((p.device for p in model.parameters()), torch.device("cpu")) if device is None else device
    result = {}
    for condition, drop in [("all", None), *((f"without {m}", m) for m in modalities)]:
        variants = ({**(batch if drop is None else _drop(batch, drop, how)), "label": batch[label_key]} for batch in batches)
        found = collect(model, variants, device=device, embed=False)
        result[condition] = accuracy(found.cat_logits().argmax(dim=1), torch.tensor(found.labels))
    return result


def missing_modality_table(accuracies: Mapping[str, float]) -> str:
    """A Markdown table of :func:`evaluate_missing_modality`'s result, with the drop from "all"."""
    reference = accuracies.get("all")
    lines = ["| modalities | accuracy | change |", "|---|---:|---:|"]
    for condition, accuracy in accuracies.items():
        change = "" if reference is None or condition == "all" else f"{accuracy - reference:+.3f}"
        lines.append(f"| {condition} | {accuracy:.3f} | {change} |")
    return "\n".join(lines)
