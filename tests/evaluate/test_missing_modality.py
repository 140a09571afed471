"""Missing-modality evaluation: accuracy with every modality and with each one dropped."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from polysense.errors import ParameterError
from polysense.evaluate.missing_modality import evaluate_missing_modality, missing_modality_table
from polysense.models.classifier import FusionClassifier
from polysense.models.encoders.features import FeatureInput
from polysense.models.fusion import LateFusion
from tests.models.test_fusion import make_batch, make_model


def test_evaluate_missing_modality_by_construction():
    # a: logits pointing at the label (strong); b: pointing at the wrong class (weak)
    labels = torch.tensor([0, 1, 1, 0, 1, 0])
    right = F.one_hot(labels, 2).float() * 5.0
    wrong = F.one_hot(1 - labels, 2).float() * 1.0
    fusion = LateFusion({"a": 2, "b": 2}, num_classes=2, combine="mean")
    fusion.heads = nn.ModuleDict({"a": nn.Identity(), "b": nn.Identity()})
    model = FusionClassifier({"a": FeatureInput(2), "b": FeatureInput(2)}, fusion, num_classes=2).train()
    batches = [{"a": right[:4], "b": wrong[:4], "label": labels[:4]}, {"a": right[4:], "b": wrong[4:], "label": labels[4:]}]
    result = evaluate_missing_modality(model, batches)
    assert result == {"all": 1.0, "without a": 0.0, "without b": 1.0}
    assert evaluate_missing_modality(model, batches, how="mask") == result
    assert model.training  # mode restored
    table = missing_modality_table(result)
    assert "| without a | 0.000 | -1.000 |" in table
    with pytest.raises(ParameterError, match="no labels"):
        evaluate_missing_modality(model, [{"a": right, "b": wrong}])
    with pytest.raises(ParameterError, match="how"):
        evaluate_missing_modality(model, batches, how="zero")


@pytest.mark.parametrize("key", ["early", "hybrid", "late_vote"])
def test_evaluate_missing_modality_on_trained_models(key):
    model = make_model(key)
    batch = make_batch()
    result = evaluate_missing_modality(model, [batch])
    # each accuracy is the eval-mode model's on the batch with that modality's keys removed
    model.eval()
    with torch.no_grad():
        expected = {condition: float((model(variant).logits.argmax(-1) == batch["label"]).float().mean())
                    for condition, variant in (("all", batch),
                                               ("without a", {k: v for k, v in batch.items() if k != "a"}),
                                               ("without b", {k: v for k, v in batch.items() if k != "b"}))}
    assert result == pytest.approx(expected, abs=1e-12)
