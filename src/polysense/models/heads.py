"""Heads: the last layers that turn a representation into class scores or a projection.

Every head is built from ``in_dim`` (the width of what it receives) and its output width, so a
composite model injects ``in_dim`` and the config names only the head's own choices::

    head = build("head", {"name": "mlp", "in_dim": 64, "num_classes": 10, "hidden_dims": [32]})

Registered as kind ``"head"``:

- ``"linear"``: ``[LayerNorm] → Dropout → Linear(in_dim, num_classes)``.
- ``"mlp"``: :class:`~polysense.models.layers.MLP` ``in_dim → hidden_dims… → num_classes``.
- ``"projection"``: ``Linear`` / MLP into an embedding space of width ``out_dim``, optionally
  L2-normalised (the per-modality spaces of a joint or coordinated representation).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from polysense._checks import check_positive_int
from polysense.models.layers import MLP, check_dropout
from polysense.models.registry import register

__all__ = ["LinearHead", "MLPHead", "ProjectionHead"]


@register("head", "linear")
class LinearHead(nn.Module):
    """A linear classifier: ``logits = W · dropout(norm(x)) + b``.

    Args:
        in_dim: width of the input representation.
        num_classes: number of classes (output width).
        dropout: dropout probability before the linear layer.
        norm: apply a LayerNorm to the input first.

    ``forward(x (..., in_dim)) -> logits (..., num_classes)``.
    """

    def __init__(self, in_dim: int, num_classes: int, *, dropout: float = 0.0, norm: bool = False) -> None:
        super().__init__()
        self.in_dim = check_positive_int("in_dim", in_dim)
        self.num_classes = check_positive_int("num_classes", num_classes)
        self.norm = nn.LayerNorm(self.in_dim) if norm else nn.Identity()
        self.dropout = nn.Dropout(check_dropout("dropout", dropout))
        self.linear = nn.Linear(self.in_dim, self.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.dropout(self.norm(x)))


@register("head", "mlp")
class MLPHead(nn.Module):
    """A multi-layer classifier ``in_dim → hidden_dims… → num_classes`` (one shared :class:`MLP`).

    Args:
        in_dim: width of the input representation.
        num_classes: number of classes.
        hidden_dims: widths of the hidden layers (an int for one layer); default one hidden
            layer as wide as the input.
        activation: "gelu", "relu", "silu" or "tanh".
        dropout: dropout after each hidden activation.
        layer_norm: LayerNorm in each hidden layer (before its activation).
    """

    def __init__(
        self,
        in_dim: int,
        num_classes: int,
        *,
        hidden_dims: Sequence[int] | int | None = None,
        activation: str = "gelu",
        dropout: float = 0.0,
        layer_norm: bool = False,
    ) -> None:
        super().__init__()
        self.in_dim = check_positive_int("in_dim", in_dim)
        self.num_classes = check_positive_int("num_classes", num_classes)
        hidden = (self.in_dim,) if hidden_dims is None else hidden_dims
        self.mlp = MLP(
            self.in_dim, self.num_classes, hidden, activation=activation, dropout=dropout, layer_norm=layer_norm
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x)


@register("head", "projection")
class ProjectionHead(nn.Module):
    """A projection into an embedding space: ``MLP(in_dim → hidden_dims… → out_dim)``, then
    optionally ``x / ‖x‖₂`` (unit length, for cosine similarities).

    Args:
        in_dim: input width.
        out_dim: width of the embedding space.
        hidden_dims: hidden layers (none by default: one Linear, as CLIP's projections).
        activation, dropout: as in :class:`MLP`.
        normalize: L2-normalise the output.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        *,
        hidden_dims: Sequence[int] | int = (),
        activation: str = "gelu",
        dropout: float = 0.0,
        normalize: bool = False,
    ) -> None:
        super().__init__()
        self.in_dim = check_positive_int("in_dim", in_dim)
        self.out_dim = check_positive_int("out_dim", out_dim)
        self.dim = self.out_dim
        self.normalize = bool(normalize)
        self.mlp = MLP(self.in_dim, self.out_dim, hidden_dims, activation=activation, dropout=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.mlp(x)
        return F.normalize(x, dim=-1) if self.normalize else x
