"""Additive angular margin softmax (AAM-softmax, ArcFace; Deng et al. 2019), as speaker embeddings use it.

With unit embeddings ``x`` and unit class weights ``w_c``, ``cos θ_c = x·w_c``. The target class's
logit gets an angular margin ``m``, every logit a scale ``s``::

    logit_c = s · cos(θ_c + m)   if c is the target,   s · cos θ_c   otherwise
    loss = cross-entropy(logits, target)

so an embedding must sit closer (by an angle m) to its own class than to any other: classes are
separated by a margin on the sphere, which is what makes cosine scoring of unseen speakers work.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from polysense._checks import check_positive_float, check_positive_int
from polysense.errors import ParameterError

__all__ = ["AAMSoftmax", "aam_logits", "aam_softmax_loss"]


def aam_logits(cosine: torch.Tensor, target: torch.Tensor, *, margin: float, scale: float) -> torch.Tensor:
    """Scaled logits (B, C) with the angular margin added to each row's target class."""
    if not 0 <= margin < math.pi / 2:
        raise ParameterError(f"margin={margin} is invalid: expected an angle in [0, π/2) radians (0.2 is common)")
    theta = torch.acos(cosine.clamp(-1 + 1e-7, 1 - 1e-7))
    target_logit = torch.cos(theta.gather(1, target[:, None]) + margin)
    return scale * cosine.scatter(1, target[:, None], target_logit)


def aam_softmax_loss(cosine: torch.Tensor, target: torch.Tensor, *, margin: float = 0.2,
                     scale: float = 30.0) -> torch.Tensor:
    """Mean AAM-softmax cross-entropy of cosines (B, C) against class indices (B,)."""
    return F.cross_entropy(aam_logits(cosine, target, margin=margin, scale=scale), target)


class AAMSoftmax(nn.Module):
    """The class weights and the loss: ``forward(embeddings, target) -> (loss, cosines)``."""

    def __init__(self, dim: int, num_classes: int, *, margin: float = 0.2, scale: float = 30.0) -> None:
        super().__init__()
        classes, dim = check_positive_int("num_classes", num_classes), check_positive_int("dim", dim)
        self.weight = nn.Parameter(torch.randn(classes, dim) * 0.01)
        self.margin = float(margin)
        self.scale = check_positive_float("scale", scale, what="the logit scale s")
        if not 0 <= self.margin < math.pi / 2:
            raise ParameterError(f"margin={margin} is invalid: expected an angle in [0, π/2) radians (0.2 is common)")

    def cosine(self, embeddings: torch.Tensor) -> torch.Tensor:
        return F.normalize(embeddings, dim=-1) @ F.normalize(self.weight, dim=-1).T

    def forward(self, embeddings: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cosine = self.cosine(embeddings)
        return aam_softmax_loss(cosine, target, margin=self.margin, scale=self.scale), cosine
