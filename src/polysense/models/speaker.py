"""``speaker_embedding``: speaker embeddings from any audio encoder, trained with AAM-softmax.

x-vector recipe: the encoder's pooled statistics (``speech_cnn`` pools the masked mean and standard
deviation of its frames; any audio encoder's ``pooled`` output serves) → a linear embedding layer
(the x-vector, ``embed_dim``) → AAM-softmax over the training speakers
(:mod:`polysense.losses.margin`). Only the embedding is used afterwards: unseen speakers are
compared by the cosine of their embeddings (``encode("audio", batch)``, unit length).

Batch: ``audio`` (+ mask/lengths as the collate gives them) and ``label`` (B,) the speaker's index
among the training speakers, or −1 for a speaker the model was not trained on (no loss then).
Output: :class:`~polysense.models.output.ClassifierOutput` with ``logits`` = s·cos θ over the
training speakers (closed-set identification) when every label is known, and ``metrics["accuracy"]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from polysense._checks import check_positive_int
from polysense.errors import ParameterError
from polysense.losses.margin import AAMSoftmax
from polysense.models.batch import encode_required
from polysense.models.encoders.base import build_encoder
from polysense.models.contract import Model, encoder_sample_rate
from polysense.models.output import ClassifierOutput
from polysense.models.registry import register

__all__ = ["SpeakerEmbedding"]


@register("model", "speaker_embedding")
class SpeakerEmbedding(Model):
    """Encoder → pooled statistics → x-vector → AAM-softmax (see the module docstring)."""

    kind = "speaker"

    def __init__(self, *, encoder: Mapping[str, Any] | nn.Module, num_speakers: int, embed_dim: int = 128,
                 margin: float = 0.2, scale: float = 30.0) -> None:
        super().__init__()
        self.modalities = ("audio",)
        self.encoders = nn.ModuleDict({"audio": build_encoder("audio", encoder)})
        self.num_speakers = check_positive_int("num_speakers", num_speakers)
        self.embed_dim = check_positive_int("embed_dim", embed_dim)
        self.embedding = nn.Linear(self.encoders["audio"].dim, self.embed_dim)
        self.head = AAMSoftmax(self.embed_dim, self.num_speakers, margin=margin, scale=scale)

    def embed(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """x-vectors (B, embed_dim), before normalisation."""
        return self.embedding(encode_required(self.encoders["audio"], "audio", batch).pooled)

    def encode(self, modality: str, batch: Mapping[str, Any]) -> torch.Tensor:
        """Unit-length speaker embeddings (B, embed_dim) of the batch's audio."""
        return F.normalize(self.embed(batch), dim=-1)

    @property
    def sample_rate(self) -> int | None:
        """Hz of the audio encoder's input."""
        return encoder_sample_rate(self.encoders)

    def forward(self, batch: Mapping[str, Any]) -> ClassifierOutput:
        x = self.embed(batch)
        label = batch.get("label")
        if label is not None and bool((label >= self.num_speakers).any()):
            raise ParameterError(f"speaker label {int(label.max())} is outside the model's num_speakers="
                                 f"{self.num_speakers}: set model.num_speakers to the data's number of training speakers")
        if label is None or bool((label < 0).any()):
            return ClassifierOutput()  # unseen speakers: nothing to classify, embeddings via encode()
        loss, cosine = self.head(x, label)
        logits = self.head.scale * cosine
        accuracy = (logits.argmax(1) == label).float().mean().detach()
        return ClassifierOutput(loss=loss, losses={"aam_softmax": loss}, metrics={"accuracy": accuracy}, logits=logits)
