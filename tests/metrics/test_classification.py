"""Classification and ranking metrics (scikit-learn backed) against counting by hand, and mAP against
scikit-learn's average precision."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from polysense.errors import ParameterError
from polysense.metrics.classification import (
    accuracy,
    classification_metrics,
    confusion_matrix,
    macro_f1,
    per_group_accuracy,
)
from polysense.metrics.retrieval import mean_average_precision


def _by_hand(predictions, labels, num_classes):
    """Accuracy, macro-F1 and the confusion matrix counted in plain Python (the reference)."""
    pairs = list(zip(labels.tolist(), predictions.tolist()))
    confusion = [[sum(1 for y, p in pairs if (y, p) == (i, j)) for j in range(num_classes)] for i in range(num_classes)]
    f1 = []
    for c in range(num_classes):
        tp = confusion[c][c]
        fp = sum(confusion[i][c] for i in range(num_classes)) - tp
        fn = sum(confusion[c]) - tp
        if tp + fp + fn:
            f1.append(2 * tp / (2 * tp + fp + fn))
    return sum(y == p for y, p in pairs) / len(pairs), sum(f1) / len(f1), confusion


@pytest.mark.parametrize("seed", range(5))
def test_against_counting_by_hand(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 5, 60)
    predictions = np.where(rng.random(60) < 0.6, labels, rng.integers(0, 5, 60))
    p, y = torch.tensor(predictions), torch.tensor(labels)
    expected_accuracy, expected_f1, expected_confusion = _by_hand(predictions, labels, 5)
    assert accuracy(p, y) == pytest.approx(expected_accuracy, abs=1e-12)
    assert macro_f1(p, y, 5) == pytest.approx(expected_f1, abs=1e-12)
    assert confusion_matrix(p, y, 5).tolist() == expected_confusion


def test_macro_f1_leaves_out_absent_classes():
    # classes 2 and 3 never occur: F1 = mean(F1_0 = 2/3, F1_1 = 2/3), not divided by 4
    p, y = torch.tensor([0, 0, 1]), torch.tensor([0, 1, 1])
    assert macro_f1(p, y, 4) == pytest.approx(2 / 3, abs=1e-12)


def test_per_group_and_combined():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    labels = torch.tensor([0, 1, 1, 0])
    result = classification_metrics(logits, labels, groups=["a", "a", "b", "b"])
    assert result["accuracy"] == 0.75 and result["per_group"] == {"a": 1.0, "b": 0.5}
    assert result["confusion"] == [[2, 0], [1, 1]]
    assert per_group_accuracy(torch.tensor([1]), torch.tensor([1]), ["x"]) == {"x": 1.0}


def test_errors_name_the_problem():
    with pytest.raises(ParameterError, match="differ in length"):
        accuracy(torch.tensor([1, 2]), torch.tensor([1]))
    with pytest.raises(ParameterError, match="at least one"):
        accuracy(torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.long))
    with pytest.raises(ParameterError, match="outside"):
        confusion_matrix(torch.tensor([3]), torch.tensor([0]), 2)


@pytest.mark.parametrize("seed", range(4))
def test_mean_average_precision_against_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    similarity = torch.tensor(rng.normal(size=(12, 20)))
    positives = torch.tensor(rng.random((12, 20)) < 0.2)
    positives[:, 0] = True
    expected = np.mean([average_precision_score(positives[i].numpy(), similarity[i].numpy()) for i in range(12)])
    assert mean_average_precision(similarity, positives) == pytest.approx(expected, abs=1e-12)
