"""Evaluate a trained run on a split: every metric its model kind supports, in one dict.

- **classification** (outputs with ``logits`` and labelled data): accuracy, macro-F1, the
  confusion matrix and accuracy per group (speaker, site);
- **retrieval** (models with ``encode`` over two modalities of the data): Recall@1/5/10 and
  median rank both ways, and mAP when a query has several positives (items with the same
  text are positives of each other);
- **zero-shot** (a text tower, class names, another modality): accuracy from the class names
  put into the modality's prompt templates;
- **robustness** (multimodal classifiers): accuracy with each modality removed;
- **enhancement** (denoisers, separators): the metrics of :mod:`polysense.evaluate.enhancement`.

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
from polysense.models.output import EmbeddingOutput, EnhancementOutput
from polysense.train.run import load_run, run_data

__all__ = ["Predictions", "batches_of", "evaluate_run", "manifest_for_run", "mean_average_precision", "predict"]


class Predictions:
    """What one pass over a split collected (kept for the report's figures)."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.texts: list[str] = []
        self.groups: list[str] = []
        self.labels: list[int] = []
        self.logits: list[torch.Tensor] = []
        self.embeddings: dict[str, list[torch.Tensor]] = {}
        self.scalars: dict[str, float] = {}
        self.count = 0
        self.enhancement = False

    def cat_logits(self) -> torch.Tensor | None:
        return torch.cat(self.logits) if self.logits else None

    def cat_embeddings(self) -> dict[str, torch.Tensor]:
        return {m: torch.cat(v) for m, v in self.embeddings.items()}


def mean_average_precision(similarity: torch.Tensor, positives: torch.Tensor) -> float:
    """mAP of the rows: AP_i = (1/|P_i|) Σ_{k: item k is a positive} precision@rank(k), the
    candidates ranked by descending similarity (ties in index order)."""
    order = similarity.argsort(dim=1, descending=True, stable=True)
    hits = positives.gather(1, order).double()
    cumulative = hits.cumsum(dim=1)
    ranks = torch.arange(1, hits.shape[1] + 1, dtype=torch.float64)
    precision_at_hits = (cumulative / ranks) * hits
    counts = hits.sum(dim=1)
    if bool((counts == 0).any()):
        raise ParameterError("every query needs at least one positive for mAP")
    return float((precision_at_hits.sum(dim=1) / counts).mean())


def batches_of(dataset: Any, *, tokenizer: Any = None, collate: Any = None, batch_size: int = 64):
    """The dataset's items in order, collated (and tokenized with ``tokenizer``) in batches."""
    from polysense.data.collate import collate as default_collate
    from polysense.data.batches import Collator, epoch_batches

    collator = Collator(collate or default_collate, tokenizer)
    for indices in epoch_batches(len(dataset), batch_size, seed=0, epoch=0, shuffle=False):
        yield collator([dataset[i] for i in indices])


@torch.no_grad()
def predict(model: torch.nn.Module, batches, *, device: torch.device | str = "cpu") -> Predictions:
    """Run ``model`` over ``batches`` and collect logits, embeddings, labels, ids and the mean
    of its loss/metrics."""
    from polysense.train.validation import output_scalars, to_device

    found = Predictions()
    model.eval()
    modalities = tuple(getattr(model, "modalities", ()) or ())
    for batch in batches:
        batch = to_device(batch, torch.device(device))
        out = model(batch)
        found.enhancement = found.enhancement or isinstance(out, EnhancementOutput)
        size = len(batch.get("id") or []) or 1
        found.count += size
        for key, value in output_scalars(out).items():
            found.scalars[key] = found.scalars.get(key, 0.0) + value * size
        found.ids.extend(str(i) for i in batch.get("id") or [])
        found.texts.extend(batch.get("text") or [])
        found.groups.extend(str(g) for g in batch.get("group") or [])
        label = batch.get("label")
        if isinstance(label, torch.Tensor) and label.ndim == 1:
            found.labels.extend(int(v) for v in label.cpu())
        logits = getattr(out, "logits", None)
        if isinstance(logits, torch.Tensor) and logits.ndim == 2 and isinstance(label, torch.Tensor) \
                and logits.shape[0] == label.shape[0] and not _is_similarity(out):
            found.logits.append(logits.float().cpu())
        if hasattr(model, "encode"):
            for modality in modalities:
                try:
                    embedded = model.encode(modality, batch)
                except ParameterError:
                    continue  # the batch lacks this modality
                found.embeddings.setdefault(modality, []).append(embedded.float().cpu())
    found.scalars = {k: v / max(found.count, 1) for k, v in found.scalars.items()}
    return found


def _is_similarity(out: Any) -> bool:
    # an embedding model's logits are a (B, B) similarity matrix, not class scores
    return isinstance(out, EmbeddingOutput)


def _retrieval(found: Predictions) -> dict[str, Any]:
    from polysense.evaluate.retrieval import pair_similarity, retrieval_metrics

    embeddings = found.cat_embeddings()
    if len(embeddings) < 2:
        return {}
    result: dict[str, Any] = {}
    names = sorted(embeddings)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            ea, eb = embeddings[a], embeddings[b]
            if ea.shape[0] != eb.shape[0] or ea.shape[1] != eb.shape[1]:
                continue
            keys = found.texts if len(found.texts) == ea.shape[0] else (found.labels or None)
            similarity, positives = pair_similarity(ea, eb, a=a, b=b, texts=found.texts or None, keys=keys)
            metrics = retrieval_metrics(similarity, ks=(1, 5, 10), positives=positives)
            for direction, side in ((f"{a}_to_{b}", metrics.a_to_b), (f"{b}_to_{a}", metrics.b_to_a)):
                entry = {f"r@{k}": v for k, v in side.recall.items()}
                entry["median_rank"] = side.median_rank
                result[direction] = entry
            # mAP where a query has several positives (e.g. a caption shared by many clips)
            if bool((positives.sum(dim=1) > 1).any()):
                result[f"{a}_to_{b}"]["map"] = mean_average_precision(similarity, positives)
            if bool((positives.sum(dim=0) > 1).any()):
                result[f"{b}_to_{a}"]["map"] = mean_average_precision(similarity.T, positives.T)
    return result


def _zero_shot(run: Any, found: Predictions, classes: tuple[str, ...] | None, templates: Any) -> dict[str, Any]:
    from polysense.evaluate import zero_shot

    model = run.model
    embeddings = found.cat_embeddings()
    if "text" not in getattr(model, "modalities", ()) or run.tokenizer is None or not classes or not found.labels:
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
    modalities = tuple(getattr(model, "modalities", ()) or ())
    if len(modalities) < 2:
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
        keep: also return the raw :class:`Predictions` under ``"_predictions"`` (for reports).
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
    found = predict(run.model, batches_of(dataset, tokenizer=run.tokenizer, collate=collate, batch_size=batch_size))
    result: dict[str, Any] = {"split": split, "items": found.count, "run": str(run_dir)}
    result.update({k: v for k, v in found.scalars.items() if math.isfinite(v)})
    classes = run.classes or splits.classes
    logits = found.cat_logits()
    if logits is not None and found.labels:
        from polysense.evaluate.classification import classification_metrics

        metrics = classification_metrics(logits, torch.tensor(found.labels), num_classes=logits.shape[1],
                                         groups=found.groups if len(found.groups) == len(found.labels) else None)
        result.update(metrics)
        result["classes"] = list(classes) if classes else None
    evaluate_cfg = config.get("evaluate", {}) or {}
    if evaluate_cfg.get("retrieval", True) and getattr(run.model, "shared_space", False):
        retrieval = _retrieval(found)
        if retrieval:
            result["retrieval"] = retrieval
    if evaluate_cfg.get("zero_shot", True):
        zero = _zero_shot(run, found, classes, evaluate_cfg.get("templates"))
        if zero:
            result["zero_shot"] = zero
    if evaluate_cfg.get("robustness", True) and logits is not None and found.labels:
        robust = _robustness(run, dataset, collate, batch_size)
        if robust:
            result["robustness"] = robust
    if getattr(run.model, "kind", None) == "detector" and classes:
        from polysense.evaluate.detection import evaluate_detection

        result["detection"] = evaluate_detection(run.model, dataset, classes=classes,
                                                 collar_s=float(getattr(run.model, "collar_s", 0.2)))
    if getattr(run.model, "kind", None) == "speaker":
        embeddings = found.cat_embeddings().get("audio")
        if embeddings is not None and len(found.groups) == embeddings.shape[0] and len(set(found.groups)) >= 2:
            from polysense.evaluate.verification import equal_error_rate, min_dcf, trials

            scores, same = trials(embeddings, found.groups)
            result["verification"] = {"eer": equal_error_rate(scores, same), "min_dcf_p0.01": min_dcf(scores, same),
                                      "min_dcf_p0.05": min_dcf(scores, same, p_target=0.05), "trials": int(len(scores)),
                                      "speakers": sorted(set(found.groups))}
    if found.enhancement:
        from polysense.evaluate.enhancement import evaluate_enhancement

        result["enhancement"] = evaluate_enhancement(run.model, dataset, sample_rate=run.sample_rate)
    if keep:
        result["_predictions"] = found
    return result
