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

Alternating optimisation (a GAN's generator and discriminator): a model that has more than one
optimisation step declares them with ``training_steps() -> list[TrainingStep]``; the trainer then
runs, for every batch and in the listed order, ``forward(batch, step=name)`` and updates only that
step's parameters with that step's own optimiser and schedule. A model without the method (or with
one step) is trained by ``forward(batch)`` and one optimiser, as always. :class:`GenerationOutput`
carries per-item features of generated and real items, from which validation computes a Fréchet
distance (a selection metric that is not the adversarial loss).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch

__all__ = ["ClassifierOutput", "Embedder", "EmbeddingOutput", "EnhancementOutput", "GenerationOutput", "ModelOutput",
           "TrainingStep"]


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


@dataclass
class GenerationOutput(ModelOutput):
    """A generator's output: ``generated`` items (e.g. (B, F, T) normalised log-magnitude spectrograms)
    and ``features`` {"generated": (B, D), "real": (B, D)}: per-item feature vectors of the generated
    items (asked for with the batch's labels) and of the batch's real items, in one feature space;
    validation computes the Fréchet distance ``fd`` between the two sets over the whole split."""

    generated: torch.Tensor | None = None
    features: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainingStep:
    """One optimisation step of a model trained by alternating updates (see the module docstring).

    Attributes:
        name: passed as ``forward(batch, step=name)``; the output's ``loss`` is this step's loss.
        parameters: the parameters this step updates (disjoint from every other step's).
        optim: overrides of the config's ``optim`` section for this step's AdamW (``lr``,
            ``betas``, ``weight_decay``, ``eps``, ``clip_grad_norm``).
        schedule: overrides of the config's ``schedule`` section (``name``, ``warmup_fraction``,
            ``min_lr_ratio``) for this step's learning-rate schedule.
    """

    name: str
    parameters: tuple[torch.nn.Parameter, ...]
    optim: Mapping[str, Any] = field(default_factory=dict)
    schedule: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Embedder(Protocol):
    """A model that embeds modalities into one space (what the search index needs)."""

    modalities: tuple[str, ...]

    def encode(self, modality: str, batch: Mapping[str, Any]) -> torch.Tensor:  # (B, D), unit length
        ...
