"""Combining models: bagging, boosting and stacking over per-modality embeddings or predictions.

The lecture contrasts *combining models* (models trained independently, their outputs combined:
"together we are stronger") with multimodal fusion. Here the combining is scikit-learn's own
estimators, not new code:

- **bagging**: :class:`~sklearn.ensemble.BaggingClassifier`, decision trees on bootstrap samples,
  majority vote (probability average).
- **boosting**: :class:`~sklearn.ensemble.AdaBoostClassifier` (``"adaboost"``),
  :class:`~sklearn.ensemble.GradientBoostingClassifier` (``"gradient_boosting"``) and
  :class:`~sklearn.ensemble.HistGradientBoostingClassifier` (``"hist_gradient_boosting"``): each
  model corrects its predecessors' mistakes.
- **stacking**: :class:`~sklearn.ensemble.StackingClassifier`, a meta-model (logistic regression)
  over the out-of-fold predictions of base models.

Two levels (``level=``):

- ``"embeddings"``: the ensemble sees the per-modality embeddings side by side (its features are
  the concatenation; stacking's base models are a logistic regression, a tree and k-NN).
- ``"predictions"``: one base model per modality (standardise + logistic regression on that
  modality's columns only); the ensemble (or, for stacking, a logistic regression) is trained on
  their out-of-fold class probabilities, i.e. a learned decision-level combination.

:func:`extract_embeddings` turns encoders and batches into arrays (no gradients), and
:func:`compare` fits every method on the same split and returns test accuracies, to set beside a
fusion model's accuracy on that split (``extra=``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    AdaBoostClassifier,
    BaggingClassifier,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    StackingClassifier,
)
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier
from torch import nn

from polysense._checks import check_choice
from polysense.errors import ParameterError
from polysense.models.batch import encode_modality, modality_presence

__all__ = [
    "LEVELS",
    "METHODS",
    "EmbeddingSet",
    "compare",
    "comparison_table",
    "extract_embeddings",
    "make_combiner",
]

METHODS = ("bagging", "adaboost", "gradient_boosting", "hist_gradient_boosting", "stacking")
LEVELS = ("embeddings", "predictions")


@dataclass
class EmbeddingSet:
    """Per-modality embeddings of the same samples, row ``i`` of each array being sample ``i``.

    Attributes:
        features: modality → (N, D_m) float array (NaN rows where the modality was missing).
        labels: (N,) int array, or None when the batches had no labels.
    """

    features: dict[str, np.ndarray]
    labels: np.ndarray | None

    def concatenated(self) -> tuple[np.ndarray, dict[str, list[int]]]:
        """The (N, Σ D_m) side-by-side features and each modality's column indices in it."""
        return _concatenate(self.features)


def _concatenate(features: Mapping[str, np.ndarray]) -> tuple[np.ndarray, dict[str, list[int]]]:
    if not features:
        raise ParameterError("features is empty: expected at least one modality's (N, D) array")
    arrays = {m: np.asarray(x, dtype=np.float64) for m, x in features.items()}
    rows = {m: x.shape[0] for m, x in arrays.items()}
    if any(x.ndim != 2 for x in arrays.values()) or len(set(rows.values())) != 1:
        shapes = {m: x.shape for m, x in arrays.items()}
        raise ParameterError(f"features have shapes {shapes}: expected (N, D_m) arrays with the same N")
    columns, start = {}, 0
    for m, x in arrays.items():
        columns[m] = list(range(start, start + x.shape[1]))
        start += x.shape[1]
    return np.concatenate(list(arrays.values()), axis=1), columns


@torch.no_grad()
def extract_embeddings(
    encoders: Mapping[str, nn.Module] | nn.Module,
    batches: Iterable[Mapping[str, Any]],
    *,
    label_key: str = "label",
    device: torch.device | str | None = None,
) -> EmbeddingSet:
    """Pooled embeddings of every modality for every sample of ``batches`` (one pass, no gradients).

    Args:
        encoders: modality → encoder (EncoderOutput-returning module), or a model with an
            ``encoders`` attribute such as a :class:`~polysense.models.fusion.FusionClassifier`.
            Each is put in eval mode for the pass and restored afterwards.
        batches: batch dicts (keys as in :mod:`polysense.models.fusion`); a sample whose
            ``"<m>_present"`` flag is False gets a NaN row for ``m``.
        label_key: where the labels are (collected when present in every batch).
        device: where to run the encoders (tensors are moved there); default: where they are.

    Returns:
        :class:`EmbeddingSet` of float32 arrays.
    """
    if isinstance(encoders, nn.Module) and not isinstance(encoders, nn.ModuleDict):
        encoders = getattr(encoders, "encoders", None)
    if encoders is None or len(encoders) == 0:
        raise ParameterError("encoders is empty: pass modality → encoder modules (or a model with .encoders)")
    encoders = dict(encoders.items())
    modes = {m: e.training for m, e in encoders.items()}
    chunks: dict[str, list[np.ndarray]] = {m: [] for m in encoders}
    labels: list[np.ndarray] = []
    has_labels = True
    try:
        for encoder in encoders.values():
            encoder.eval()
        for batch in batches:
            if device is not None:
                batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
            present = modality_presence(batch, list(encoders))
            for m, encoder in encoders.items():
                out = encode_modality(encoder, m, batch)
                if out is None:
                    pooled = torch.full((present[m].shape[0], encoder.dim), float("nan"))
                else:
                    pooled = out.pooled.float().masked_fill(~present[m][:, None], float("nan"))
                chunks[m].append(pooled.cpu().numpy())
            if batch.get(label_key) is None:
                has_labels = False
            else:
                labels.append(torch.as_tensor(batch[label_key]).cpu().numpy())
    finally:
        for m, encoder in encoders.items():
            encoder.train(modes[m])
    if not chunks[next(iter(chunks))]:
        raise ParameterError("batches is empty: nothing to embed")
    features = {m: np.concatenate(parts) for m, parts in chunks.items()}
    return EmbeddingSet(features=features, labels=np.concatenate(labels) if has_labels and labels else None)


def _modality_model(columns: Sequence[int]) -> Pipeline:
    """Standardise + logistic regression on one modality's columns only."""
    return Pipeline(
        [
            ("select", ColumnTransformer([("columns", "passthrough", list(columns))])),
            ("scale", StandardScaler()),
            ("logistic", LogisticRegression(max_iter=2000)),
        ]
    )


def _defaults(method: str, seed: int) -> tuple[type, dict[str, Any]]:
    """The scikit-learn class of ``method`` and the parameters polysense uses by default."""
    if method == "bagging":
        return BaggingClassifier, {"estimator": DecisionTreeClassifier(), "n_estimators": 50, "random_state": seed}
    if method == "adaboost":
        estimator = DecisionTreeClassifier(max_depth=3)
        return AdaBoostClassifier, {"estimator": estimator, "n_estimators": 100, "random_state": seed}
    if method == "gradient_boosting":
        return GradientBoostingClassifier, {"n_estimators": 100, "random_state": seed}
    if method == "hist_gradient_boosting":
        return HistGradientBoostingClassifier, {"random_state": seed}
    return StackingClassifier, {"final_estimator": LogisticRegression(max_iter=2000), "cv": 5}


def _construct(cls: type, params: Mapping[str, Any]) -> ClassifierMixin:
    try:
        return cls(**params)
    except TypeError as error:
        raise ParameterError(f"invalid options for {cls.__name__}: {error}") from error


def make_combiner(
    method: str,
    columns: Mapping[str, Sequence[int]],
    *,
    level: str = "embeddings",
    seed: int = 0,
    **options: Any,
) -> ClassifierMixin:
    """A scikit-learn classifier that combines models by ``method`` at ``level``.

    Args:
        method: one of :data:`METHODS`.
        columns: modality → its column indices in the concatenated feature matrix
            (:meth:`EmbeddingSet.concatenated` gives them).
        level: ``"embeddings"`` (the ensemble over the concatenated embeddings) or
            ``"predictions"`` (one logistic regression per modality, the ensemble over their
            out-of-fold probabilities). See the module docstring.
        seed: random_state of every randomised part.
        **options: keyword arguments of the scikit-learn ensemble (e.g. ``n_estimators``;
            for stacking ``cv``/``final_estimator``), overriding the defaults.

    Returns:
        An unfitted estimator with ``fit(X, y)`` / ``predict(X)`` on the concatenated features.
    """
    check_choice("method", method, METHODS)
    check_choice("level", level, LEVELS)
    if not isinstance(columns, Mapping) or not columns:
        raise ParameterError(f"columns={columns!r} is invalid: expected modality → column indices")
    per_modality = [(m, _modality_model(cols)) for m, cols in columns.items()]
    cls, params = _defaults(method, seed)
    params.update(options)
    if method == "stacking":
        base = per_modality if level == "predictions" else [
            ("logistic", make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))),
            ("tree", DecisionTreeClassifier(max_depth=8, random_state=seed)),
            ("knn", make_pipeline(StandardScaler(), KNeighborsClassifier())),
        ]
        return _construct(StackingClassifier, {"estimators": base, "stack_method": "predict_proba", **params})
    ensemble = _construct(cls, params)
    if level == "predictions":
        return StackingClassifier(per_modality, final_estimator=ensemble, stack_method="predict_proba", cv=5)
    return ensemble


def _indices(name: str, index: Any, size: int) -> np.ndarray:
    index = np.asarray(index)
    if index.ndim != 1 or index.size == 0 or not np.issubdtype(index.dtype, np.integer):
        raise ParameterError(f"{name} must be a non-empty 1-D array of sample indices, got {index!r}")
    if index.min() < -size or index.max() >= size:
        raise ParameterError(f"{name} has indices outside [0, {size}) (there are {size} samples)")
    return index


def compare(
    features: EmbeddingSet | Mapping[str, np.ndarray],
    labels: np.ndarray | None = None,
    *,
    train_index: Sequence[int] | np.ndarray,
    test_index: Sequence[int] | np.ndarray,
    methods: Sequence[str] = METHODS,
    levels: Sequence[str] = ("embeddings", "predictions"),
    baselines: bool = True,
    seed: int = 0,
    options: Mapping[str, Mapping[str, Any]] | None = None,
    extra: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """Fit every combining method on one split and return its test accuracy.

    Args:
        features: an :class:`EmbeddingSet` or modality → (N, D_m) arrays.
        labels: (N,) labels (default: the EmbeddingSet's).
        train_index, test_index: the split (sample indices), the same for every method, so
            the numbers compare with a fusion model evaluated on ``test_index``.
        methods: which of :data:`METHODS` to run.
        levels: which of :data:`LEVELS` to run each method at.
        baselines: also report a logistic regression on each modality alone
            (``"logistic/<m>"``) and on the concatenation (``"logistic/concat"``).
        seed: random_state of every method.
        options: method → its scikit-learn options (see :func:`make_combiner`).
        extra: accuracies computed elsewhere on the same split (e.g. ``{"late_fusion": 0.91}``),
            copied into the result so that one table holds them all.

    Returns:
        ``{"<method>/<level>": accuracy, ...}`` (fractions in [0, 1]), baselines first, then
        ``extra``; format with :func:`comparison_table`.
    """
    if isinstance(features, EmbeddingSet):
        labels = features.labels if labels is None else labels
        features = features.features
    if labels is None:
        raise ParameterError("labels are required: pass them or an EmbeddingSet that has them")
    X, columns = _concatenate(features)
    y = np.asarray(labels)
    if y.shape != (X.shape[0],):
        raise ParameterError(f"labels have shape {y.shape}: expected ({X.shape[0]},), one per sample")
    train = _indices("train_index", train_index, len(y))
    test = _indices("test_index", test_index, len(y))
    options = dict(options or {})
    for method in methods:
        check_choice("methods[]", method, METHODS)
    for level in levels:
        check_choice("levels[]", level, LEVELS)
    unknown = set(options) - set(methods)
    if unknown:
        raise ParameterError(f"options for {sorted(unknown)} but methods are {list(methods)}")
    results: dict[str, float] = {}
    if baselines:
        for name, cols in [*columns.items(), ("concat", list(range(X.shape[1])))]:
            model = _modality_model(cols)
            results[f"logistic/{name}"] = float(model.fit(X[train], y[train]).score(X[test], y[test]))
    for method in methods:
        for level in levels:
            model = make_combiner(method, columns, level=level, seed=seed, **options.get(method, {}))
            results[f"{method}/{level}"] = float(model.fit(X[train], y[train]).score(X[test], y[test]))
    results.update({name: float(accuracy) for name, accuracy in (extra or {}).items()})
    return results


def comparison_table(accuracies: Mapping[str, float]) -> str:
    """A Markdown table of :func:`compare`'s result, best first."""
    lines = ["| method | accuracy |", "|---|---:|"]
    for name, accuracy in sorted(accuracies.items(), key=lambda item: -item[1]):
        lines.append(f"| {name} | {accuracy:.3f} |")
    return "\n".join(lines)
