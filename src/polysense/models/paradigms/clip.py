"""CLIP (even, disentangled): dual encoders trained with the symmetric InfoNCE loss.

Two encoders of comparable capacity (hence "even"), each projected into a shared space of
unit-length embeddings; the objective is :func:`polysense.losses.clip_loss` over similarities
scaled by a learned inverse temperature, stored as its logarithm, initialised to 1/0.07 and
never above 100 (Radford et al. 2021). Any pair of audio, image and text works. Zero-shot
classification: :mod:`polysense.evaluate.zero_shot`; retrieval: :mod:`polysense.metrics.retrieval`.

Config (built by :func:`polysense.models.registry.build`)::

    {"name": "clip", "embed_dim": 64,
     "audio": {"name": "audio_cnn", "dim": 64},
     "text": {"name": "text_transformer", "vocab_size": 1000, "dim": 64}}
"""

from __future__ import annotations

from typing import Any

import torch

from polysense.losses.contrastive import DEFAULT_LOGIT_SCALE, MAX_LOGIT_SCALE, ClipLoss
from polysense.models.paradigms.dual_encoder import DualEncoder
from polysense.models.registry import register

__all__ = ["CLIP"]


@register("model", "clip")
class CLIP(DualEncoder):
    """CLIP over any two of audio, image and text.

    Args:
        embed_dim, audio, image, text, projection: the dual encoder (see :class:`DualEncoder`).
        logit_scale: initial inverse temperature (1/0.07).
        max_logit_scale: the largest scale allowed (100).
        learn_logit_scale: learn the temperature (True).
        gather, local_loss: multi-process options of :func:`polysense.losses.clip_loss`.

    ``forward(batch) -> EmbeddingOutput``: ``losses["clip"]``, ``logits`` the scaled (B, B)
    similarities (rows: the first modality), ``metrics["logit_scale"]``.
    """

    loss_name = "clip"

    def __init__(
        self,
        *,
        logit_scale: float = DEFAULT_LOGIT_SCALE,
        max_logit_scale: float = MAX_LOGIT_SCALE,
        learn_logit_scale: bool = True,
        gather: bool = True,
        local_loss: bool = True,
        **dual_encoder: Any,
    ) -> None:
        super().__init__(**dual_encoder)
        self.objective = ClipLoss(
            logit_scale=logit_scale,
            max_logit_scale=max_logit_scale,
            learn_logit_scale=learn_logit_scale,
            normalize=False,  # the projections already return unit vectors
            gather=gather,
            local_loss=local_loss,
        )

    def objective_output(self, a: torch.Tensor, b: torch.Tensor, positive_mask: torch.Tensor | None):
        out = self.objective(a, b, positive_mask=positive_mask)
        return out, out.logits_a, {"logit_scale": out.logit_scale.detach()}

    @property
    def logit_scale(self) -> torch.Tensor:
        """The inverse temperature in use (clamped to ``max_logit_scale``)."""
        return self.objective.logit_scale()
