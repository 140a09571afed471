"""Combining trained models (the lecture's "together we are stronger"): an ensemble over the
embeddings of independently trained single-modality runs.

Each run's encoder embeds its modality of the same items; a scikit-learn combiner
(:func:`polysense.models.combining.make_combiner`: stacking, bagging, boosting) is fitted on
the training split and scored on the evaluation split. Nothing is selected on that split.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from polysense.errors import ParameterError
from polysense.inference import batches_of
from polysense.models.combining import EmbeddingSet, extract_embeddings, make_combiner
from polysense.train.run import load_run, run_data

__all__ = ["ensemble_of_runs"]


def ensemble_of_runs(
    runs: Mapping[str, str | Path],
    *,
    method: str = "stacking",
    level: str = "predictions",
    split: str = "test",
    batch_size: int = 64,
    seed: int = 0,
) -> dict[str, Any]:
    """Fit ``method`` over the embeddings of ``runs`` ({modality: run folder}) on the train
    split; return ``{"accuracy": ..., "method": ..., "level": ..., "items": ...}`` on ``split``.

    Every run must be a single-modality classifier trained on the same data config.
    """
    if len(runs) < 2:
        raise ParameterError("an ensemble needs runs for two or more modalities")
    loaded = {m: load_run(path) for m, path in runs.items()}
    data_configs = {str(sorted(run.config["data"].items())) for run in loaded.values()}
    if len(data_configs) != 1:
        raise ParameterError(f"the runs {list(runs.values())} were trained on different data: combine runs of one dataset")
    first = next(iter(loaded.values()))
    data = run_data(first.config)
    encoders = {}
    for modality, run in loaded.items():
        towers = getattr(run.model, "encoders", None)
        encoder = towers[modality] if towers is not None and modality in towers else None
        if encoder is None:
            raise ParameterError(f"run {runs[modality]} has no {modality} encoder: give single-modality classifier runs")
        encoders[modality] = encoder

    def embed(name: str) -> EmbeddingSet:
        dataset = data.split(name)
        return extract_embeddings(encoders, batches_of(dataset, collate=data.collate, batch_size=batch_size))

    train, test = embed("train"), embed(split)
    x_train, columns = train.concatenated()
    x_test, _ = test.concatenated()
    combiner = make_combiner(method, columns, level=level, seed=seed)
    combiner.fit(x_train, train.labels)
    accuracy = float(np.mean(combiner.predict(x_test) == test.labels))
    return {"accuracy": accuracy, "method": method, "level": level, "items": int(len(test.labels))}
