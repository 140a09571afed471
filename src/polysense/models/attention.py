"""Cross-modal attention blocks: cross-attention (ALBEF's fusion) and co-attention (ViLBERT).

Both are pre-norm blocks built from :mod:`polysense.models.layers` (its
:class:`~polysense.models.layers.MultiHeadAttention`, which takes keys of another width, and its
:class:`~polysense.models.layers.MLP`); masks are (batch, seq) bool, True where a token is real.

- :class:`CrossAttentionBlock`: one stream attends to itself, then to a context stream
  (queries from the stream, keys and values from the context), then an MLP:
  ``x += SA(LN x)``; ``x += CA(LN x, LN c)``; ``x += MLP(LN x)``. ALBEF's fusion encoder is a
  stack of these over the text tokens with the image (or audio) tokens as context.
- :class:`CoAttentionBlock`: ViLBERT's co-attentional transformer layer. Two streams exchange
  keys and values: each stream's queries attend to the *other* stream (both computed from the
  inputs of the block), then each stream has its own MLP:
  ``a' = a + CA_a(LN a, LN b)``, ``b' = b + CA_b(LN b, LN a)``, then ``+= MLP(LN ·)`` per stream.
  The streams may have different widths.
- :class:`CoAttentionEncoder`: ViLBERT's interaction stack, ``depth`` times a co-attention block
  followed by one self-attention :class:`~polysense.models.layers.TransformerBlock` per stream,
  with a final LayerNorm per stream.
"""

from __future__ import annotations

from torch import Tensor, nn

from polysense._checks import check_positive_int
from polysense.models.layers import MultiHeadAttention, TransformerBlock, block_mlp, check_dropout, check_mask

__all__ = ["CoAttentionBlock", "CoAttentionEncoder", "CrossAttention", "CrossAttentionBlock"]


class CrossAttention(nn.Module):
    """Pre-norm residual cross-attention: ``x + Dropout(MHA(LN x, LN context))``.

    Args:
        dim: width of the query stream ``x``.
        context_dim: width of the context stream (keys and values).
        heads: attention heads (must divide ``dim``).
        dropout: dropout on the residual branch; attention_dropout: on the attention weights.
    """

    def __init__(
        self, dim: int, context_dim: int, heads: int, *, dropout: float = 0.0, attention_dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(check_positive_int("dim", dim))
        self.context_norm = nn.LayerNorm(check_positive_int("context_dim", context_dim))
        self.attention = MultiHeadAttention(dim, heads, kv_dim=context_dim, dropout=attention_dropout)
        self.drop = nn.Dropout(check_dropout("dropout", dropout))

    def forward(self, x: Tensor, context: Tensor, context_mask: Tensor | None = None) -> Tensor:
        context_mask = check_mask(context_mask, context.shape[:2], name="context_mask")
        c = self.context_norm(context)
        return x + self.drop(self.attention(self.norm(x), c, c, key_mask=context_mask))


class CrossAttentionBlock(nn.Module):
    """Self-attention, cross-attention to a context, MLP; each pre-norm and residual.

    ``forward(x (B, S, dim), context (B, Sc, context_dim), mask=None, context_mask=None)``
    returns (B, S, dim). ``self_attention=False`` drops the first sub-layer (a pure
    cross-attention block).
    """

    def __init__(
        self,
        dim: int,
        context_dim: int,
        heads: int,
        *,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        activation: str = "gelu",
        self_attention: bool = True,
    ) -> None:
        super().__init__()
        dropout = check_dropout("dropout", dropout)
        self.self_norm = nn.LayerNorm(dim) if self_attention else None
        self.self_attention = (
            MultiHeadAttention(dim, heads, dropout=attention_dropout) if self_attention else None
        )
        self.cross = CrossAttention(dim, context_dim, heads, dropout=dropout, attention_dropout=attention_dropout)
        self.mlp_norm = nn.LayerNorm(dim)
        self.mlp = block_mlp(dim, mlp_ratio, dropout=dropout, activation=activation)
        self.drop = nn.Dropout(dropout)

    def forward(
        self, x: Tensor, context: Tensor, mask: Tensor | None = None, context_mask: Tensor | None = None
    ) -> Tensor:
        if self.self_attention is not None:
            mask = check_mask(mask, x.shape[:2])
            x = x + self.drop(self.self_attention(self.self_norm(x), key_mask=mask))
        x = self.cross(x, context, context_mask)
        return x + self.drop(self.mlp(self.mlp_norm(x)))


class CoAttentionBlock(nn.Module):
    """ViLBERT's co-attentional transformer layer over two streams ``a`` and ``b``.

    Each stream's queries attend to the other stream's keys and values (computed from the
    block's inputs, so the two directions are symmetric), then each stream passes its own MLP.

    ``forward(a (B, Sa, dim_a), b (B, Sb, dim_b), mask_a=None, mask_b=None) -> (a', b')``.
    """

    def __init__(
        self,
        dim_a: int,
        dim_b: int,
        heads: int,
        *,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        activation: str = "gelu",
    ) -> None:
        super().__init__()
        dropout = check_dropout("dropout", dropout)
        common = dict(dropout=dropout, attention_dropout=attention_dropout)
        self.a_from_b = CrossAttention(dim_a, dim_b, heads, **common)
        self.b_from_a = CrossAttention(dim_b, dim_a, heads, **common)
        self.norm_a, self.norm_b = nn.LayerNorm(dim_a), nn.LayerNorm(dim_b)
        self.mlp_a = block_mlp(dim_a, mlp_ratio, dropout=dropout, activation=activation)
        self.mlp_b = block_mlp(dim_b, mlp_ratio, dropout=dropout, activation=activation)
        self.drop = nn.Dropout(dropout)

    def forward(
        self, a: Tensor, b: Tensor, mask_a: Tensor | None = None, mask_b: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        a, b = self.a_from_b(a, b, mask_b), self.b_from_a(b, a, mask_a)
        a = a + self.drop(self.mlp_a(self.norm_a(a)))
        b = b + self.drop(self.mlp_b(self.norm_b(b)))
        return a, b


class CoAttentionEncoder(nn.Module):
    """ViLBERT's interaction stack: ``depth`` x (co-attention block, then a self-attention block
    per stream), then a final LayerNorm per stream.

    Args:
        dim_a, dim_b: widths of the two streams (e.g. visual 1024 and text 768 in ViLBERT).
        depth: number of co-attention layers.
        heads: attention heads (must divide both widths).
        mlp_ratio, dropout, attention_dropout, activation: as in the transformer blocks.

    ``forward(a, b, mask_a=None, mask_b=None) -> (a', b')`` with the input shapes.
    """

    def __init__(
        self,
        dim_a: int,
        dim_b: int,
        depth: int,
        heads: int,
        *,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        activation: str = "gelu",
    ) -> None:
        super().__init__()
        self.depth = check_positive_int("depth", depth, what="number of co-attention layers")
        common = dict(mlp_ratio=mlp_ratio, dropout=dropout, attention_dropout=attention_dropout, activation=activation)
        self.co_blocks = nn.ModuleList(CoAttentionBlock(dim_a, dim_b, heads, **common) for _ in range(depth))
        self.blocks_a = nn.ModuleList(TransformerBlock(dim_a, heads, **common) for _ in range(depth))
        self.blocks_b = nn.ModuleList(TransformerBlock(dim_b, heads, **common) for _ in range(depth))
        self.norm_a, self.norm_b = nn.LayerNorm(dim_a), nn.LayerNorm(dim_b)

    def forward(
        self, a: Tensor, b: Tensor, mask_a: Tensor | None = None, mask_b: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        mask_a = check_mask(mask_a, a.shape[:2], name="mask_a")
        mask_b = check_mask(mask_b, b.shape[:2], name="mask_b")
        for co_block, block_a, block_b in zip(self.co_blocks, self.blocks_a, self.blocks_b):
            a, b = co_block(a, b, mask_a, mask_b)
            a, b = block_a(a, mask_a), block_b(b, mask_b)
        return self.norm_a(a), self.norm_b(b)
