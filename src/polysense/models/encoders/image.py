"""Image encoders: a ViT-style patch transformer (ViLT's light visual embedder) and a small CNN.

Both take normalised images (B, 3, H, W) and return an
:class:`~polysense.models.encoders.base.EncoderOutput` whose tokens are patches (ViT, with the
[CLS] token first) or spatial cells of the last feature map (CNN); images carry no padding, so
the mask is all True.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from polysense._checks import check_choice, check_positive_int
from polysense.errors import ParameterError
from polysense.models.encoders.base import EncoderOutput
from polysense.models.layers import PatchEmbed, TransformerEncoder, _pair, check_dropout, init_weights, masked_mean
from polysense.models.registry import register

__all__ = ["ImageCNN", "ImageViT"]


def _check_images(images: torch.Tensor, channels: int) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != channels:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ParameterError(f"images has shape {shape}: expected (batch, {channels}, height, width) float tensor")
    if not images.is_floating_point():
        raise ParameterError(f"images has dtype {images.dtype}: expected a float tensor (normalised pixels)")
    return images


@register("encoder", "image_vit")
class ImageViT(nn.Module):
    """ViLT's visual embedder + a transformer: linear projection of flattened patches, a [CLS]
    token, learned positional embeddings, then ``depth`` pre-norm transformer blocks.

    Args:
        image_size: the (H, W) the positional table is made for; other sizes interpolate it
            bicubically (as ViLT does), so any image size is accepted.
        patch_size: patch side (or (ph, pw)).
        in_channels: image channels (3).
        dim, depth, heads, mlp_ratio, dropout, attention_dropout: the transformer.
        pool: ``"cls"`` (pooled = final [CLS] token) or ``"mean"`` (masked mean of patch tokens).

    Output tokens: (B, 1 + gh*gw, dim), the [CLS] token first, then patches row by row.
    """

    def __init__(
        self,
        image_size: int | Sequence[int] = 32,
        patch_size: int | Sequence[int] = 8,
        *,
        in_channels: int = 3,
        dim: int = 192,
        depth: int = 4,
        heads: int = 4,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        pool: str = "cls",
    ) -> None:
        super().__init__()
        self.image_size = _pair("image_size", image_size)
        self.patch_size = _pair("patch_size", patch_size)
        self.in_channels = check_positive_int("in_channels", in_channels)
        self.dim = check_positive_int("dim", dim)
        self.pool = check_choice("pool", pool, ("cls", "mean"))
        check_dropout("dropout", dropout)
        self.patch_embed = PatchEmbed(self.in_channels, self.patch_size, self.dim)
        self.grid = self.patch_embed.grid_size(*self.image_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, self.dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.grid[0] * self.grid[1], self.dim))
        self.drop = nn.Dropout(dropout)
        self.encoder = TransformerEncoder(
            self.dim, depth, heads, mlp_ratio=mlp_ratio, dropout=dropout, attention_dropout=attention_dropout
        )
        self.apply(init_weights)
        nn.init.trunc_normal_(self.cls_token, std=0.02, a=-0.04, b=0.04)
        nn.init.trunc_normal_(self.pos_embed, std=0.02, a=-0.04, b=0.04)

    def position_embeddings(self, grid: tuple[int, int]) -> torch.Tensor:
        """The (1, 1 + gh*gw, dim) table for a patch grid, interpolated when it differs from training."""
        if tuple(grid) == tuple(self.grid):
            return self.pos_embed
        cls_pos, patch_pos = self.pos_embed[:, :1], self.pos_embed[:, 1:]
        patch_pos = patch_pos.reshape(1, self.grid[0], self.grid[1], self.dim).permute(0, 3, 1, 2)
        patch_pos = F.interpolate(patch_pos, size=tuple(grid), mode="bicubic", align_corners=False)
        patch_pos = patch_pos.permute(0, 2, 3, 1).reshape(1, grid[0] * grid[1], self.dim)
        return torch.cat([cls_pos, patch_pos], dim=1)

    def embed(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The transformer's input: ([CLS] + patch tokens + positions (B, 1+N, dim), mask (B, 1+N))."""
        _check_images(images, self.in_channels)
        patches, grid = self.patch_embed(images)
        cls = self.cls_token.expand(patches.shape[0], -1, -1)
        tokens = torch.cat([cls, patches], dim=1) + self.position_embeddings(grid)
        mask = torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device)
        return self.drop(tokens), mask

    def forward(self, images: torch.Tensor) -> EncoderOutput:
        tokens, mask = self.embed(images)
        tokens = self.encoder(tokens, mask)
        pooled = tokens[:, 0] if self.pool == "cls" else masked_mean(tokens[:, 1:], mask[:, 1:])
        return EncoderOutput(tokens=tokens, mask=mask, pooled=pooled)


@register("encoder", "image_cnn")
class ImageCNN(nn.Module):
    """A small CNN: blocks of conv3x3 - BatchNorm - ReLU - max-pool 2x2, then a linear map of
    each cell of the last feature map to ``dim``.

    Args:
        channels: output channels of each block (one block per entry).
        dim: token width (each spatial cell of the last map becomes one token).
        in_channels: image channels (3).
        dropout: dropout on the tokens.

    Output tokens: (B, h*w, dim) cells row by row; pooled = their mean.
    """

    def __init__(
        self,
        channels: Sequence[int] = (32, 64, 128),
        dim: int = 128,
        *,
        in_channels: int = 3,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if isinstance(channels, int) or not isinstance(channels, Sequence) or len(channels) == 0:
            raise ParameterError(f"channels={channels!r} is invalid: expected a non-empty list of channel counts")
        channels = [check_positive_int("channels[]", c) for c in channels]
        self.in_channels = check_positive_int("in_channels", in_channels)
        self.dim = check_positive_int("dim", dim)
        blocks: list[nn.Module] = []
        previous = self.in_channels
        for out in channels:
            blocks += [
                nn.Conv2d(previous, out, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm2d(out),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2, ceil_mode=True),
            ]
            previous = out
        self.features = nn.Sequential(*blocks)
        self.proj = nn.Linear(previous, self.dim)
        self.drop = nn.Dropout(check_dropout("dropout", dropout))

    def forward(self, images: torch.Tensor) -> EncoderOutput:
        _check_images(images, self.in_channels)
        maps = self.features(images)
        tokens = self.drop(self.proj(maps.flatten(2).transpose(1, 2)))
        mask = torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device)
        return EncoderOutput(tokens=tokens, mask=mask, pooled=tokens.mean(dim=1))
