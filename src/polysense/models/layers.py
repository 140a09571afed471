"""Building blocks shared by every encoder, fusion and paradigm.

One definition per concept: the transformer block, the multi-head attention, the patch
embedding, the MLP and the masked mean live here, and every model composes them.

Mask convention (everywhere in :mod:`polysense.models`): a boolean tensor ``(batch, seq)``,
``True`` where a token is real and ``False`` where it is padding.

The transformer is *padding invariant*: padded keys get exactly zero attention weight, so
the outputs at real positions do not depend on how many padding positions follow them
(checked in ``tests/models/test_layers.py`` to 1e-5).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from polysense._checks import check_choice, check_positive_float, check_positive_int, check_unit_interval
from polysense.errors import ParameterError

__all__ = [
    "ACTIVATIONS",
    "LearnedPositionalEmbedding",
    "MLP",
    "MultiHeadAttention",
    "PatchEmbed",
    "SinusoidalPositionalEmbedding",
    "TransformerBlock",
    "TransformerEncoder",
    "block_mlp",
    "check_dropout",
    "check_mask",
    "init_weights",
    "lengths_to_mask",
    "make_activation",
    "masked_mean",
    "sinusoidal_positions",
]

ACTIVATIONS = ("gelu", "relu", "silu", "tanh")


# --------------------------------------------------------------------------- helpers


def make_activation(name: str) -> nn.Module:
    """An activation module by name (one of :data:`ACTIVATIONS`)."""
    check_choice("activation", name, ACTIVATIONS)
    return {"gelu": nn.GELU, "relu": nn.ReLU, "silu": nn.SiLU, "tanh": nn.Tanh}[name]()


def check_dropout(name: str, value: float) -> float:
    """A dropout probability in [0, 1)."""
    return check_unit_interval(name, value, include_one=False)


def check_mask(mask: torch.Tensor | None, shape: Sequence[int], *, name: str = "mask") -> torch.Tensor | None:
    """Validate a padding mask of ``shape`` (batch, seq); returns it as bool (or None)."""
    if mask is None:
        return None
    if not isinstance(mask, torch.Tensor):
        raise ParameterError(f"{name} must be a bool tensor of shape {tuple(shape)}, got {type(mask).__name__}")
    if tuple(mask.shape) != tuple(shape):
        raise ParameterError(
            f"{name} has shape {tuple(mask.shape)}: expected {tuple(shape)} (batch, seq), True where a token is real"
        )
    return mask if mask.dtype == torch.bool else mask.bool()


def lengths_to_mask(lengths: torch.Tensor, max_length: int | None = None) -> torch.Tensor:
    """A (batch, max_length) bool mask, True at positions ``< lengths[b]``."""
    lengths = torch.as_tensor(lengths)
    if max_length is None:
        max_length = int(lengths.max()) if lengths.numel() else 0
    positions = torch.arange(max_length, device=lengths.device)
    return positions.unsqueeze(0) < lengths.unsqueeze(-1)


def masked_mean(x: torch.Tensor, mask: torch.Tensor | None = None, dim: int = 1, keepdim: bool = False) -> torch.Tensor:
    """Mean of ``x`` over ``dim`` counting only positions where ``mask`` is True.

    Args:
        x: (batch, seq, ...) values (``dim`` is the sequence axis, 1 by default).
        mask: (batch, seq) bool, True = real; None means all real.
        dim: the axis to average over.
        keepdim: keep the averaged axis with size 1.

    Returns:
        ``sum(x * mask) / max(sum(mask), 1)``; an item without any real token gives zeros.
    """
    if mask is None:
        return x.mean(dim=dim, keepdim=keepdim)
    dim = dim % x.ndim
    weights = mask.to(x.dtype)
    while weights.ndim < x.ndim:
        weights = weights.unsqueeze(-1)
    total = (x * weights).sum(dim=dim, keepdim=keepdim)
    count = weights.sum(dim=dim, keepdim=keepdim).clamp_min(1.0)
    return total / count


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """ViT/BERT initialisation: truncated normal (std 0.02) weights, zero biases, unit LayerNorm."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=std, a=-2 * std, b=2 * std)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.trunc_normal_(module.weight, std=std, a=-2 * std, b=2 * std)
        if module.padding_idx is not None:
            with torch.no_grad():
                module.weight[module.padding_idx].zero_()
    elif isinstance(module, nn.LayerNorm):
        if module.weight is not None:
            nn.init.ones_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


# --------------------------------------------------------------------------- positions


def sinusoidal_positions(
    length: int, dim: int, *, base: float = 10000.0, dtype: torch.dtype = torch.float32, device=None
) -> torch.Tensor:
    """The (length, dim) sinusoidal table of "Attention is all you need".

    ``PE[p, 2i] = sin(p / base^(2i/dim))``, ``PE[p, 2i+1] = cos(p / base^(2i/dim))``.
    """
    position = torch.arange(length, dtype=torch.float64, device=device).unsqueeze(1)
    inv_freq = base ** (-torch.arange(0, dim, 2, dtype=torch.float64, device=device) / dim)
    angles = position * inv_freq
    table = torch.zeros(length, dim, dtype=torch.float64, device=device)
    table[:, 0::2] = torch.sin(angles)
    table[:, 1::2] = torch.cos(angles[:, : dim // 2])
    return table.to(dtype)


class SinusoidalPositionalEmbedding(nn.Module):
    """Adds fixed sinusoidal positions: ``forward(x (B, S, D), offset=0) -> x + PE[offset:offset+S]``."""

    def __init__(self, dim: int, max_length: int = 4096, *, base: float = 10000.0) -> None:
        super().__init__()
        self.dim = check_positive_int("dim", dim)
        self.max_length = check_positive_int("max_length", max_length)
        self.register_buffer("table", sinusoidal_positions(max_length, dim, base=base), persistent=False)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        length = x.shape[1]
        if offset + length > self.max_length:
            raise ParameterError(
                f"sequence of {length} tokens (offset {offset}) exceeds max_length={self.max_length}: "
                "raise max_length in the config"
            )
        return x + self.table[offset : offset + length].to(x.dtype)


class LearnedPositionalEmbedding(nn.Module):
    """Adds a learned (max_length, dim) table: ``forward(x (B, S, D), offset=0)``."""

    def __init__(self, dim: int, max_length: int) -> None:
        super().__init__()
        self.dim = check_positive_int("dim", dim)
        self.max_length = check_positive_int("max_length", max_length)
        self.weight = nn.Parameter(torch.zeros(max_length, dim))
        nn.init.trunc_normal_(self.weight, std=0.02, a=-0.04, b=0.04)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        length = x.shape[1]
        if offset + length > self.max_length:
            raise ParameterError(
                f"sequence of {length} tokens (offset {offset}) exceeds max_length={self.max_length}: "
                "raise max_length in the config (or truncate the input)"
            )
        return x + self.weight[offset : offset + length]


# --------------------------------------------------------------------------- MLP


class MLP(nn.Module):
    """Linear layers with an activation (and dropout) between them.

    ``MLP(in_dim, out_dim, hidden_dims=(h1, h2))`` is ``Linear(in,h1) act drop Linear(h1,h2) act drop
    Linear(h2,out)``; with no hidden dims it is one Linear. ``layer_norm=True`` normalises each
    hidden layer before its activation.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        hidden_dims: Sequence[int] | int = (),
        *,
        activation: str = "gelu",
        dropout: float = 0.0,
        layer_norm: bool = False,
        bias: bool = True,
    ) -> None:
        super().__init__()
        in_dim = check_positive_int("in_dim", in_dim)
        out_dim = check_positive_int("out_dim", out_dim)
        if isinstance(hidden_dims, int):
            hidden_dims = (hidden_dims,)
        hidden_dims = [check_positive_int("hidden_dims[]", h) for h in hidden_dims]
        dropout = check_dropout("dropout", dropout)
        check_choice("activation", activation, ACTIVATIONS)
        layers: list[nn.Module] = []
        previous = in_dim
        for hidden in hidden_dims:
            layers.append(nn.Linear(previous, hidden, bias=bias))
            if layer_norm:
                layers.append(nn.LayerNorm(hidden))
            layers.append(make_activation(activation))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            previous = hidden
        layers.append(nn.Linear(previous, out_dim, bias=bias))
        self.net = nn.Sequential(*layers)
        self.in_dim, self.out_dim = in_dim, out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


# --------------------------------------------------------------------------- attention


def _attention_mask(key_mask: torch.Tensor | None, attn_mask: torch.Tensor | None) -> torch.Tensor | None:
    """Combine a (B, Sk) key padding mask and an optional (Sq, Sk)/(B, Sq, Sk)/(B, H, Sq, Sk) bool
    mask (True = may attend) into one broadcastable bool mask; rows with no key left attend to
    every key instead (their output is padding anyway, and this keeps it finite)."""
    mask = None
    if key_mask is not None:
        mask = key_mask[:, None, None, :]
    if attn_mask is not None:
        if attn_mask.dtype != torch.bool:
            raise ParameterError("attn_mask must be a bool tensor (True = may attend)")
        extra = attn_mask
        while extra.ndim < 4:
            extra = extra.unsqueeze(0) if extra.ndim == 2 else extra.unsqueeze(1)
        mask = extra if mask is None else (mask & extra)
    if mask is None:
        return None
    # unconditional (no branch on values), so an exported graph keeps the rule
    return mask | ~mask.any(dim=-1, keepdim=True)


class MultiHeadAttention(nn.Module):
    """Multi-head scaled dot-product attention (self- or cross-attention).

    ``forward(query (B, Sq, D), key=None, value=None, *, key_mask=None, attn_mask=None,
    need_weights=False)``; ``key``/``value`` default to ``query`` (self-attention) and may have
    width ``kv_dim`` (cross-attention between streams of different widths). ``key_mask`` is a
    (B, Sk) bool padding mask, True = real. Returns the (B, Sq, D) output, or
    ``(output, weights (B, heads, Sq, Sk))`` when ``need_weights``.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        *,
        kv_dim: int | None = None,
        dropout: float = 0.0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.dim = check_positive_int("dim", dim)
        self.heads = check_positive_int("heads", heads)
        if dim % heads:
            raise ParameterError(f"dim={dim} is not divisible by heads={heads}: choose heads dividing dim")
        self.head_dim = dim // heads
        kv_dim = dim if kv_dim is None else check_positive_int("kv_dim", kv_dim)
        self.kv_dim = kv_dim
        self.dropout = check_dropout("attention dropout", dropout)
        self.query = nn.Linear(dim, dim, bias=bias)
        self.key = nn.Linear(kv_dim, dim, bias=bias)
        self.value = nn.Linear(kv_dim, dim, bias=bias)
        self.out = nn.Linear(dim, dim, bias=bias)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, s, _ = x.shape
        return x.view(b, s, self.heads, self.head_dim).transpose(1, 2)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        value: torch.Tensor | None = None,
        *,
        key_mask: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        need_weights: bool = False,
    ):
        key = query if key is None else key
        value = key if value is None else value
        b, sq, _ = query.shape
        q = self._split(self.query(query))
        k = self._split(self.key(key))
        v = self._split(self.value(value))
        mask = _attention_mask(key_mask, attn_mask)
        p = self.dropout if self.training else 0.0
        if need_weights:
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.head_dim)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = scores.softmax(dim=-1)
            context = F.dropout(weights, p=p, training=self.training) @ v
        else:
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        out = self.out(context.transpose(1, 2).reshape(b, sq, self.dim))
        return (out, weights) if need_weights else out


def block_mlp(dim: int, mlp_ratio: float, *, dropout: float = 0.0, activation: str = "gelu") -> MLP:
    """The MLP of a transformer block: ``dim -> max(1, round(dim · mlp_ratio)) -> dim``.

    Shared by :class:`TransformerBlock` and the cross- and co-attention blocks of
    :mod:`polysense.models.attention`.
    """
    hidden = max(1, round(dim * check_positive_float("mlp_ratio", mlp_ratio)))
    return MLP(dim, dim, hidden, activation=activation, dropout=dropout)


class TransformerBlock(nn.Module):
    """A transformer block, pre-norm by default: ``x + Attn(LN(x))`` then ``x + MLP(LN(x))``.

    ``post_norm=True`` gives the original (BERT) order instead: ``LN(x + Attn(x))`` then
    ``LN(x + MLP(x))``, so a pretrained BERT checkpoint maps onto these blocks (MiniLM). Pre-norm
    trains more stably from scratch; post-norm is what such checkpoints were trained with.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        *,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        activation: str = "gelu",
        layer_norm_eps: float = 1e-5,
        post_norm: bool = False,
    ) -> None:
        super().__init__()
        mlp_ratio = check_positive_float("mlp_ratio", mlp_ratio)
        dropout = check_dropout("dropout", dropout)
        self.post_norm = bool(post_norm)
        self.norm1 = nn.LayerNorm(dim, eps=layer_norm_eps)
        self.attention = MultiHeadAttention(dim, heads, dropout=attention_dropout)
        self.norm2 = nn.LayerNorm(dim, eps=layer_norm_eps)
        self.mlp = block_mlp(dim, mlp_ratio, dropout=dropout, activation=activation)
        self.drop = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, *, attn_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        if self.post_norm:
            x = self.norm1(x + self.drop(self.attention(x, key_mask=mask, attn_mask=attn_mask)))
            return self.norm2(x + self.drop(self.mlp(x)))
        x = x + self.drop(self.attention(self.norm1(x), key_mask=mask, attn_mask=attn_mask))
        return x + self.drop(self.mlp(self.norm2(x)))


class TransformerEncoder(nn.Module):
    """A stack of ``depth`` pre-norm :class:`TransformerBlock` s with a final LayerNorm.

    Args:
        dim: token width D.
        depth: number of blocks (0 gives the final norm only).
        heads: attention heads (must divide ``dim``).
        mlp_ratio: hidden width of each block's MLP as a multiple of ``dim``.
        dropout: dropout after attention and MLP (and inside the MLP).
        attention_dropout: dropout on the attention weights.
        activation: the MLP activation (``gelu``, ``relu``, ``silu``, ``tanh``).
        final_norm: apply a LayerNorm after the last block (pre-norm stacks need it).
        layer_norm_eps: epsilon of every LayerNorm.
        post_norm: post-norm blocks (BERT's order; see :class:`TransformerBlock`), usually
            with ``final_norm=False`` since each block already ends with a LayerNorm.

    ``forward(x (B, S, D), mask (B, S) bool True=real, *, attn_mask=None, return_hidden=False)``
    returns (B, S, D), or ``(output, [input, after block 1, ..., after block depth])`` when
    ``return_hidden`` (for fusions that tap an intermediate layer). The blocks are in
    ``self.blocks`` (a ModuleList) for callers that run a subset of them.
    """

    def __init__(
        self,
        dim: int,
        depth: int,
        heads: int,
        *,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        activation: str = "gelu",
        final_norm: bool = True,
        layer_norm_eps: float = 1e-5,
        post_norm: bool = False,
    ) -> None:
        super().__init__()
        self.dim = check_positive_int("dim", dim)
        self.depth = check_positive_int("depth", depth, minimum=0)
        self.heads = check_positive_int("heads", heads)
        if dim % heads:
            raise ParameterError(f"dim={dim} is not divisible by heads={heads}: choose heads dividing dim")
        self.blocks = nn.ModuleList(
            TransformerBlock(
                dim,
                heads,
                mlp_ratio=mlp_ratio,
                dropout=dropout,
                attention_dropout=attention_dropout,
                activation=activation,
                layer_norm_eps=layer_norm_eps,
                post_norm=post_norm,
            )
            for _ in range(depth)
        )
        self.norm = nn.LayerNorm(dim, eps=layer_norm_eps) if final_norm else nn.Identity()

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None = None,
        *,
        attn_mask: torch.Tensor | None = None,
        return_hidden: bool = False,
    ):
        if x.ndim != 3 or x.shape[-1] != self.dim:
            raise ParameterError(f"input has shape {tuple(x.shape)}: expected (batch, seq, {self.dim})")
        mask = check_mask(mask, x.shape[:2])
        hidden = [x]
        for block in self.blocks:
            x = block(x, mask, attn_mask=attn_mask)
            hidden.append(x)
        x = self.norm(x)
        return (x, hidden) if return_hidden else x


# --------------------------------------------------------------------------- patches


def _pair(name: str, value) -> tuple[int, int]:
    if isinstance(value, int | bool) or not isinstance(value, Sequence):
        value = (value, value)
    if len(value) != 2:
        raise ParameterError(f"{name}={value!r} is invalid: expected an int or a pair (height, width)")
    return (check_positive_int(name, value[0]), check_positive_int(name, value[1]))


class PatchEmbed(nn.Module):
    """ViT's linear projection of flattened patches (ViLT's light visual embedder, AST's patches).

    The input (B, C, H, W) (an image, or a spectrogram as (B, 1, freq, frames)) is cut into
    patches of ``patch_size`` = (ph, pw) every ``stride`` (default: the patch size, i.e. no
    overlap); each patch is flattened to ``C*ph*pw`` values and mapped by one ``nn.Linear`` to
    ``dim``. When H or W do not fit a whole number of strides the input is zero-padded at the
    bottom/right so every pixel lands in a patch (``pad=False`` raises instead).

    ``forward(x) -> (tokens (B, gh*gw, dim), (gh, gw))`` with tokens in row-major grid order.
    """

    def __init__(
        self,
        in_channels: int,
        patch_size: int | Sequence[int],
        dim: int,
        *,
        stride: int | Sequence[int] | None = None,
        pad: bool = True,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.in_channels = check_positive_int("in_channels", in_channels)
        self.patch_size = _pair("patch_size", patch_size)
        self.stride = self.patch_size if stride is None else _pair("patch_stride", stride)
        self.dim = check_positive_int("dim", dim)
        self.pad = bool(pad)
        self.proj = nn.Linear(self.in_channels * self.patch_size[0] * self.patch_size[1], self.dim, bias=bias)

    def grid_size(self, height: int, width: int) -> tuple[int, int]:
        """Patches along each axis for an input of (height, width), after padding."""
        return (
            self.patches_along(height, self.patch_size[0], self.stride[0]),
            self.patches_along(width, self.patch_size[1], self.stride[1]),
        )

    @staticmethod
    def patches_along(length: int, patch: int, stride: int) -> int:
        """Fewest patches covering ``length`` positions: ``1 + ceil(max(length - patch, 0) / stride)``."""
        return 1 + -(-max(length - patch, 0) // stride)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ParameterError(
                f"input has shape {tuple(x.shape)}: expected (batch, {self.in_channels}, height, width)"
            )
        (ph, pw), (sh, sw) = self.patch_size, self.stride
        height, width = x.shape[-2:]
        gh, gw = self.grid_size(height, width)
        need_h, need_w = ph + (gh - 1) * sh, pw + (gw - 1) * sw
        if (need_h, need_w) != (height, width):
            if not self.pad and (need_h > height or need_w > width or (height - ph) % sh or (width - pw) % sw):
                raise ParameterError(
                    f"input of size {height}x{width} is not covered by whole patches of {ph}x{pw} "
                    f"every {sh}x{sw}: resize it or set pad=True"
                )
            x = F.pad(x, (0, max(need_w - width, 0), 0, max(need_h - height, 0)))[..., :need_h, :need_w]
        if (sh, sw) == (ph, pw):
            b, c = x.shape[:2]
            patches = x.reshape(b, c, gh, ph, gw, pw).permute(0, 2, 4, 1, 3, 5).reshape(b, gh * gw, c * ph * pw)
        else:
            patches = F.unfold(x, kernel_size=(ph, pw), stride=(sh, sw)).transpose(1, 2)
        return self.proj(patches), (gh, gw)
