"""Evaluate generated sounds against real ones with an independent classifier run.

``evaluate_generated(classifier, generated=..., reference=..., floor=..., training=...,
comparisons=...)`` runs one trained classifier (a run trained on real data only, never on the
generator's output; e.g. the ``fsdd-digits`` recipe) over every set of clips and reports:

- ``accuracy``: the classifier's accuracy on each set by the label asked for (generated) or the
  true label (real); the real held-out clips' accuracy is the ceiling;
- ``inception_score``: :func:`~polysense.metrics.generation.inception_score` of its class
  probabilities (real held-out: the ceiling);
- ``fd``: the Fréchet distance between each set's embeddings and the reference set's (the
  classifier's own ``encode("audio")`` vectors, unit length: a frozen encoder trained on real
  digits); ``floor`` is another real set of the same speakers (real vs real), and each of
  ``comparisons`` (e.g. espeak-ng's digit voices) is measured the same way;
- ``memorisation``: the median distance of each generated clip's embedding to its nearest
  training clip, beside the same median for the real held-out clips (a generator that copies
  its training clips sits far below the held-out clips).

Sets of the same size compare fairly: the Fréchet distance of a finite sample is biased upwards by
about Tr Σ/N, so give the generated, floor and comparison sets as many clips as the reference.
:func:`read_generated_folder` reads a folder written by ``polysense generate`` (its manifest
names the label asked for each clip).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from polysense.data.generated import read_generated_manifest
from polysense.errors import ParameterError
from polysense.metrics.generation import frechet_distance, inception_score, nearest_distances

__all__ = ["ClipSet", "classify_clips", "evaluate_generated", "read_generated_folder"]


@dataclass
class ClipSet:
    """Waveforms (each (T,), at the classifier's rate) with their labels (class indices)."""

    waveforms: list[torch.Tensor]
    labels: torch.Tensor

    def __post_init__(self) -> None:
        self.labels = torch.as_tensor(self.labels, dtype=torch.long).reshape(-1)
        if len(self.waveforms) != self.labels.numel() or not self.waveforms:
            raise ParameterError(f"a clip set needs one label per waveform and at least one clip "
                                 f"(got {len(self.waveforms)} waveforms, {self.labels.numel()} labels)")


def read_generated_folder(folder: str | os.PathLike, *, classes: Sequence[str], sample_rate: int) -> ClipSet:
    """The clips of a ``polysense generate`` folder, loaded at ``sample_rate``, labelled by the
    ``label`` column of its ``manifest.csv`` (class names of ``classes``;
    :func:`polysense.data.generated.read_generated_manifest` checks it)."""
    from polysense.audio import load

    rows = read_generated_manifest(folder, classes=classes)
    waveforms = [load(r.path, sample_rate=sample_rate)[0] for r in rows]
    return ClipSet(waveforms, torch.tensor([list(classes).index(r.label) for r in rows]))


@torch.no_grad()
def classify_clips(run: Any, clips: ClipSet, *, batch_size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """(probabilities (N, C), embeddings (N, D)) of the classifier run's model on the clips."""
    from polysense.data.collate import collate

    model = run.model.eval()
    probabilities, embeddings = [], []
    for start in range(0, len(clips.waveforms), batch_size):
        batch = collate([{"id": str(i), "audio": w.float(), "sample_rate": int(run.sample_rate)}
                         for i, w in enumerate(clips.waveforms[start:start + batch_size])])
        logits = getattr(model(batch), "logits", None)
        if logits is None or logits.ndim != 2:
            raise ParameterError(f"{run.run_dir}: the model gives no class scores; give a classifier run "
                                 "(e.g. one of the fsdd-digits recipe)")
        probabilities.append(torch.softmax(logits.double(), dim=-1))
        embeddings.append(model.encode("audio", batch).double())
    return torch.cat(probabilities), torch.cat(embeddings)


def evaluate_generated(classifier: Any, *, generated: ClipSet, reference: ClipSet, floor: ClipSet | None = None,
                       training: ClipSet | None = None, comparisons: Mapping[str, ClipSet] | None = None,
                       batch_size: int = 64) -> dict[str, Any]:
    """Measures of ``generated`` against the real held-out ``reference`` (see the module docstring).

    Returns a JSON-able dict {set name: {"accuracy", "inception_score", "fd", "clips", ...}} with
    the sets ``generated``, ``reference`` (fd 0 by definition), ``floor`` and each comparison,
    plus ``memorisation`` when ``training`` is given and ``ratios`` (generated / reference accuracy
    and inception score)."""
    sets = {"generated": generated, "reference": reference, **({"floor": floor} if floor is not None else {}),
            **dict(comparisons or {})}
    outputs = {name: classify_clips(classifier, clips, batch_size=batch_size) for name, clips in sets.items()}
    reference_embeddings = outputs["reference"][1]
    result: dict[str, Any] = {}
    for name, clips in sets.items():
        probabilities, embeddings = outputs[name]
        result[name] = {
            "clips": len(clips.waveforms),
            "accuracy": float((probabilities.argmax(-1) == clips.labels).double().mean()),
            "inception_score": inception_score(probabilities),
            "fd": 0.0 if name == "reference" else frechet_distance(embeddings, reference_embeddings),
        }
    if training is not None:
        train_embeddings = classify_clips(classifier, training, batch_size=batch_size)[1]
        result["memorisation"] = {
            "generated_median_nearest_train": nearest_distances(outputs["generated"][1], train_embeddings).median,
            "reference_median_nearest_train": nearest_distances(reference_embeddings, train_embeddings).median,
        }
    result["ratios"] = {
        "accuracy": result["generated"]["accuracy"] / max(result["reference"]["accuracy"], 1e-12),
        "inception_score": result["generated"]["inception_score"] / result["reference"]["inception_score"],
    }
    result["encoder"] = f"the classifier's encode('audio') ({Path(str(classifier.run_dir))})"
    return result
