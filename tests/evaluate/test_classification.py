"""Classification and ranking metrics against scikit-learn and brute force."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, average_precision_score, confusion_matrix as sk_confusion, f1_score

from polysense.errors import ParameterError
from polysense.evaluate.classification import (
    accuracy,
    classification_metrics,
    confusion_matrix,
    macro_f1,
    per_group_accuracy,
)
from polysense.evaluate.runner import mean_average_precision


@pytest.mark.parametrize("seed", range(5))
def test_against_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 5, 60)
    predictions = np.where(rng.random(60) < 0.6, labels, rng.integers(0, 5, 60))
    p, y = torch.tensor(predictions), torch.tensor(labels)
    assert accuracy(p, y) == pytest.approx(accuracy_score(labels, predictions), abs=1e-12)
    assert macro_f1(p, y, 5) == pytest.approx(f1_score(labels, predictions, average="macro"), abs=1e-12)
    assert confusion_matrix(p, y, 5).tolist() == sk_confusion(labels, predictions, labels=range(5)).tolist()


def test_macro_f1_leaves_out_absent_classes_as_scikit_learn_does():
    p, y = torch.tensor([0, 0, 1]), torch.tensor([0, 1, 1])
    assert macro_f1(p, y, 4) == pytest.approx(f1_score([0, 1, 1], [0, 0, 1], average="macro"))


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
