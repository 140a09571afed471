"""VSE++ (uneven, disentangled): dual encoders trained with the max-violation hinge loss.

Each modality is encoded and projected into a joint space of unit-length embeddings; the
objective is :func:`polysense.losses.vsepp_loss`: for each positive pair, the hinge against
the hardest negative in its row and in its column, margin 0.2, summed over the batch (Faghri et
al. 2018). The original pairs a heavy pretrained image CNN with a light text GRU (hence
"uneven"); here any two of audio, image and text, with encoders chosen by name.

Config (built by :func:`polysense.models.registry.build`)::

    {"name": "vsepp", "embed_dim": 64, "margin": 0.2,
     "image": {"name": "image_cnn", "dim": 64},
     "text": {"name": "text_transformer", "vocab_size": 1000, "dim": 64}}
"""

from __future__ import annotations

from typing import Any

import torch

from polysense.losses.ranking import DEFAULT_MARGIN, VSEPPLoss
from polysense.models.paradigms.dual_encoder import DualEncoder
from polysense.models.registry import register

__all__ = ["VSEPP"]


@register("model", "vsepp")
class VSEPP(DualEncoder):
    """VSE++ over any two of audio, image and text.

    Args:
        embed_dim, audio, image, text, projection: the dual encoder (see :class:`DualEncoder`).
        margin: hinge margin (0.2).
        max_violation: hardest negative only (True, VSE++); False sums over all negatives
            (VSE0, sometimes used to warm up).
        reduction: "sum" over the batch (VSE++) or "mean".
        gather, local_loss: multi-process options of :func:`polysense.losses.vsepp_loss`.

    ``forward(batch) -> EmbeddingOutput``: ``losses["vsepp"]``, ``logits`` the (B, B) cosine
    similarities (rows: the first modality).
    """

    loss_name = "vsepp"

    def __init__(
        self,
        *,
        margin: float = DEFAULT_MARGIN,
        max_violation: bool = True,
        reduction: str = "sum",
        gather: bool = True,
        local_loss: bool = True,
        **dual_encoder: Any,
    ) -> None:
        super().__init__(**dual_encoder)
        self.objective = VSEPPLoss(
            margin=margin, max_violation=max_violation, reduction=reduction, gather=gather, local_loss=local_loss
        )

    def objective_output(self, a: torch.Tensor, b: torch.Tensor, positive_mask: torch.Tensor | None):
        out = self.objective(a, b, positive_mask=positive_mask)
        return out, out.similarity_a, {}
