"""Whisper's encoder-decoder on the project's own blocks.

OpenAI's Whisper (Radford et al. 2022, MIT licence) is a pre-norm transformer encoder-decoder:

    log-mel (B, n_mels, 2·T) -> GELU(conv1d k3) -> GELU(conv1d k3 stride 2) -> + sinusoids (T, D)
        -> depth × [x + SA(LN x); x + MLP(LN x)] -> LN                       encoder states (B, T, D)
    tokens (B, S) -> embedding + learned positions
        -> depth × [x + causal SA(LN x); x + CA(LN x, encoder states); x + MLP(LN x)] -> LN
        -> logits = x · Eᵀ (the token embedding, tied)                        (B, S, vocab)

The encoder is the project's :class:`~polysense.models.layers.TransformerEncoder` (pre-norm,
final LayerNorm = Whisper's ``ln_post``); the decoder's blocks reuse
:class:`~polysense.models.layers.MultiHeadAttention` and the block MLP, and add what decoding
needs: a key/value cache for self-attention and cross-attention keys/values computed once per
audio. Whisper's key projections have no bias; here they have one, loaded as zeros (a bias on
the keys adds the same ``q·b`` to every score of a query, which softmax ignores, so it neither
changes the output nor receives a gradient).

The encoder also runs on less than 30 s: :meth:`WhisperEncoder.forward` takes any number of
frames up to the model's 2·T and a frame mask, uses the first positions, and never attends to
padding, so a short word costs its own length, not 30 s (see ``whisper_encoder``'s ``input``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from polysense._checks import check_positive_int
from polysense.errors import ParameterError
from polysense.models.layers import MultiHeadAttention, TransformerEncoder, block_mlp, check_mask

__all__ = ["Whisper", "WhisperDecoder", "WhisperDims", "WhisperEncoder", "whisper_sinusoids"]

LAYER_NORM_EPS = 1e-5


@dataclass(frozen=True)
class WhisperDims:
    """The sizes of a Whisper model (OpenAI's ``ModelDimensions``; base: 80, 1500, 512, 8, 6, 51865, 448, 512, 8, 6)."""

    n_mels: int
    n_audio_ctx: int
    n_audio_state: int
    n_audio_head: int
    n_audio_layer: int
    n_vocab: int
    n_text_ctx: int
    n_text_state: int
    n_text_head: int
    n_text_layer: int

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            check_positive_int(name, value)
        if self.n_audio_state % self.n_audio_head or self.n_text_state % self.n_text_head:
            raise ParameterError(f"Whisper dimensions {self} are invalid: the heads must divide the widths")

    @property
    def name(self) -> str:
        """The OpenAI size this matches (tiny/base/small/medium/large), or ``custom``."""
        sizes = {(384, 4): "tiny", (512, 6): "base", (768, 12): "small", (1024, 24): "medium", (1280, 32): "large"}
        return sizes.get((self.n_audio_state, self.n_audio_layer), "custom")


def whisper_sinusoids(length: int, channels: int, max_timescale: float = 10000.0) -> torch.Tensor:
    """Whisper's encoder positions (length, channels): ``[sin(t·ω_i), cos(t·ω_i)]`` with
    ``ω_i = exp(-i · ln(max_timescale) / (channels/2 − 1))``, i = 0 … channels/2 − 1."""
    if channels % 2:
        raise ParameterError(f"channels={channels} must be even for sinusoidal positions")
    increment = math.log(max_timescale) / (channels // 2 - 1)
    inv = torch.exp(-increment * torch.arange(channels // 2, dtype=torch.float64))
    scaled = torch.arange(length, dtype=torch.float64)[:, None] * inv[None, :]
    return torch.cat([scaled.sin(), scaled.cos()], dim=1).float()


class WhisperEncoder(nn.Module):
    """Log-mel frames (B, n_mels, F) + frame mask (B, F) -> states (B, ceil(F/2), D) + token mask.

    ``F`` may be anything from 1 to ``2·n_audio_ctx`` (3000 = 30 s); the reference model always
    sees 3000 frames (the audio zero-padded to 30 s), which :func:`~polysense.models.whisper.features.pad_features`
    gives. ``trainable_blocks`` fine-tunes the last k blocks (and the final norm) and freezes the rest.
    """

    def __init__(self, dims: WhisperDims) -> None:
        super().__init__()
        self.dims = dims
        d = dims.n_audio_state
        self.conv1 = nn.Conv1d(dims.n_mels, d, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(d, d, kernel_size=3, stride=2, padding=1)
        self.register_buffer("positions", whisper_sinusoids(dims.n_audio_ctx, d))
        self.transformer = TransformerEncoder(
            d, dims.n_audio_layer, dims.n_audio_head, mlp_ratio=4.0, activation="gelu",
            final_norm=True, layer_norm_eps=LAYER_NORM_EPS,
        )

    @property
    def blocks(self) -> nn.ModuleList:
        return self.transformer.blocks

    @property
    def max_frames(self) -> int:
        """Input frames the model was trained on (3000: 30 s at 100 frames/s)."""
        return 2 * self.dims.n_audio_ctx

    def forward(
        self, features: torch.Tensor, frame_mask: torch.Tensor | None = None, *, return_hidden: bool = False
    ) -> tuple:
        """``(states, token_mask)``, or ``(states, token_mask, hidden)`` with the block inputs and
        outputs ``[x_0, after block 1, ...]`` when ``return_hidden``."""
        if features.ndim != 3 or features.shape[1] != self.dims.n_mels:
            raise ParameterError(
                f"features have shape {tuple(features.shape)}: expected (batch, {self.dims.n_mels}, frames)"
            )
        frames = features.shape[-1]
        if not 1 <= frames <= self.max_frames:
            raise ParameterError(f"features have {frames} frames: Whisper takes 1 to {self.max_frames} (30 s)")
        if frame_mask is None:
            frame_mask = torch.ones(features.shape[0], frames, dtype=torch.bool, device=features.device)
        frame_mask = check_mask(frame_mask, (features.shape[0], frames), name="frame_mask")
        # zero the padded frames so conv1's window at the edge of an item sees what it alone would
        x = features * frame_mask[:, None, :].to(features.dtype)
        # and again after conv1: its outputs past an item's end must be the zeros conv2 pads with alone
        x = F.gelu(self.conv1(x)) * frame_mask[:, None, :].to(features.dtype)
        x = F.gelu(self.conv2(x)).transpose(1, 2)
        tokens = x.shape[1]
        x = x + self.positions[:tokens].to(x.dtype)
        # token t covers frames 2t-1 .. 2t+1: real when its centre frame 2t is real
        token_mask = frame_mask[:, ::2][:, :tokens]
        if return_hidden:
            out, hidden = self.transformer(x, token_mask, return_hidden=True)
            return out, token_mask, hidden
        return self.transformer(x, token_mask), token_mask


class WhisperDecoderBlock(nn.Module):
    """``x + causal SA(LN x)``, ``x + CA(LN x, audio)``, ``x + MLP(LN x)`` with key/value caches."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.attention = MultiHeadAttention(dim, heads)
        self.cross_norm = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.cross_attention = MultiHeadAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.mlp = block_mlp(dim, 4.0, activation="gelu")

    def cross_keys(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The cross-attention keys and values of the encoder states (B, H, T, d_head), once per audio."""
        a = self.cross_attention
        return a._split(a.key(audio)), a._split(a.value(audio))

    def forward(
        self,
        x: torch.Tensor,
        cross: tuple[torch.Tensor, torch.Tensor],
        audio_mask: torch.Tensor | None,
        cache: tuple[torch.Tensor, torch.Tensor] | None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        a = self.attention
        h = self.norm1(x)
        q, k, v = a._split(a.query(h)), a._split(a.key(h)), a._split(a.value(h))
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
        new, total = x.shape[1], k.shape[2]
        # causal: query i (at position total-new+i) sees keys 0 .. total-new+i
        causal = None
        if new > 1:
            causal = torch.ones(new, total, dtype=torch.bool, device=x.device).tril(total - new)
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=causal)
        x = x + a.out(context.transpose(1, 2).reshape(x.shape))
        c = self.cross_attention
        q = c._split(c.query(self.cross_norm(x)))
        mask = None if audio_mask is None else audio_mask[:, None, None, :]
        context = F.scaled_dot_product_attention(q, cross[0], cross[1], attn_mask=mask)
        x = x + c.out(context.transpose(1, 2).reshape(x.shape))
        x = x + self.mlp(self.norm2(x))
        return x, (k, v)


class WhisperDecoder(nn.Module):
    """Tokens (B, S) + encoder states -> next-token logits (B, S, vocab), with a cache for decoding."""

    def __init__(self, dims: WhisperDims) -> None:
        super().__init__()
        self.dims = dims
        d = dims.n_text_state
        self.token_embedding = nn.Embedding(dims.n_vocab, d)
        self.positions = nn.Parameter(torch.zeros(dims.n_text_ctx, d))
        self.blocks = nn.ModuleList(WhisperDecoderBlock(d, dims.n_text_head) for _ in range(dims.n_text_layer))
        self.norm = nn.LayerNorm(d, eps=LAYER_NORM_EPS)

    def cross_keys(self, audio: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [block.cross_keys(audio) for block in self.blocks]

    def forward(
        self,
        tokens: torch.Tensor,
        cross: list[tuple[torch.Tensor, torch.Tensor]],
        audio_mask: torch.Tensor | None = None,
        cache: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
    ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """Logits of the next token after each of ``tokens``, and the extended self-attention cache."""
        offset = 0 if cache is None else cache[0][0].shape[2]
        end = offset + tokens.shape[1]
        if end > self.dims.n_text_ctx:
            raise ParameterError(f"the decoder takes at most {self.dims.n_text_ctx} tokens, got {end}")
        x = self.token_embedding(tokens) + self.positions[offset:end]
        new_cache = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, cross[i], audio_mask, None if cache is None else cache[i])
            new_cache.append(kv)
        logits = F.linear(self.norm(x), self.token_embedding.weight)  # x · Eᵀ (tied embedding)
        return logits, new_cache


class Whisper(nn.Module):
    """The encoder-decoder; ``Whisper(dims)`` is random, :func:`~polysense.models.whisper.weights.load_whisper` loads one."""

    def __init__(self, dims: WhisperDims) -> None:
        super().__init__()
        self.dims = dims
        self.encoder = WhisperEncoder(dims)
        self.decoder = WhisperDecoder(dims)
        if dims.n_audio_state != dims.n_text_state:
            raise ParameterError(f"Whisper dimensions {dims}: the encoder and decoder widths differ")

    def forward(self, features: torch.Tensor, tokens: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Teacher-forced logits (B, S, vocab) of each next token."""
        audio, mask = self.encoder(features, frame_mask)
        logits, _ = self.decoder(tokens, self.decoder.cross_keys(audio), mask)
        return logits
