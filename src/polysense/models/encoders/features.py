"""A pass-through encoder for precomputed features (early fusion of given features, or fusion
over cached embeddings)."""

from __future__ import annotations

import torch
from torch import nn

from polysense._checks import check_positive_int
from polysense.errors import ParameterError
from polysense.models.encoders.base import EncoderOutput
from polysense.models.layers import masked_mean
from polysense.models.registry import register

__all__ = ["FeatureInput"]


@register("encoder", "features")
class FeatureInput(nn.Module):
    """A pass-through "encoder" for precomputed features (early fusion of given features, or
    fusion over cached embeddings).

    ``forward(x (B, dim) or (B, S, dim), mask (B, S) optional)``: a vector becomes one token
    (pooled = itself); a sequence keeps its tokens, pooled by masked mean. No parameters.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = check_positive_int("dim", dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> EncoderOutput:
        if not isinstance(x, torch.Tensor) or x.ndim not in (2, 3) or x.shape[-1] != self.dim:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ParameterError(f"features have shape {shape}: expected (batch, {self.dim}) or (batch, seq, {self.dim})")
        if x.ndim == 2:
            ones = torch.ones(x.shape[0], 1, dtype=torch.bool, device=x.device)
            return EncoderOutput(tokens=x[:, None], mask=ones, pooled=x)
        if mask is None:
            mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        return EncoderOutput(tokens=x, mask=mask.bool(), pooled=masked_mean(x, mask))
