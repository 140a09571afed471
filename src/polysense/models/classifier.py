"""Classifiers: one encoder + a head (``"classifier"``), or encoders → fusion → head
(``"fusion_classifier"`` and the six ``"<strategy>_fusion"`` models).

Both return a :class:`~polysense.models.output.ClassifierOutput` (the fusion classifier a
subclass with what the fusion used): ``logits`` (B, num_classes) and, when the batch carries
labels, the training ``loss``, its parts in ``losses`` (``"cross_entropy"`` and the fusion's
auxiliary objective under its name) and ``metrics["accuracy"]``. Both embed: ``encode(m, batch)``
is the L2-normalised pooled feature of modality ``m``'s encoder (B, encoder dim).

Single-modality baselines are configs too::

    model = build("model", {"name": "classifier", "modality": "audio", "num_classes": 10,
                            "encoder": {"name": "audio_cnn", "sample_rate": 8000}})

A fusion classifier names the fusion explicitly (``"fusion_classifier"``) or inline::

    model = build("model", {"name": "late_fusion", "num_classes": 10, "combine": "vote",
                            "encoders": {"audio": {"name": "audio_cnn"},
                                         "image": {"name": "image_cnn", "dim": 64}}})
    out = model(batch)          # out.logits (B, 10), out.loss when batch has "label"

Batches and missing modalities: see :mod:`polysense.models.batch`; each fusion documents what
it does with a missing modality (:mod:`polysense.models.fusion`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from polysense._checks import check_positive_int, check_unit_interval
from polysense.errors import ParameterError
from polysense.models.batch import encode_modality, encode_required, modality_presence
from polysense.models.encoders.base import build_encoder, encoder_tokenizer
from polysense.models.fusion import Fusion
from polysense.models.layers import check_dropout
from polysense.models.contract import Model, encoder_sample_rate
from polysense.models.output import ClassifierOutput
from polysense.models.registry import build, register

__all__ = ["Classifier", "FusionClassifier", "FusionClassifierOutput", "accuracy"]


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Fraction of rows whose highest logit is the label (a detached scalar); soft targets
    (B, C), e.g. from mixup, count their largest class."""
    if labels.ndim == 2:
        labels = labels.argmax(dim=-1)
    return (logits.detach().argmax(dim=-1) == labels).float().mean()


def _smoothing(value: Any) -> float:
    return check_unit_interval("label_smoothing", value, what="the smoothing ε of the targets", include_one=False)


def _check_modality(modality: Any) -> str:
    if not isinstance(modality, str) or not modality.isidentifier():
        raise ParameterError(f"modality name {modality!r} is invalid: expected an identifier such as 'audio'")
    return modality


def _build_head(head: Mapping[str, Any] | None, in_dim: int, num_classes: int) -> nn.Module:
    head = {"name": "linear"} if head is None else head
    if not isinstance(head, Mapping) or "in_dim" in head or "num_classes" in head:
        raise ParameterError(f"head={head!r} is invalid: a head config without in_dim/num_classes (filled in)")
    return build("head", {**head, "in_dim": in_dim, "num_classes": num_classes})


class _EncodingClassifier(Model):
    """What both classifiers share: ``encoders`` (a ModuleDict), ``encode`` and ``tokenizer``."""

    kind = "classifier"

    encoders: nn.ModuleDict
    modalities: tuple[str, ...]

    def encode(self, modality: str, batch: Mapping[str, Any]) -> torch.Tensor:
        """(B, encoder dim) L2-normalised pooled features of ``modality``'s encoder."""
        if modality not in self.modalities:
            raise ParameterError(f"modality={modality!r} is not one of this model's {list(self.modalities)}")
        return F.normalize(encode_required(self.encoders[modality], modality, batch).pooled, dim=-1)

    @property
    def tokenizer(self):
        """The text encoder's tokenizer (None without a text encoder or when it has none)."""
        return encoder_tokenizer(self.encoders["text"]) if "text" in self.encoders else None

    @property
    def sample_rate(self) -> int | None:
        """Hz of the audio encoder's input (None without one)."""
        return encoder_sample_rate(self.encoders)


@register("model", "classifier")
class Classifier(_EncodingClassifier):
    """One encoder → head: a single-modality classifier (the baselines beside the fusions).

    Args:
        modality: the modality read from the batch (``"audio"``, ``"image"``, ``"text"``, ...).
        encoder: encoder config dict (built with the registry) or module with an integer ``dim``.
        num_classes: number of classes.
        head: head config (default ``{"name": "linear"}``; ``in_dim``/``num_classes`` filled in).
        label_key: the batch key of the (B,) class labels (or (B, C) soft targets).
        label_smoothing: ε of the smoothed cross-entropy, targets ``(1 - ε)·onehot + ε/C``.

    ``forward(batch) -> ClassifierOutput``: ``logits = head(encoder(x).pooled)``; with labels,
    ``loss = losses["cross_entropy"]`` and ``metrics["accuracy"]``.
    """

    def __init__(
        self,
        *,
        modality: str,
        encoder: Mapping[str, Any] | nn.Module,
        num_classes: int,
        head: Mapping[str, Any] | None = None,
        label_key: str = "label",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        self.label_smoothing = _smoothing(label_smoothing)
        self.modality = _check_modality(modality)
        self.modalities = (self.modality,)
        self.num_classes = check_positive_int("num_classes", num_classes)
        self.label_key = label_key
        self.encoders = nn.ModuleDict({self.modality: build_encoder(self.modality, encoder)})
        self.head = _build_head(head, self.encoders[self.modality].dim, self.num_classes)

    def forward(self, batch: Mapping[str, Any]) -> ClassifierOutput:
        features = encode_required(self.encoders[self.modality], self.modality, batch)
        logits = self.head(features.pooled)
        labels = batch.get(self.label_key)
        if labels is None:
            return ClassifierOutput(logits=logits)
        loss = F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)
        return ClassifierOutput(
            loss=loss, losses={"cross_entropy": loss}, metrics={"accuracy": accuracy(logits, labels)}, logits=logits
        )


@dataclass
class FusionClassifierOutput(ClassifierOutput):
    """What a :class:`FusionClassifier` returns: the :class:`ClassifierOutput` fields plus

    Attributes:
        fused: (B, dim) the fused representation (late fusion: the same as ``logits``).
        present: modality → (B,) bool, the presence the fusion used (after modality dropout).
        features: per-modality representations the fusion used (see :class:`~polysense.models.fusion.FusionOutput`).
        modality_logits: per-modality class logits (decision-level fusion).
    """

    fused: torch.Tensor | None = None
    present: dict[str, torch.Tensor] = field(default_factory=dict)
    features: dict[str, torch.Tensor] = field(default_factory=dict)
    modality_logits: dict[str, torch.Tensor] = field(default_factory=dict)


@register("model", "fusion_classifier")
class FusionClassifier(_EncodingClassifier):
    """Encoders (one per modality) → fusion → head: a multimodal classifier.

    Args:
        encoders: modality name → encoder config dict (built with the registry) or module; each
            must have an integer ``dim``. Two or more (one: use ``"classifier"``).
        fusion: fusion config ``{"name": "early" | "late" | "hybrid" | "cross_modal" | "joint" |
            "coordinated", ...options}`` (``dims`` and ``num_classes`` are filled in) or a
            :class:`Fusion` built for the same modalities.
        num_classes: number of classes.
        head: head config (default ``{"name": "linear"}``; ``in_dim``/``num_classes`` filled in).
            Late fusion has a head per modality instead: set it in the fusion config.
        modality_dropout: during training, drop each modality of each sample with this
            probability (never all of a sample's modalities), so the model learns to cope with
            missing ones. 0 disables it; evaluation never drops.
        label_key: the batch key of the (B,) class labels.

    ``forward(batch) -> FusionClassifierOutput``. With labels: ``loss = cross_entropy(logits,
    labels) + aux`` where ``aux`` is the fusion's auxiliary loss (``losses`` holds both by name:
    ``"cross_entropy"`` and the fusion's ``aux_loss_name``); for late fusion ``loss = aux``, the
    per-modality classifiers' objective.
    """

    def __init__(
        self,
        encoders: Mapping[str, Mapping[str, Any] | nn.Module],
        fusion: Mapping[str, Any] | Fusion,
        num_classes: int,
        *,
        head: Mapping[str, Any] | None = None,
        modality_dropout: float = 0.0,
        label_key: str = "label",
    ) -> None:
        super().__init__()
        self.num_classes = check_positive_int("num_classes", num_classes)
        self.modality_dropout = check_dropout("modality_dropout", modality_dropout)
        self.label_key = label_key
        if not isinstance(encoders, Mapping) or len(encoders) < 2:
            raise ParameterError(
                f"encoders={encoders!r} is invalid: expected a mapping of two or more modality names to "
                "encoder configs, e.g. {'audio': {'name': 'audio_cnn'}, 'image': {'name': 'image_cnn'}} "
                "(for one modality use the 'classifier' model)"
            )
        self.encoders = nn.ModuleDict({_check_modality(m): build_encoder(m, cfg) for m, cfg in encoders.items()})
        self.modalities = tuple(self.encoders)
        dims = {m: encoder.dim for m, encoder in self.encoders.items()}
        self.fusion = self._build_fusion(fusion, dims)
        if self.fusion.decision_level:
            if head is not None:
                raise ParameterError(
                    f"head={head!r} is not used by the decision-level fusion {type(self.fusion).__name__}: "
                    "give the per-modality head inside the fusion config ('head' key)"
                )
            self.head = None
        else:
            self.head = _build_head(head, self.fusion.dim, self.num_classes)

    def _build_fusion(self, fusion: Mapping[str, Any] | Fusion, dims: dict[str, int]) -> Fusion:
        if isinstance(fusion, Fusion):
            if fusion.dims != dims:
                raise ParameterError(f"the fusion was built for dims {fusion.dims}, the encoders give {dims}")
            return fusion
        if not isinstance(fusion, Mapping):
            raise ParameterError(f"fusion={fusion!r} is invalid: expected a config dict such as {{'name': 'late'}}")
        if "dims" in fusion or "num_classes" in fusion:
            raise ParameterError("the fusion config must not set dims/num_classes: they come from the encoders and the model")
        built = build("fusion", {**fusion, "dims": dims, "num_classes": self.num_classes})
        if not isinstance(built, Fusion):
            raise ParameterError(f"fusion {fusion.get('name')!r} built a {type(built).__name__}, not a Fusion")
        return built

    def _drop_modalities(self, present: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        stacked = torch.stack([present[m] for m in self.modalities], dim=1)
        keep = stacked & (torch.rand(stacked.shape, device=stacked.device) >= self.modality_dropout)
        empty = ~keep.any(dim=1)
        if bool(empty.any()):
            # keep one of the sample's present modalities, chosen at random
            choice = (torch.rand(stacked.shape, device=stacked.device) + stacked.float()).argmax(dim=1)
            keep[empty, choice[empty]] = True
        return {m: keep[:, i] for i, m in enumerate(self.modalities)}

    def forward(self, batch: Mapping[str, Any]) -> FusionClassifierOutput:
        present = modality_presence(batch, self.modalities)
        if self.training and self.modality_dropout > 0:
            present = self._drop_modalities(present)
        features = {
            m: encode_modality(self.encoders[m], m, batch) if bool(present[m].any()) else None
            for m in self.modalities
        }
        labels = batch.get(self.label_key)
        out = self.fusion(features, present, labels)
        logits = out.fused if self.head is None else self.head(out.fused)
        loss, losses, metrics = None, {}, {}
        if labels is not None:
            aux_name = self.fusion.aux_loss_name
            if self.fusion.decision_level:
                loss = out.aux_loss
            else:
                losses["cross_entropy"] = F.cross_entropy(logits, labels)
                loss = losses["cross_entropy"] + out.aux_loss
            if aux_name is not None:
                losses[aux_name] = out.aux_loss
            metrics["accuracy"] = accuracy(logits, labels)
        return FusionClassifierOutput(
            loss=loss,
            losses=losses,
            metrics=metrics,
            logits=logits,
            fused=out.fused,
            present=present,
            features=out.features,
            modality_logits=out.modality_logits,
        )


def _strategy_model(fusion_name: str, default_head: Mapping[str, Any] | None):
    def builder(
        encoders: Mapping[str, Any],
        num_classes: int,
        *,
        head: Mapping[str, Any] | None = None,
        modality_dropout: float = 0.0,
        label_key: str = "label",
        **fusion_options: Any,
    ) -> FusionClassifier:
        return FusionClassifier(
            encoders,
            {"name": fusion_name, **fusion_options},
            num_classes,
            head=head if head is not None else default_head,
            modality_dropout=modality_dropout,
            label_key=label_key,
        )

    builder.__name__ = builder.__qualname__ = f"{fusion_name}_fusion_classifier"
    builder.fusion_name = fusion_name  # configs check the fusion options against this fusion's builder
    builder.__doc__ = (
        f"A :class:`FusionClassifier` with the {fusion_name!r} fusion; other keyword arguments are the fusion's options."
    )
    return builder


#: The early-fusion "one model" over the concatenated features is an MLP head by default.
for _fusion, _model, _head in (
    ("early", "early_fusion", {"name": "mlp"}),
    ("late", "late_fusion", None),
    ("hybrid", "hybrid_fusion", None),
    ("cross_modal", "cross_modal_fusion", None),
    ("joint", "joint_fusion", None),
    ("coordinated", "coordinated_fusion", None),
):
    register("model", _model)(_strategy_model(_fusion, _head))
del _fusion, _model, _head
