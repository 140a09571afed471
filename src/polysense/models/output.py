"""The one output contract of every model.

Every model's ``forward(batch)`` returns a :class:`ModelOutput` (or a subclass). The trainer,
the evaluator and the reports read only the base fields:

- ``loss``: the scalar training objective, or None when the batch cannot give one (no labels,
  a missing modality);
- ``losses``: each objective's (unweighted) loss by name, e.g. ``{"itm": ..., "mlm": ...}``;
- ``metrics``: detached diagnostics by name, e.g. ``{"accuracy": ...}``.

A kind adds what it produces: :class:`ClassifierOutput` the ``logits``, :class:`EmbeddingOutput`
the unit-length ``embeddings`` per modality, :class:`EnhancementOutput` the estimated waveforms.

Every model that can embed a modality also has ``encode(modality, batch) -> (B, D)``
unit-length embeddings and a ``modalities`` tuple (see :class:`Embedder`): the search index and
zero-shot evaluation call only that. A model whose modalities share **one** space (trained to
make a pair's embeddings similar: CLIP, VSE++, ALBEF's contrastive projections) sets
``shared_space = True``; only then is cross-modal retrieval between them meaningful. A
classifier's per-modality features live in unrelated spaces (``shared_space`` False).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch

__all__ = ["ClassifierOutput", "Embedder", "EmbeddingOutput", "EnhancementOutput", "ModelOutput"]


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
    """An embedding model's output: ``embeddings`` {modality: (B, D) unit-length}."""

    embeddings: dict[str, torch.Tensor] = field(default_factory=dict)
    #: (B, B) similarity logits of the pair (rows: first modality), when both are present.
    logits: torch.Tensor | None = None


@dataclass
class EnhancementOutput(ModelOutput):
    """A denoiser's or separator's output: ``estimate`` (B, T) or (B, S, T) waveforms."""

    estimate: torch.Tensor | None = None


@runtime_checkable
class Embedder(Protocol):
    """A model that embeds modalities into one space (what the search index needs)."""

    modalities: tuple[str, ...]

    def encode(self, modality: str, batch: Mapping[str, Any]) -> torch.Tensor:  # (B, D), unit length
        ...
