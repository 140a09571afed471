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

Alternating optimisation (a GAN's generator and discriminator): a model that has more than one
optimisation step declares them with ``training_steps() -> list[TrainingStep]``; the trainer then
runs, for every batch and in the listed order, ``forward(batch, step=name)`` and updates only that
step's parameters with that step's own optimiser and schedule. A model without the method (or with
one step) is trained by ``forward(batch)`` and one optimiser, as always. :class:`GenerationOutput`
carries per-item features of generated and real items, from which validation computes a Fréchet
distance (a selection metric that is not the adversarial loss).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

__all__ = ["ClassifierOutput", "EmbeddingOutput", "EnhancementOutput", "GenerationOutput", "MatchOutput", "ModelOutput",
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
