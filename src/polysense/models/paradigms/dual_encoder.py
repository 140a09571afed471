"""Dual encoders: the disentangled paradigms (VSE++, CLIP) share this skeleton.

Two modalities among audio, image and text each get an encoder (built by name from a nested
config, see :mod:`polysense.models.registry`) and a projection of the encoder's pooled vector
into a shared space of width ``embed_dim``, L2-normalised. The modalities never meet inside
the model: only the objective compares their embeddings (which is what makes retrieval over a
precomputed index possible). The paradigms differ in their objective:

- VSE++ (:mod:`.vsepp`): max-violation hinge loss on cosine similarity.
- CLIP (:mod:`.clip`): symmetric InfoNCE with a learned temperature.

A batch is the collated dict of :mod:`polysense.data` (``"audio"`` + ``"audio_mask"``,
``"image"``, ``"input_ids"`` + ``"text_mask"``; see :func:`polysense.models.fusion.encode_modality`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from polysense._checks import check_positive_int
from polysense.errors import ParameterError
from polysense.models.encoders.base import build_encoder
from polysense.models.fusion import encode_modality, modality_keys
from polysense.models.registry import build

#: The modalities a dual encoder can pair, in the order that names the pair's sides a and b.
MODALITIES = ("audio", "image", "text")

#: An encoder given as a config dict (``{"name": "audio_cnn", ...}``) or as a module.
EncoderSpec = Mapping[str, Any] | nn.Module


@dataclass
class DualEncoderOutput:
    """What a dual-encoder model returns.

    Attributes:
        embeddings: ``{modality: (batch, embed_dim)}`` unit-length embeddings of the
            modalities present in the batch.
        loss: the training loss, or None when the batch lacks one of the two modalities.
        parts: the objective's typed output (logits/similarities, per-direction losses), or None.
    """

    embeddings: dict[str, torch.Tensor]
    loss: torch.Tensor | None
    parts: Any


class DualEncoder(nn.Module):
    """Two encoders and two projections into one space of width ``embed_dim``.

    Args:
        embed_dim: width of the shared embedding space.
        audio, image, text: encoder configs (dicts naming a registered encoder) or modules, for
            exactly two of the three. A module must have a ``dim`` attribute (the width of its
            pooled output) and return an :class:`~polysense.models.encoders.base.EncoderOutput`.
        projection: options of the projection head (kind "head", default ``"projection"``:
            one Linear unless ``hidden_dims`` is given); ``in_dim``/``out_dim`` are set here.

    Attributes:
        modalities: the pair ``(a, b)`` in the order of :data:`MODALITIES`; losses and
            similarities read ``a`` as rows and ``b`` as columns.
        objective: the loss module, called as ``objective(a, b)`` and returning a typed output
            with ``.loss``; set by each paradigm.

    ``forward(batch) -> DualEncoderOutput``: the embeddings of the modalities present, and the
    loss when both are.
    """

    objective: nn.Module

    def __init__(
        self,
        *,
        embed_dim: int = 128,
        audio: EncoderSpec | None = None,
        image: EncoderSpec | None = None,
        text: EncoderSpec | None = None,
        projection: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.embed_dim = check_positive_int("embed_dim", embed_dim, what="width of the shared embedding space")
        encoders = {"audio": audio, "image": image, "text": text}
        self.modalities = tuple(m for m in MODALITIES if encoders[m] is not None)
        if len(self.modalities) != 2:
            raise ParameterError(
                f"a dual encoder needs exactly two modalities among {', '.join(MODALITIES)}, "
                f"got {list(self.modalities) or 'none'}: give two encoder configs, e.g. "
                "audio={'name': 'audio_cnn'} and text={'name': 'text_transformer', 'vocab_size': 1000}"
            )
        projection = dict(projection or {})
        clash = sorted({"in_dim", "out_dim", "normalize"} & set(projection))
        if clash:
            raise ParameterError(
                f"projection config sets {clash}: these follow from the encoders and embed_dim, leave them out"
            )
        projection.setdefault("name", "projection")
        self.encoders = nn.ModuleDict()
        self.projections = nn.ModuleDict()
        for modality in self.modalities:
            encoder = build_encoder(modality, encoders[modality])
            self.encoders[modality] = encoder
            self.projections[modality] = build(
                "head", {**projection, "in_dim": encoder.dim, "out_dim": self.embed_dim, "normalize": True}
            )

    def forward(self, batch: Mapping[str, Any]) -> DualEncoderOutput:
        embeddings = self.embed(batch)
        a, b = self.modalities
        if a not in embeddings or b not in embeddings:
            return DualEncoderOutput(embeddings=embeddings, loss=None, parts=None)
        parts = self.objective(embeddings[a], embeddings[b])
        return DualEncoderOutput(embeddings=embeddings, loss=parts.loss, parts=parts)

    def encode(self, modality: str, batch: Mapping[str, Any]) -> torch.Tensor:
        """(batch, embed_dim) unit-length embeddings of ``modality``'s input in ``batch``."""
        if modality not in self.modalities:
            raise ParameterError(f"modality={modality!r} is not one of this model's {list(self.modalities)}")
        out = encode_modality(self.encoders[modality], modality, batch)
        if out is None:
            raise ParameterError(
                f"the batch has no {modality} input: expected the key {modality_keys(modality)[0]!r} "
                f"(found {sorted(batch)})"
            )
        return self.projections[modality](out.pooled)

    def embed(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """Embeddings of every modality of this model present in ``batch`` (at least one)."""
        present = [m for m in self.modalities if batch.get(modality_keys(m)[0]) is not None]
        if not present:
            raise ParameterError(
                f"the batch has neither of the model's modalities {list(self.modalities)}: expected the keys "
                f"{[modality_keys(m)[0] for m in self.modalities]} (found {sorted(batch)})"
            )
        return {m: self.encode(m, batch) for m in present}
