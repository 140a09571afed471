"""Dual encoders: the disentangled paradigms (VSE++, CLIP) share this skeleton.

Two modalities among audio, image and text each get an encoder (built by name from a nested
config, see :mod:`polysense.models.registry`) and a projection of the encoder's pooled vector
into a shared space of width ``embed_dim``, L2-normalised. The modalities never meet inside
the model: only the objective compares their embeddings (which is what makes retrieval over a
precomputed index possible). The paradigms differ in their objective:

- VSE++ (:mod:`.vsepp`): max-violation hinge loss on cosine similarity.
- CLIP (:mod:`.clip`): symmetric InfoNCE with a learned temperature.

**Repeated items.** A data set may pair many clips with one caption (FSDD: 40 distinct captions
for 2,000 clips). Items of a batch with the same text (``positives="text"``, the default: equal
``batch["text"]`` strings, or equal ``input_ids`` rows without strings) or the same label
(``positives="label"``) are positives of each other, never negatives; ``positives="none"``
keeps the one-pair-per-row objective.

A batch is the collated dict of :mod:`polysense.data` (``"audio"`` + ``"audio_mask"``,
``"image"``, ``"input_ids"`` + ``"text_mask"``; see :mod:`polysense.models.batch`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from polysense._checks import check_choice, check_positive_int
from polysense.errors import ParameterError
from polysense.losses.matching import duplicate_mask
from polysense.models.batch import encode_required, has_modality, modality_keys
from polysense.models.encoders.base import build_encoder, encoder_tokenizer
from polysense.models.contract import Model, encoder_sample_rate
from polysense.models.output import EmbeddingOutput
from polysense.models.registry import build

#: The modalities a dual encoder can pair, in the order that names the pair's sides a and b.
MODALITIES = ("audio", "image", "text")

#: An encoder given as a config dict (``{"name": "audio_cnn", ...}``) or as a module.
EncoderSpec = Mapping[str, Any] | nn.Module


#: How a dual encoder finds the positives of an item beyond its own pair.
POSITIVES = ("text", "label", "none")


def text_positive_mask(batch: Mapping[str, Any]) -> torch.Tensor | None:
    """(B, B) bool: items with the same ``batch["text"]`` string (or, without strings, the same
    ``input_ids`` over the real tokens); None when the batch has neither."""
    texts = batch.get("text")
    if isinstance(texts, (list, tuple)) and texts and all(isinstance(t, str) for t in texts):
        index: dict[str, int] = {}
        codes = torch.tensor([index.setdefault(t, len(index)) for t in texts])
        return codes[:, None] == codes[None, :]
    ids_key, mask_key = modality_keys("text")
    input_ids = batch.get(ids_key)
    if not isinstance(input_ids, torch.Tensor):
        return None
    mask = batch.get(mask_key)
    return duplicate_mask(input_ids if mask is None else input_ids.masked_fill(~mask.bool(), -1))


class DualEncoder(Model):
    """Two encoders and two projections into one space of width ``embed_dim``.

    Args:
        embed_dim: width of the shared embedding space.
        audio, image, text: encoder configs (dicts naming a registered encoder) or modules, for
            exactly two of the three. A module must have a ``dim`` attribute (the width of its
            pooled output) and return an :class:`~polysense.models.encoders.base.EncoderOutput`.
        projection: options of the projection head (kind "head", default ``"projection"``:
            one Linear unless ``hidden_dims`` is given); ``in_dim``/``out_dim`` are set here.
        positives: ``"text"`` (items with the same caption are positives of each other),
            ``"label"`` (items with the same ``batch[label_key]``) or ``"none"`` (only the pair).
        label_key: the batch key of the labels for ``positives="label"``.

    Attributes:
        modalities: the pair ``(a, b)`` in the order of :data:`MODALITIES`; losses and
            similarities read ``a`` as rows and ``b`` as columns.
        objective: the loss module, called as ``objective(a, b, positive_mask=...)`` and
            returning a typed output with ``.loss``; set by each paradigm.

    ``forward(batch) -> EmbeddingOutput``: the embeddings of the modalities present and, when
    both are, the loss (``losses[loss_name]``) and the (B, B) ``similarity`` (rows: a).
    ``encode(modality, batch) -> (B, embed_dim)`` unit-length embeddings (what the index calls).
    """

    kind = "embedder"
    #: the modalities' embeddings are trained to be comparable (cross-modal retrieval)
    shared_space = True

    objective: nn.Module
    #: The objective's name in ``losses`` (set by each paradigm).
    loss_name: str = "loss"

    def __init__(
        self,
        *,
        embed_dim: int = 128,
        audio: EncoderSpec | None = None,
        image: EncoderSpec | None = None,
        text: EncoderSpec | None = None,
        projection: Mapping[str, Any] | None = None,
        positives: str = "text",
        label_key: str = "label",
    ) -> None:
        super().__init__()
        self.positives = check_choice("positives", positives, POSITIVES)
        self.label_key = label_key
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

    @property
    def sample_rate(self) -> int | None:
        """Hz of the audio encoder's input (None without an audio side)."""
        return encoder_sample_rate(self.encoders)

    @property
    def tokenizer(self):
        """The text encoder's tokenizer (None without a text side, or when it has none)."""
        return encoder_tokenizer(self.encoders["text"]) if "text" in self.encoders else None

    def positive_mask(self, batch: Mapping[str, Any]) -> torch.Tensor | None:
        """(B, B) bool: item j is a positive of item i (see ``positives``); None when every item
        is a positive of its own pair only (the default objective then applies unchanged)."""
        if self.positives == "none":
            return None
        if self.positives == "text":
            mask = text_positive_mask(batch)
        else:
            labels = batch.get(self.label_key)
            if labels is None:
                raise ParameterError(
                    f"positives='label' needs labels under {self.label_key!r} in the batch (found {sorted(batch)})"
                )
            labels = torch.as_tensor(labels)
            mask = labels[:, None] == labels[None, :]
        if mask is None or int(mask.sum()) == mask.shape[0]:
            return None
        return mask

    def objective_output(self, a: torch.Tensor, b: torch.Tensor, positive_mask: torch.Tensor | None):
        """The objective on the embeddings ``a``, ``b``: (typed output, (B, B) logits, metrics)."""
        raise NotImplementedError

    def forward(self, batch: Mapping[str, Any]) -> EmbeddingOutput:
        embeddings = self.embed(batch)
        a, b = self.modalities
        if a not in embeddings or b not in embeddings:
            return EmbeddingOutput(embeddings=embeddings)
        positives = self.positive_mask(batch)
        if positives is not None:
            positives = positives.to(embeddings[a].device)
        out, logits, metrics = self.objective_output(embeddings[a], embeddings[b], positives)
        return EmbeddingOutput(
            loss=out.loss, losses={self.loss_name: out.loss}, metrics=metrics, embeddings=embeddings, similarity=logits
        )

    def encode(self, modality: str, batch: Mapping[str, Any]) -> torch.Tensor:
        """(batch, embed_dim) unit-length embeddings of ``modality``'s input in ``batch``."""
        if modality not in self.modalities:
            raise ParameterError(f"modality={modality!r} is not one of this model's {list(self.modalities)}")
        return self.projections[modality](encode_required(self.encoders[modality], modality, batch).pooled)

    def embed(self, batch: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """Embeddings of every modality of this model present in ``batch`` (at least one)."""
        present = [m for m in self.modalities if has_modality(batch, m)]
        if not present:
            raise ParameterError(
                f"the batch has neither of the model's modalities {list(self.modalities)}: expected the keys "
                f"{[modality_keys(m)[0] for m in self.modalities]} (found {sorted(batch)})"
            )
        return {m: self.encode(m, batch) for m in present}
