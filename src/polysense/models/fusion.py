"""Fusion strategies (the lecture's taxonomy), each selectable by name.

A **fusion** (kind ``"fusion"``) receives, per modality, the encoder's
:class:`~polysense.models.encoders.base.EncoderOutput` (or ``None`` when the batch lacks that
modality) and a per-sample presence mask, and returns a :class:`FusionOutput`:

==================  =========================================================================
``"early"``         feature level: the modalities' feature vectors concatenated at the input
                    of one model (the classifier's head, an MLP by default).
``"late"``          decision level: one classifier per modality; their class probabilities
                    combined by averaging, weighted averaging (weights given, or learned
                    through a softmax) or majority vote.
``"hybrid"``        modality-specific transformer layers over each encoder's tokens, merged
                    (token concatenation) at a chosen intermediate layer, then shared layers.
``"cross_modal"``   translation: each modality's pooled embedding is predicted from the others
                    (MSE or cosine loss against the target's detached embedding); a missing
                    modality is replaced by its translation.
``"joint"``         one shared space: every modality projected into it and fused there.
``"coordinated"``   one space per modality, tied by a similarity constraint (cosine, or CLIP's
                    contrastive loss).
==================  =========================================================================

The model composing encoders, a fusion and a head is
:class:`~polysense.models.classifier.FusionClassifier`; the batch schema (keys, presence
masks) is :mod:`polysense.models.batch`. Each fusion documents what it does with a missing
modality; :func:`polysense.evaluate.missing_modality.evaluate_missing_modality` reports the
accuracy with every modality and with each one dropped.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from polysense._checks import check_choice, check_positive_float, check_positive_int
from polysense.errors import ParameterError
from polysense.losses.contrastive import DEFAULT_LOGIT_SCALE, ClipLoss
from polysense.models.batch import check_some_present
from polysense.models.encoders.base import EncoderOutput
from polysense.models.heads import ProjectionHead
from polysense.models.layers import MLP, TransformerEncoder, masked_mean
from polysense.models.registry import build, register

__all__ = [
    "CoordinatedFusion",
    "CrossModalFusion",
    "EarlyFusion",
    "Fusion",
    "FusionOutput",
    "HybridFusion",
    "JointFusion",
    "LateFusion",
]


def _check_dims(dims: Any) -> dict[str, int]:
    if not isinstance(dims, Mapping) or len(dims) < 2:
        raise ParameterError(
            f"dims={dims!r} is invalid: expected a mapping of at least two modality names to widths, "
            "e.g. {'audio': 128, 'image': 64} (a FusionClassifier fills it from its encoders)"
        )
    checked = {}
    for name, width in dims.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ParameterError(f"modality name {name!r} is invalid: expected an identifier such as 'audio'")
        checked[name] = check_positive_int(f"dims[{name!r}]", width, what="the modality's embedding width")
    return checked


def _masked_average(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``Σ_m w_bm v_bm / Σ_m w_bm`` over axis 1 of values (B, M, ...) with weights (B, M)."""
    weights = weights.to(values.dtype)
    total = weights.sum(dim=1).clamp_min(torch.finfo(values.dtype).tiny)
    while weights.ndim < values.ndim:
        weights = weights.unsqueeze(-1)
        total = total.unsqueeze(-1)
    return (weights * values).sum(dim=1) / total


def _mean_over_present(values: Mapping[str, torch.Tensor], present: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Per sample, the mean of ``values[m]`` (B, D) over the modalities ``m`` present for it."""
    names = list(values)
    return _masked_average(
        torch.stack([values[m] for m in names], dim=1), torch.stack([present[m] for m in names], dim=1)
    )


# --------------------------------------------------------------------------- fusions


@dataclass
class FusionOutput:
    """What a fusion returns.

    Attributes:
        fused: (B, dim) the fused representation; for a decision-level fusion (late) the
            (B, num_classes) log-probabilities of the combined decision.
        aux_loss: scalar loss the fusion adds to the objective (0 when it has none). For a
            decision-level fusion it is the whole objective (see :class:`LateFusion`).
        features: per-modality representations the fusion used (after projection or
            substitution of missing modalities), when it has them; they share no space unless the
            fusion aligns them (coordinated fusion), so they are features, not embeddings.
        modality_logits: per-modality class logits (decision-level fusion).
    """

    fused: torch.Tensor
    aux_loss: torch.Tensor
    features: dict[str, torch.Tensor] = field(default_factory=dict)
    modality_logits: dict[str, torch.Tensor] = field(default_factory=dict)


class Fusion(nn.Module):
    """Base class of the fusions.

    Args:
        dims: modality name → width of its encoder's tokens/pooled vector (two or more).
        num_classes: the task's class count (used by decision-level fusions only).

    Subclasses set ``self.dim`` (width of ``fused``) and implement
    ``forward(features, present, labels=None) -> FusionOutput`` where ``features[m]`` is an
    EncoderOutput or None (the modality is absent from the batch) and ``present[m]`` a (B,) bool
    tensor. Absent samples' features are never used.
    """

    #: True when ``fused`` holds decisions (log-probabilities) rather than a representation.
    decision_level: ClassVar[bool] = False
    #: The name of ``aux_loss`` in a model's ``losses`` (None: the fusion has no objective of its own).
    aux_loss_name: ClassVar[str | None] = None

    def __init__(self, dims: Mapping[str, int], *, num_classes: int | None = None) -> None:
        super().__init__()
        self.dims = _check_dims(dims)
        self.modalities = tuple(self.dims)
        self.num_classes = None if num_classes is None else check_positive_int("num_classes", num_classes)
        self.dim = 0

    def _zero(self, like: torch.Tensor) -> torch.Tensor:
        return like.new_zeros(())

    @staticmethod
    def _available(features: Mapping[str, EncoderOutput | None]) -> list[str]:
        return [m for m, f in features.items() if f is not None]

    def _check_inputs(self, features: Mapping[str, EncoderOutput | None], present: Mapping[str, torch.Tensor]) -> None:
        if set(features) != set(self.modalities) or set(present) != set(self.modalities):
            raise ParameterError(
                f"this fusion was built for modalities {list(self.modalities)}, got features for "
                f"{sorted(features)} and presence for {sorted(present)}"
            )
        if not self._available(features):
            raise ParameterError("every modality is absent: a fusion needs at least one")
        check_some_present(present)


@register("fusion", "early")
class EarlyFusion(Fusion):
    """Early (feature-level) fusion: the modalities' feature vectors concatenated in a fixed order.

    ``fused = [x_1; x_2; …]`` (B, Σ dims) with ``x_m`` the pooled feature of modality ``m``; the
    classifier's head is then the one model that sees all modalities together. With precomputed
    features use the ``"features"`` encoder (:class:`FeatureInput`) so the concatenation really
    is at the model's input.

    Missing modality: its slot is filled with a learned vector per modality (``missing="learned"``,
    initialised to zeros) or zeros (``missing="zeros"``).
    """

    def __init__(self, dims: Mapping[str, int], *, num_classes: int | None = None, missing: str = "learned") -> None:
        super().__init__(dims, num_classes=num_classes)
        self.missing_mode = check_choice("missing", missing, ("learned", "zeros"))
        learned = missing == "learned"
        self.missing = nn.ParameterDict(
            {m: nn.Parameter(torch.zeros(d), requires_grad=learned) for m, d in self.dims.items()}
        )
        self.dim = sum(self.dims.values())

    def forward(self, features, present, labels=None) -> FusionOutput:
        self._check_inputs(features, present)
        embeddings = {}
        for m in self.modalities:
            fill = self.missing[m].expand(present[m].shape[0], -1)
            pooled = features[m].pooled if features[m] is not None else fill
            embeddings[m] = torch.where(present[m][:, None], pooled, fill)
        fused = torch.cat(list(embeddings.values()), dim=-1)
        return FusionOutput(fused=fused, aux_loss=self._zero(fused), features=embeddings)


@register("fusion", "late")
class LateFusion(Fusion):
    """Late (decision-level) fusion: one classifier per modality, decisions combined.

    Each modality ``m`` has its own head giving probabilities ``p_m = softmax(z_m)`` (B, C).
    Over the modalities present for a sample:

    - ``combine="mean"``: ``p = (1/|M|) Σ_m p_m``.
    - ``combine="weighted"``: ``p = Σ_m w_m p_m / Σ_m w_m`` with ``weights`` given (positive, a
      list in modality order or a dict), or, when ``weights`` is None, learned as
      ``w = softmax(θ)`` (θ initialised to zeros, i.e. equal weights).
    - ``combine="vote"``: majority vote of the per-modality decisions ``argmax p_m``; the
      output distribution is ``p = (votes + p_mean) / (|M| + 1)``, whose argmax is the class
      with the most votes and, on a **tie**, the tied class with the highest mean probability
      (then the lowest class index).

    ``fused`` holds ``log p`` (used directly as the logits). The objective (``aux_loss``, when
    labels are given) trains each modality's classifier on its own, as stand-alone models:
    the mean over modalities of the cross-entropy of ``z_m`` on the samples where ``m`` is
    present; learned weights add the NLL of the weighted average of the *detached* ``p_m``,
    so they learn to combine the models without changing them.

    Missing modality: it simply has no vote/weight for that sample.
    """

    decision_level = True
    aux_loss_name = "modality_cross_entropy"

    def __init__(
        self,
        dims: Mapping[str, int],
        *,
        num_classes: int | None = None,
        combine: str = "mean",
        weights: Sequence[float] | Mapping[str, float] | None = None,
        head: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(dims, num_classes=num_classes)
        if self.num_classes is None:
            raise ParameterError("num_classes is required by late fusion (each modality has its own classifier)")
        self.combine = check_choice("combine", combine, ("mean", "weighted", "vote"))
        head = {"name": "linear"} if head is None else dict(head)
        if "in_dim" in head or "num_classes" in head:
            raise ParameterError("the late-fusion head config must not set in_dim/num_classes: they are filled in")
        self.heads = nn.ModuleDict(
            {m: build("head", {**head, "in_dim": d, "num_classes": self.num_classes}) for m, d in self.dims.items()}
        )
        self.learned_weights = combine == "weighted" and weights is None
        if weights is not None and combine != "weighted":
            raise ParameterError(f"weights are only used with combine='weighted', got combine={combine!r}")
        if self.learned_weights:
            self.weight_logits = nn.Parameter(torch.zeros(len(self.modalities)))
        else:
            self.register_buffer("given_weights", self._check_weights(weights))
        self.dim = self.num_classes

    def _check_weights(self, weights) -> torch.Tensor:
        if weights is None:
            return torch.ones(len(self.modalities))
        if isinstance(weights, Mapping):
            if set(weights) != set(self.modalities):
                raise ParameterError(
                    f"weights has keys {sorted(weights)}: expected one weight per modality {list(self.modalities)}"
                )
            weights = [weights[m] for m in self.modalities]
        if isinstance(weights, str) or not isinstance(weights, Sequence) or len(weights) != len(self.modalities):
            raise ParameterError(
                f"weights={weights!r} is invalid: expected {len(self.modalities)} positive numbers "
                f"(one per modality, in the order {list(self.modalities)}) or a dict"
            )
        return torch.tensor([check_positive_float("weights[]", w) for w in weights])

    def modality_weights(self) -> torch.Tensor:
        """The (M,) combination weights in modality order, summing to 1 (before renormalising
        over the modalities present for a sample)."""
        if self.learned_weights:
            return self.weight_logits.softmax(dim=0)
        return self.given_weights / self.given_weights.sum()

    def _combine(self, probs: torch.Tensor, present: torch.Tensor, index: list[int]) -> torch.Tensor:
        """probs (B, M', C) of the available modalities, present (B, M') bool → p (B, C)."""
        if self.combine == "mean":
            return _masked_average(probs, present)
        if self.combine == "weighted":
            weights = self.modality_weights().to(probs.dtype)[index]
            return _masked_average(probs, present * weights)
        votes = F.one_hot(probs.argmax(dim=-1), self.num_classes).to(probs.dtype)
        votes = (votes * present.unsqueeze(-1)).sum(dim=1)
        voters = present.sum(dim=1, keepdim=True).to(probs.dtype)
        return (votes + _masked_average(probs, present)) / (voters + 1)

    def forward(self, features, present, labels=None) -> FusionOutput:
        self._check_inputs(features, present)
        available = self._available(features)
        index = [self.modalities.index(m) for m in available]
        logits = {m: self.heads[m](features[m].pooled) for m in available}
        probs = torch.stack([logits[m].softmax(dim=-1) for m in available], dim=1)
        mask = torch.stack([present[m] for m in available], dim=1)
        combined = self._combine(probs, mask, index)
        tiny = torch.finfo(combined.dtype).tiny
        fused = combined.clamp_min(tiny).log()
        aux = self._zero(fused)
        if labels is not None:
            per_modality = [
                masked_mean(F.cross_entropy(logits[m], labels, reduction="none"), present[m], dim=0)
                for m in available
            ]
            aux = torch.stack(per_modality).mean()
            if self.learned_weights:
                detached = self._combine(probs.detach(), mask, index)
                aux = aux + F.nll_loss(detached.clamp_min(tiny).log(), labels)
        return FusionOutput(fused=fused, aux_loss=aux, modality_logits=logits)


@register("fusion", "hybrid")
class HybridFusion(Fusion):
    """Hybrid fusion: modality-specific layers, a merge at a chosen intermediate layer, shared layers.

    Each modality's encoder tokens are projected to ``width`` and tagged with a learned
    modality-type embedding, then pass through ``fusion_layer`` transformer layers of their own;
    there the sequences are concatenated (the merge) and pass through ``depth − fusion_layer``
    shared transformer layers, in which tokens of different modalities attend to each other.
    ``fused`` is the masked mean of the final tokens (B, width).

    ``fusion_layer=0`` merges right after the encoders (all layers shared); larger values keep
    the modalities apart for longer. Requires ``0 <= fusion_layer < depth``.

    Missing modality: its tokens are masked out of the shared layers (and the mean) for that sample.
    """

    def __init__(
        self,
        dims: Mapping[str, int],
        *,
        num_classes: int | None = None,
        width: int = 64,
        depth: int = 2,
        fusion_layer: int = 1,
        heads: int = 4,
        mlp_ratio: float = 2.0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(dims, num_classes=num_classes)
        self.width = check_positive_int("width", width)
        self.depth = check_positive_int("depth", depth)
        self.fusion_layer = check_positive_int("fusion_layer", fusion_layer, minimum=0)
        if self.fusion_layer >= self.depth:
            raise ParameterError(
                f"fusion_layer={fusion_layer} is invalid for depth={depth}: expected 0 <= fusion_layer < depth "
                "(layers before it are modality-specific, at least one after it is shared)"
            )
        common = dict(heads=heads, mlp_ratio=mlp_ratio, dropout=dropout)
        self.projections = nn.ModuleDict({m: nn.Linear(d, self.width) for m, d in self.dims.items()})
        self.type_embeddings = nn.ParameterDict(
            {m: nn.Parameter(torch.randn(self.width) * 0.02) for m in self.modalities}
        )
        self.specific = nn.ModuleDict(
            {
                m: TransformerEncoder(self.width, self.fusion_layer, final_norm=False, **common)
                for m in self.modalities
            }
        ) if self.fusion_layer else None
        self.shared = TransformerEncoder(self.width, self.depth - self.fusion_layer, **common)
        self.dim = self.width

    def forward(self, features, present, labels=None) -> FusionOutput:
        self._check_inputs(features, present)
        tokens, masks = [], []
        for m in self._available(features):
            x = self.projections[m](features[m].tokens) + self.type_embeddings[m]
            if self.specific is not None:
                x = self.specific[m](x, features[m].mask)
            tokens.append(x)
            masks.append(features[m].mask & present[m][:, None])
        tokens, mask = torch.cat(tokens, dim=1), torch.cat(masks, dim=1)
        fused = masked_mean(self.shared(tokens, mask), mask)
        return FusionOutput(fused=fused, aux_loss=self._zero(fused))


def _all_pairs(modalities: Sequence[str]) -> list[tuple[str, str]]:
    return [(s, t) for s in modalities for t in modalities if s != t]


@register("fusion", "cross_modal")
class CrossModalFusion(Fusion):
    """Cross-modal learning: translate one modality's representation into another's.

    For each ``(source, target)`` pair (default: every ordered pair) an MLP ``T_st`` maps the
    source's pooled embedding to the target's: ``ŷ_t = T_st(x_s)``. The auxiliary loss, over the
    samples where both are present and averaged over pairs, is ``loss_weight ·`` either
    ``mean((ŷ_t − sg(x_t))²)`` (``loss="mse"``) or ``1 − cos(ŷ_t, sg(x_t))`` (``loss="cosine"``);
    ``sg`` stops the gradient, so the target encoder is not pulled towards the translation.

    ``fused = [e_1; e_2; …]`` (B, Σ dims) where ``e_m = x_m`` when ``m`` is present, else the
    mean of its translations from the present modalities (zeros when no pair translates into
    ``m`` from what is present): the missing modality is *imagined* from the others. Train with
    ``modality_dropout`` so the head sees translated embeddings too.
    """

    aux_loss_name = "translation"

    def __init__(
        self,
        dims: Mapping[str, int],
        *,
        num_classes: int | None = None,
        pairs: Sequence[Sequence[str]] | None = None,
        hidden_dims: Sequence[int] | int | None = None,
        loss: str = "mse",
        loss_weight: float = 1.0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(dims, num_classes=num_classes)
        self.loss = check_choice("loss", loss, ("mse", "cosine"))
        self.loss_weight = check_positive_float("loss_weight", loss_weight, allow_zero=True)
        self.pairs = self._check_pairs(_all_pairs(self.modalities) if pairs is None else pairs)
        self.translators = nn.ModuleDict(
            {
                self._key(s, t): MLP(
                    self.dims[s],
                    self.dims[t],
                    max(self.dims[s], self.dims[t]) if hidden_dims is None else hidden_dims,
                    dropout=dropout,
                )
                for s, t in self.pairs
            }
        )
        self.dim = sum(self.dims.values())

    @staticmethod
    def _key(source: str, target: str) -> str:
        return f"{source}__to__{target}"

    def _check_pairs(self, pairs) -> list[tuple[str, str]]:
        checked: list[tuple[str, str]] = []
        for pair in pairs:
            if isinstance(pair, str) or not isinstance(pair, Sequence) or len(pair) != 2:
                raise ParameterError(f"pairs entry {pair!r} is invalid: expected [source, target] modality names")
            source, target = pair
            for name in (source, target):
                check_choice("pairs modality", name, self.modalities)
            if source == target:
                raise ParameterError(f"pairs entry {list(pair)} translates a modality into itself: use two different ones")
            if (source, target) in checked:
                raise ParameterError(f"pairs entry {list(pair)} appears twice")
            checked.append((source, target))
        if not checked:
            raise ParameterError("pairs is empty: give at least one [source, target] pair (or None for all)")
        return checked

    def translate(self, source: str, target: str, pooled: torch.Tensor) -> torch.Tensor:
        """``T_st(pooled)``: the source's pooled embedding (B, dims[source]) → (B, dims[target])."""
        key = self._key(source, target)
        if key not in self.translators:
            raise ParameterError(f"no translator from {source!r} to {target!r}: pairs are {self.pairs}")
        return self.translators[key](pooled)

    def _pair_loss(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.loss == "mse":
            return (prediction - target).pow(2).mean(dim=-1)
        return 1.0 - F.cosine_similarity(prediction, target, dim=-1)

    def forward(self, features, present, labels=None) -> FusionOutput:
        self._check_inputs(features, present)
        pooled = {m: features[m].pooled for m in self._available(features)}
        translations = {(s, t): self.translate(s, t, pooled[s]) for s, t in self.pairs if s in pooled}
        reference = next(iter(pooled.values()))
        losses = []
        for (s, t), prediction in translations.items():
            both = present[s] & present[t]
            if t in pooled and bool(both.any()):
                losses.append(masked_mean(self._pair_loss(prediction, pooled[t].detach()), both, dim=0))
        aux = self.loss_weight * torch.stack(losses).mean() if losses else self._zero(reference)
        embeddings = {}
        for m in self.modalities:
            sources = [s for s in self.modalities if (s, m) in translations]
            if sources:
                substitute = _mean_over_present({s: translations[(s, m)] for s in sources}, present)
            else:
                substitute = reference.new_zeros(reference.shape[0], self.dims[m])
            embeddings[m] = substitute if m not in pooled else torch.where(present[m][:, None], pooled[m], substitute)
        fused = torch.cat([embeddings[m] for m in self.modalities], dim=-1)
        return FusionOutput(fused=fused, aux_loss=aux, features=embeddings)


@register("fusion", "joint")
class JointFusion(Fusion):
    """Joint representation: every modality projected into one shared space and fused there.

    ``z_m = P_m x_m`` (a linear projection of the pooled embedding into the shared space of
    width ``dim``); ``z = mean over present m of z_m``; ``fused = MLP(LayerNorm(z))`` (B, dim),
    the single modality-invariant representation all modalities contribute to.

    Missing modality: the mean runs over the modalities present for each sample.
    """

    def __init__(
        self,
        dims: Mapping[str, int],
        *,
        num_classes: int | None = None,
        dim: int = 64,
        hidden_dims: Sequence[int] | int | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(dims, num_classes=num_classes)
        self.dim = check_positive_int("dim", dim)
        self.projections = nn.ModuleDict({m: nn.Linear(d, self.dim) for m, d in self.dims.items()})
        self.norm = nn.LayerNorm(self.dim)
        self.shared = MLP(self.dim, self.dim, (self.dim,) if hidden_dims is None else hidden_dims, dropout=dropout)

    def forward(self, features, present, labels=None) -> FusionOutput:
        self._check_inputs(features, present)
        available = self._available(features)
        embeddings = {m: self.projections[m](features[m].pooled) for m in available}
        fused = self.shared(self.norm(_mean_over_present(embeddings, present)))
        return FusionOutput(fused=fused, aux_loss=self._zero(fused), features=embeddings)


@register("fusion", "coordinated")
class CoordinatedFusion(Fusion):
    """Coordinated representations: a space per modality, tied by a similarity constraint.

    ``z_m = normalize(P_m x_m)`` (unit vectors of width ``dim``, one projection per modality).
    For every pair of modalities, over the samples where both are present, the auxiliary loss
    is ``constraint_weight ·``

    - ``constraint="cosine"``: ``mean(1 − cos(z_a, z_b))`` (paired samples pulled together);
    - ``constraint="contrastive"``: CLIP's symmetric InfoNCE
      (:func:`polysense.losses.contrastive.clip_loss`, through :class:`~polysense.losses.ClipLoss`
      with its learnable, clamped temperature), which also pushes unpaired samples apart; it
      needs two or more such samples and is computed per process (no gathering), since the
      set of paired samples differs between processes.

    averaged over pairs. ``fused`` is the mean of the present modalities' ``z_m`` (B, dim),
    meaningful because the constraint makes the spaces agree.

    Missing modality: the mean runs over the modalities present for each sample.
    """

    aux_loss_name = "constraint"

    def __init__(
        self,
        dims: Mapping[str, int],
        *,
        num_classes: int | None = None,
        dim: int = 64,
        hidden_dims: Sequence[int] | int = (),
        constraint: str = "cosine",
        constraint_weight: float = 1.0,
        logit_scale: float = DEFAULT_LOGIT_SCALE,
        learn_logit_scale: bool = True,
    ) -> None:
        super().__init__(dims, num_classes=num_classes)
        self.dim = check_positive_int("dim", dim)
        self.constraint = check_choice("constraint", constraint, ("cosine", "contrastive"))
        self.constraint_weight = check_positive_float("constraint_weight", constraint_weight, allow_zero=True)
        self.projections = nn.ModuleDict(
            {m: ProjectionHead(d, self.dim, hidden_dims=hidden_dims, normalize=True) for m, d in self.dims.items()}
        )
        self.contrastive = (
            ClipLoss(logit_scale=logit_scale, learn_logit_scale=learn_logit_scale, gather=False)
            if constraint == "contrastive"
            else None
        )

    def forward(self, features, present, labels=None) -> FusionOutput:
        self._check_inputs(features, present)
        available = self._available(features)
        embeddings = {m: self.projections[m](features[m].pooled) for m in available}
        losses = []
        for a, b in itertools.combinations(available, 2):
            both = present[a] & present[b]
            if self.contrastive is not None:
                if int(both.sum()) >= 2:
                    losses.append(self.contrastive(embeddings[a][both], embeddings[b][both]).loss)
            elif bool(both.any()):
                cosine = (embeddings[a] * embeddings[b]).sum(dim=-1)
                losses.append(masked_mean(1.0 - cosine, both, dim=0))
        fused = _mean_over_present(embeddings, present)
        aux = self.constraint_weight * torch.stack(losses).mean() if losses else self._zero(fused)
        return FusionOutput(fused=fused, aux_loss=aux, features=embeddings)
