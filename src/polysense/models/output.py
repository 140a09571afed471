"""The one output contract of every model.

Every model's ``forward(batch)`` returns a :class:`ModelOutput` (or a subclass). The trainer,
the evaluator and the reports read only the base fields:

- ``loss``: the scalar training objective, or None when the batch cannot give one (no labels,
  a missing modality);
- ``losses``: each objective's (unweighted) loss by name, e.g. ``{"itm": ..., "mlm": ...}``;
- ``metrics``: detached diagnostics by name, e.g. ``{"accuracy": ...}``.

A kind (:data:`polysense.models.contract.MODEL_KINDS`) adds what it produces:
:class:`ClassifierOutput` the class scores ``logits``, :class:`EmbeddingOutput` the unit-length
``embeddings`` per modality and their (B, B) ``similarity``, :class:`MatchOutput` the
matched-or-not scores of pairs, :class:`EnhancementOutput` the estimated waveforms.

What a model *is* (its ``kind``, ``modalities``, ``shared_space``, ``encode``, ``tokenizer``,
``sample_rate``) is declared by :class:`polysense.models.contract.Model`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

__all__ = ["ClassifierOutput", "EmbeddingOutput", "EnhancementOutput", "MatchOutput", "ModelOutput"]


@dataclass
class ModelOutput:
    """What every model returns (the trainer reads only these three fields).

    Attributes:
        loss: the scalar objective (differentiable), or None when the batch gives none.
        losses: each objective's loss by name (scalars; may include ``loss``'s parts).
        metrics: detached scalar diagnostics by name.
    """

    loss: torch.Tensor | None = None
    losses: dict[str, torch.Tensor] = field(default_factory=dict)
    metrics: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass
class ClassifierOutput(ModelOutput):
    """A classifier's output: ``logits`` (B, num_classes) class scores."""

    logits: torch.Tensor | None = None


@dataclass
class EmbeddingOutput(ModelOutput):
    """An embedding model's output: ``embeddings`` {modality: (B, D) unit-length} and, when both
    modalities of the pair are present, their ``similarity`` (B, B): ``s·⟨a_i, b_j⟩`` with rows the
    first modality and ``s`` the model's logit scale (1 for a cosine)."""

    embeddings: dict[str, torch.Tensor] = field(default_factory=dict)
    similarity: torch.Tensor | None = None


@dataclass
class MatchOutput(ModelOutput):
    """A matcher's output: ``match_logits`` (N, 2) matched-or-not scores of the N (visual, text)
    pairs it judged (index 1 = matched) and their ``match_labels`` (N,) in {0, 1}."""

    match_logits: torch.Tensor | None = None
    match_labels: torch.Tensor | None = None


@dataclass
class EnhancementOutput(ModelOutput):
    """A denoiser's or separator's output: ``estimate`` (B, T) or (B, S, T) waveforms."""

    estimate: torch.Tensor | None = None
