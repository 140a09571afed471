"""Combining models: scikit-learn ensembles over per-modality embeddings or predictions.

Real small data: scikit-learn's 8×8 digits, split into two "modalities" (the top and the bottom
four pixel rows), so each modality alone is informative but incomplete.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from threadpoolctl import threadpool_limits
from sklearn.ensemble import (
    AdaBoostClassifier,
    BaggingClassifier,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    StackingClassifier,
)
from torch import nn

from polysense.errors import ParameterError
from polysense.models.combining import (
    METHODS,
    EmbeddingSet,
    compare,
    comparison_table,
    extract_embeddings,
    make_combiner,
)
from polysense.models.encoders.base import EncoderOutput
from polysense.models.registry import build

#: small ensembles keep the whole comparison to a few seconds
FAST = {
    "bagging": {"n_estimators": 20},
    "adaboost": {"n_estimators": 30},
    "gradient_boosting": {"n_estimators": 20},
    "hist_gradient_boosting": {"max_iter": 50},
}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Small fits: one BLAS/OpenMP thread is fastest, and 10x faster on a loaded 2-core machine
    (torch already runs on one thread, see tests/conftest.py)."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    features = {"top": X[:, :32], "bottom": X[:, 32:]}
    order = np.random.default_rng(0).permutation(len(y))
    return features, y, order[:600], order[600:1000]


@pytest.fixture(scope="module")
def digit_results(digits):
    features, y, train, test = digits
    return compare(features, y, train_index=train, test_index=test, options=FAST, extra={"late_fusion": 0.5})


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("level", ["embeddings", "predictions"])
def test_every_method_beats_chance_on_digits(digit_results, method, level):
    # 10 balanced classes: chance is 0.1
    assert digit_results[f"{method}/{level}"] > 0.8


def test_combining_the_modalities_beats_each_alone(digit_results):
    best_single = max(digit_results["logistic/top"], digit_results["logistic/bottom"])
    assert digit_results["stacking/predictions"] > best_single
    assert digit_results["stacking/embeddings"] > best_single


def test_compare_reports_baselines_methods_and_extra(digit_results):
    expected = {"logistic/top", "logistic/bottom", "logistic/concat", "late_fusion"}
    expected |= {f"{m}/{level}" for m in METHODS for level in ("embeddings", "predictions")}
    assert set(digit_results) == expected
    assert digit_results["late_fusion"] == 0.5
    table = comparison_table(digit_results)
    lines = table.splitlines()
    assert lines[0] == "| method | accuracy |" and len(lines) == 2 + len(expected)
    assert lines[-1].startswith("| late_fusion |")  # sorted best first


def test_make_combiner_uses_scikit_learn_ensembles():
    columns = {"top": list(range(32)), "bottom": list(range(32, 64))}
    classes = {
        "bagging": BaggingClassifier,
        "adaboost": AdaBoostClassifier,
        "gradient_boosting": GradientBoostingClassifier,
        "hist_gradient_boosting": HistGradientBoostingClassifier,
        "stacking": StackingClassifier,
    }
    for method, cls in classes.items():
        assert isinstance(make_combiner(method, columns), cls)
        at_predictions = make_combiner(method, columns, level="predictions")
        assert isinstance(at_predictions, StackingClassifier)
        assert [name for name, _ in at_predictions.estimators] == ["top", "bottom"]
        if method != "stacking":
            assert isinstance(at_predictions.final_estimator, cls)
    assert make_combiner("bagging", columns, n_estimators=7, seed=3).get_params()["n_estimators"] == 7


def test_per_modality_base_models_see_only_their_columns(digits):
    features, y, train, test = digits
    X = np.concatenate([features["top"], features["bottom"]], axis=1)
    model = make_combiner("stacking", {"top": list(range(32)), "bottom": list(range(32, 64))}, level="predictions")
    model.fit(X[train], y[train])
    top = model.named_estimators_["top"]
    scrambled = X[test].copy()
    scrambled[:, 32:] = 0.0  # the bottom half changes; the top model must not notice
    np.testing.assert_array_equal(top.predict_proba(X[test]), top.predict_proba(scrambled))


class RecordingEncoder(nn.Module):
    """Test double that records whether gradients were enabled when it ran."""

    def __init__(self, in_dim: int, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.linear = nn.Linear(in_dim, dim)
        self.grad_enabled: list[bool] = []

    def forward(self, x, mask=None):
        self.grad_enabled.append(torch.is_grad_enabled())
        pooled = self.linear(x)
        return EncoderOutput(tokens=pooled[:, None], mask=torch.ones(len(x), 1, dtype=torch.bool), pooled=pooled)


def test_extract_embeddings_without_gradients_over_batches():
    torch.manual_seed(0)
    encoders = {"a": RecordingEncoder(5, 3), "b": RecordingEncoder(7, 2)}
    batches = [
        {"a": torch.randn(4, 5), "b": torch.randn(4, 7), "label": torch.tensor([0, 1, 2, 0])},
        {"a": torch.randn(2, 5), "b": torch.randn(2, 7), "label": torch.tensor([1, 1]),
         "b_present": torch.tensor([True, False])},
    ]
    result = extract_embeddings(encoders, batches)
    assert isinstance(result, EmbeddingSet)
    assert result.features["a"].shape == (6, 3) and result.features["b"].shape == (6, 2)
    np.testing.assert_array_equal(result.labels, [0, 1, 2, 0, 1, 1])
    with torch.no_grad():
        expected = torch.cat([encoders["a"](b["a"]).pooled for b in batches]).numpy()
    np.testing.assert_allclose(result.features["a"], expected, rtol=1e-6)
    assert np.isnan(result.features["b"][5]).all() and not np.isnan(result.features["b"][:5]).any()
    assert encoders["a"].grad_enabled[:2] == [False, False]
    assert encoders["a"].training  # mode restored
    X, columns = result.concatenated()
    assert X.shape == (6, 5) and columns == {"a": [0, 1, 2], "b": [3, 4]}


def test_extract_embeddings_from_the_real_encoders_then_compare():
    torch.manual_seed(0)
    model = build(
        "model",
        {
            "name": "late_fusion",
            "num_classes": 2,
            "encoders": {
                "audio": {"name": "audio_cnn", "sample_rate": 8000, "n_fft": 128, "hop_length": 64, "n_mels": 16,
                          "channels": [4], "dim": 8},
                "image": {"name": "image_cnn", "channels": [4], "dim": 8},
            },
        },
    )
    # class 1: a high tone and a bright image; class 0: a low tone and a dark image
    g = torch.Generator().manual_seed(0)
    t = torch.arange(1600) / 8000
    batches = []
    for _ in range(6):
        labels = torch.randint(0, 2, (10,), generator=g)
        freq = torch.where(labels == 1, 1500.0, 300.0)[:, None]
        audio = 0.3 * torch.sin(2 * torch.pi * freq * t) + 0.01 * torch.randn(10, 1600, generator=g)
        image = torch.randn(10, 3, 16, 16, generator=g) * 0.3 + (labels.float() * 2 - 1)[:, None, None, None]
        batches.append({"audio": audio, "image": image, "label": labels})
    embeddings = extract_embeddings(model, batches)  # the model's encoders
    assert embeddings.features["audio"].shape == (60, 8) and embeddings.features["image"].shape == (60, 8)
    result = compare(
        embeddings, train_index=np.arange(40), test_index=np.arange(40, 60),
        methods=["stacking", "hist_gradient_boosting"], levels=["predictions"], options={"hist_gradient_boosting": {"max_iter": 20}},
    )
    assert result["stacking/predictions"] >= 0.8  # chance is 0.5


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda f, y: make_combiner("voting", {"a": [0]}), "method"),
        (lambda f, y: make_combiner("bagging", {"a": [0]}, level="features"), "level"),
        (lambda f, y: make_combiner("bagging", {}), "columns"),
        (lambda f, y: make_combiner("bagging", {"a": [0]}, n_trees=3), "n_trees"),
        (lambda f, y: compare(f, y[:-1], train_index=[0, 1], test_index=[2]), "labels have shape"),
        (lambda f, y: compare(f, y, train_index=[0, 10_000], test_index=[2]), "train_index"),
        (lambda f, y: compare(f, y, train_index=[], test_index=[2]), "train_index"),
        (lambda f, y: compare(f, None, train_index=[0], test_index=[2]), "labels are required"),
        (lambda f, y: compare(f, y, train_index=[0], test_index=[1], methods=["bagging"],
                              options={"adaboost": {}}), "options for"),
        (lambda f, y: compare({"a": f["top"], "b": f["bottom"][:5]}, y, train_index=[0], test_index=[1]), "same N"),
        (lambda f, y: extract_embeddings({}, []), "empty"),
        (lambda f, y: extract_embeddings({"a": RecordingEncoder(5, 3)}, []), "empty"),
    ],
)
def test_bad_arguments_raise_parameter_error(digits, call, message):
    features, y, _, _ = digits
    with pytest.raises(ParameterError, match=message):
        call(features, y)
