"""Classification metrics as pure functions of predictions and labels.

- accuracy = #{ŷ_i = y_i} / N
- macro-F1 = (1/C) Σ_c F1_c with F1_c = 2·TP_c / (2·TP_c + FP_c + FN_c) over the classes that
  occur in the labels or the predictions (scikit-learn's ``f1_score(average="macro")``; a class
  with TP = FP = FN = 0 is left out).
- confusion[i, j] = #{y = i, ŷ = j}.
- per group: the accuracy of each group (speaker, site) separately.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from polysense.errors import ParameterError

__all__ = ["accuracy", "classification_metrics", "confusion_matrix", "macro_f1", "per_group_accuracy"]


def _check(predictions: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    predictions = torch.as_tensor(predictions).reshape(-1).long()
    labels = torch.as_tensor(labels).reshape(-1).long()
    if predictions.shape != labels.shape:
        raise ParameterError(f"predictions ({predictions.numel()}) and labels ({labels.numel()}) differ in length")
    if labels.numel() == 0:
        raise ParameterError("no labels: a metric needs at least one labelled sample")
    return predictions, labels


def accuracy(predictions: torch.Tensor, labels: torch.Tensor) -> float:
    predictions, labels = _check(predictions, labels)
    return float((predictions == labels).double().mean())


def confusion_matrix(predictions: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(C, C) long counts, rows = true class, columns = predicted class."""
    predictions, labels = _check(predictions, labels)
    if int(max(predictions.max(), labels.max())) >= num_classes or int(min(predictions.min(), labels.min())) < 0:
        raise ParameterError(f"a class index is outside [0, {num_classes}): num_classes must cover every label")
    flat = labels * num_classes + predictions
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def macro_f1(predictions: torch.Tensor, labels: torch.Tensor, num_classes: int | None = None) -> float:
    predictions, labels = _check(predictions, labels)
    if num_classes is None:
        num_classes = int(max(predictions.max(), labels.max())) + 1
    cm = confusion_matrix(predictions, labels, num_classes).double()
    tp = cm.diag()
    fp = cm.sum(dim=0) - tp
    fn = cm.sum(dim=1) - tp
    denominator = 2 * tp + fp + fn
    seen = denominator > 0
    return float((2 * tp[seen] / denominator[seen]).mean())


def per_group_accuracy(predictions: torch.Tensor, labels: torch.Tensor, groups: Sequence[str]) -> dict[str, float]:
    predictions, labels = _check(predictions, labels)
    if len(groups) != labels.numel():
        raise ParameterError(f"groups has {len(groups)} entries for {labels.numel()} labels")
    result = {}
    for group in sorted(set(map(str, groups))):
        index = torch.tensor([str(g) == group for g in groups])
        result[group] = float((predictions[index] == labels[index]).double().mean())
    return result


def classification_metrics(
    logits: torch.Tensor, labels: torch.Tensor, *, num_classes: int | None = None, groups: Sequence[str] | None = None
) -> dict:
    """accuracy, macro_f1, confusion (nested lists) and per_group (when groups are given)."""
    if logits.ndim != 2:
        raise ParameterError(f"logits have shape {tuple(logits.shape)}: expected (N, num_classes)")
    num_classes = num_classes or logits.shape[1]
    predictions = logits.argmax(dim=1)
    result = {
        "accuracy": accuracy(predictions, labels),
        "macro_f1": macro_f1(predictions, labels, num_classes),
        "confusion": confusion_matrix(predictions, labels, num_classes).tolist(),
    }
    if groups is not None:
        result["per_group"] = per_group_accuracy(predictions, labels, groups)
    return result
