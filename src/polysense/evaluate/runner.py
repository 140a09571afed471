"""Evaluate a trained run on a split: every metric its model kind supports, in one dict.

One pass of the one inference path (:func:`polysense.inference.collect`) over the split, scored
as validation scores it (:func:`polysense.inference.scored`), and then what only evaluation adds:

- **classification** (outputs with ``logits`` and labelled data): accuracy, macro-F1, the
  confusion matrix and accuracy per group (speaker, site);
- **retrieval** (models with ``encode`` over two modalities of the data): Recall@1/5/10 and
  median rank both ways, and mAP when a query has several positives (items with the same
  text are positives of each other);
- **zero-shot** (a text tower, class names, another modality): accuracy from the class names
  put into the modality's prompt templates;
- **robustness** (multimodal classifiers): accuracy with each modality removed;
- **enhancement** (denoisers, separators): the metrics of :mod:`polysense.metrics.enhancement`.

``evaluate_run(run_dir, split="test")`` returns a JSON-able dict and is what ``polysense
evaluate`` prints with ``--json``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from polysense.data.registry import DataSplits
from polysense.errors import ParameterError
from polysense.inference import Collected, batches_of, collect, scored
from polysense.train.run import load_run, run_data

__all__ = ["evaluate_run", "manifest_for_run"]


def _zero_shot(run: Any, found: Collected, classes: tuple[str, ...] | None, templates: Any) -> dict[str, Any]:
    from polysense.evaluate import zero_shot

    model = run.model
    embeddings = found.cat_embeddings()
    if "text" not in model.modalities or run.tokenizer is None or not classes or not found.labels:
        return {}
    result = {}
    embed_text = zero_shot.text_embedder(model, run.tokenizer)
    names = [c.replace("_", " ") for c in classes]
    for modality, values in embeddings.items():
        if modality == "text" or values.shape[0] != len(found.labels):
            continue
        chosen = tuple(templates) if templates else zero_shot.TEMPLATES.get(modality, ("{}",))
        classifier = zero_shot.ZeroShotClassifier.from_class_names(names, embed_text=embed_text, templates=chosen)
        accuracy = classifier.accuracy(values, torch.tensor(found.labels), top_k=(1,))[1]
        result[modality] = {"accuracy": accuracy, "templates": list(chosen)}
    return result


def _robustness(run: Any, dataset: Any, collate: Any, batch_size: int) -> dict[str, float]:
    model = run.model
    if len(model.modalities) < 2:
        return {}
    from polysense.evaluate.missing_modality import evaluate_missing_modality
    return evaluate_missing_modality(model, batches_of(dataset, tokenizer=run.tokenizer, collate=collate, batch_size=batch_size))


def manifest_for_run(path: str | Path, run: Any, *, split: str = "test", allow_outside: bool = False) -> Any:
    """The data of a manifest of new files, as ``run``'s model sees it: labels mapped onto the
    run's classes (by name, or an integer as the class id), audio at the run's sample rate.

    Nothing is read from a train split: a manifest with only ``split`` rows (or without a split
    column: then every row is ``split``) is what a user evaluating a trained model has.
    """
    from polysense.data.builtin import manifest_table_splits
    from polysense.data.manifest import check_split_name, read_manifest

    check_split_name(split)
    table = read_manifest(path, allow_outside=allow_outside)
    if not table.has_splits:
        table = table.with_splits([split] * len(table))
    classes = run.classes if "label" in table.columns else None
    return manifest_table_splits(table, sample_rate=run.sample_rate, classes=classes, require_train=False,
                                 description=f"manifest {path}")


def evaluate_run(
    run_dir: str | Path,
    *,
    split: str = "test",
    data: DataSplits | Mapping[str, Any] | str | None = None,
    batch_size: int = 64,
    keep: bool = False,
    allow_outside: bool = False,
) -> dict[str, Any]:
    """Every metric of the run's model on ``split`` of its data (or of the manifest ``data``).

    Args:
        run_dir: a folder written by ``polysense train``.
        split: ``"test"``, ``"val"`` or ``"train"``.
        data: another data config, or the path of a manifest (:func:`manifest_for_run`), to
            evaluate on instead of the run's own data; or the run's own data already built
            (a :class:`DataSplits`, so that one command builds it once).
        keep: also return the raw :class:`~polysense.inference.Collected` under ``"_predictions"`` (for reports).
        allow_outside: let the manifest ``data`` name files outside its folder.
    """
    run = load_run(run_dir)
    config = run.config
    if isinstance(data, DataSplits):
        splits = data
    elif isinstance(data, (str, Path)):
        splits = manifest_for_run(data, run, split=split, allow_outside=allow_outside)
    else:
        splits = run_data(config if data is None else {**config, "data": dict(data)})
    dataset = splits.split(split)
    if run.classes and splits.classes and tuple(splits.classes) != tuple(run.classes):
        missing = sorted(set(splits.classes) - set(run.classes))
        raise ParameterError(
            f"the {split} data's classes {list(splits.classes)} differ from the classes the model was trained on "
            f"{list(run.classes)}{f' (new: {missing})' if missing else ''}: evaluate on data with the same label set"
        )
    if run.sample_rate and splits.sample_rate and int(run.sample_rate) != int(splits.sample_rate):
        raise ParameterError(f"the data is at {splits.sample_rate} Hz but the model was trained at {run.sample_rate} Hz: "
                             f"give the data config sample_rate: {run.sample_rate}")
    collate = splits.collate
    model = run.model
    found = collect(model, batches_of(dataset, tokenizer=run.tokenizer, collate=collate, batch_size=batch_size),
                    utterances=model.kind == "enhancer")
    evaluate_cfg = config.get("evaluate", {}) or {}
    report = scored(found, retrieval=bool(evaluate_cfg.get("retrieval", True)) and model.shared_space,
                    verification=model.kind == "speaker")
    result: dict[str, Any] = {"split": split, "items": found.count, "run": str(run_dir)}
    result.update({k: v for k, v in found.scalars.items() if math.isfinite(v)})
    classes = run.classes or splits.classes
    logits = found.cat_logits()
    if "accuracy" in report:
        result.update({k: report[k] for k in ("accuracy", "macro_f1", "confusion", "per_group") if k in report})
        result["classes"] = list(classes) if classes else None
    if report.get("retrieval"):
        result["retrieval"] = report["retrieval"]
    if "fd" in report:
        result["fd"] = report["fd"]
    if evaluate_cfg.get("zero_shot", True):
        zero = _zero_shot(run, found, classes, evaluate_cfg.get("templates"))
        if zero:
            result["zero_shot"] = zero
    if evaluate_cfg.get("robustness", True) and logits is not None and found.labels:
        robust = _robustness(run, dataset, collate, batch_size)
        if robust:
            result["robustness"] = robust
    if model.kind == "detector" and classes:
        from polysense.evaluate.detection import evaluate_detection

        result["detection"] = evaluate_detection(run.model, dataset, classes=classes,
                                                 collar_s=float(model.collar_s))
    if report.get("verification"):
        result["verification"] = report["verification"]
    if found.enhancement:
        from polysense.metrics.enhancement import score_utterances

        result["enhancement"] = score_utterances(found.utterances, sample_rate=run.sample_rate)
    if keep:
        result["_predictions"] = found
    return result
