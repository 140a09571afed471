"""Classification metrics as pure functions of predictions and labels (scikit-learn's definitions).

- accuracy = #{ŷ_i = y_i} / N (``sklearn.metrics.accuracy_score``), a fraction in [0, 1];
- macro-F1 = (1/C') Σ_c F1_c with F1_c = 2·TP_c / (2·TP_c + FP_c + FN_c) over the C' classes that
  occur in the labels or the predictions (``sklearn.metrics.f1_score(average="macro")``: a class
  with TP = FP = FN = 0 is left out), in [0, 1];
- confusion[i, j] = #{y = i, ŷ = j} (``sklearn.metrics.confusion_matrix``), counts;
- per group: the accuracy of each group (speaker, site) separately.

scikit-learn is imported on first use: ``import sklearn.metrics`` costs 1.3 s on top of torch on
the 2-core CI machine, more than the whole ``polysense --help`` start-up.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from polysense.errors import ParameterError

__all__ = ["accuracy", "classification_metrics", "confusion_matrix", "macro_f1", "per_group_accuracy"]


def _check(predictions: torch.Tensor, labels: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    predictions = torch.as_tensor(predictions).reshape(-1).long()
    labels = torch.as_tensor(labels).reshape(-1).long()
    if predictions.shape != labels.shape:
        raise ParameterError(f"predictions ({predictions.numel()}) and labels ({labels.numel()}) differ in length")
    if labels.numel() == 0:
        raise ParameterError("no labels: a metric needs at least one labelled sample")
    return predictions.cpu().numpy(), labels.cpu().numpy()


def accuracy(predictions: torch.Tensor, labels: torch.Tensor) -> float:
    """#{ŷ_i = y_i} / N of class indices (N,), a fraction in [0, 1]."""
    from sklearn.metrics import accuracy_score

    predictions, labels = _check(predictions, labels)
    return float(accuracy_score(labels, predictions))


def confusion_matrix(predictions: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(C, C) long counts, rows = true class, columns = predicted class."""
    from sklearn.metrics import confusion_matrix as sklearn_confusion

    predictions, labels = _check(predictions, labels)
    if int(max(predictions.max(), labels.max())) >= num_classes or int(min(predictions.min(), labels.min())) < 0:
        raise ParameterError(f"a class index is outside [0, {num_classes}): num_classes must cover every label")
    return torch.as_tensor(sklearn_confusion(labels, predictions, labels=np.arange(num_classes)), dtype=torch.long)


def macro_f1(predictions: torch.Tensor, labels: torch.Tensor, num_classes: int | None = None) -> float:
    """Mean F1 over the classes present in the labels or the predictions (see the module docstring);
    ``num_classes`` only checks that every index is below it."""
    from sklearn.metrics import f1_score

    predictions, labels = _check(predictions, labels)
    if num_classes is not None and int(max(predictions.max(), labels.max())) >= num_classes:
        raise ParameterError(f"a class index is outside [0, {num_classes}): num_classes must cover every label")
    return float(f1_score(labels, predictions, average="macro"))


def per_group_accuracy(predictions: torch.Tensor, labels: torch.Tensor, groups: Sequence[str]) -> dict[str, float]:
    """{group: accuracy over that group's items}, groups sorted by name."""
    predictions, labels = _check(predictions, labels)
    if len(groups) != labels.size:
        raise ParameterError(f"groups has {len(groups)} entries for {labels.size} labels")
    names = np.array([str(g) for g in groups])
    return {group: accuracy(torch.as_tensor(predictions[names == group]), torch.as_tensor(labels[names == group]))
            for group in sorted(set(names.tolist()))}


def classification_metrics(
    logits: torch.Tensor, labels: torch.Tensor, *, num_classes: int | None = None, groups: Sequence[str] | None = None
) -> dict:
    """accuracy, macro_f1, confusion (nested lists) and per_group (when groups are given) of the
    class scores ``logits`` (N, C), predicting ``argmax``."""
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
