"""``conv_tasnet``: a small time-domain separator (Luo & Mesgarani 2019, Conv-TasNet).

A learned encoder (Conv1d, ``enc_channels`` filters of ``kernel_size`` samples, stride
``kernel_size // 2``, ReLU) turns the mixture into a non-negative representation ``W``; a
temporal convolutional network (``repeats`` × ``blocks`` 1-D conv blocks with dilations
1, 2, 4, …, 2^(blocks−1): 1×1 conv → PReLU → norm → depthwise dilated conv → PReLU → norm →
1×1 conv, residual) estimates one sigmoid mask per source; the decoder (transposed Conv1d)
turns each ``M_s ⊙ W`` back into a waveform::

    ŝ_s = Decoder(M_s ⊙ Encoder(x))

Trained with the permutation-invariant SI-SDR loss
(:func:`polysense.losses.separation.pit_si_sdr_loss`). Batch keys: ``mixture`` (B, T), optional
``sources`` (B, S, T) and ``length`` (B,). Output: ``EnhancementOutput.estimate`` (B, S, T) and, with
sources, ``metrics`` ``si_sdr`` / ``si_sdri`` (dB, best permutation).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from polysense._checks import check_positive_int
from polysense.enhance.outputs import separation_output
from polysense.errors import ParameterError
from polysense.models.contract import Model
from polysense.models.output import EnhancementOutput
from polysense.models.registry import register

__all__ = ["ConvTasNet"]


class _TCNBlock(nn.Module):
    def __init__(self, channels: int, hidden: int, kernel: int, dilation: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv1d(channels, hidden, 1), nn.PReLU(), nn.GroupNorm(1, hidden),
            nn.Conv1d(hidden, hidden, kernel, dilation=dilation, padding=dilation * (kernel - 1) // 2, groups=hidden),
            nn.PReLU(), nn.GroupNorm(1, hidden), nn.Conv1d(hidden, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


@register("model", "conv_tasnet")
class ConvTasNet(Model):
    """Conv-TasNet separator (see the module docstring)."""

    kind = "enhancer"

    def __init__(self, *, sample_rate: int = 8000, num_sources: int = 2, enc_channels: int = 128,
                 kernel_size: int = 16, bottleneck: int = 64, hidden: int = 128, blocks: int = 6,
                 repeats: int = 2) -> None:
        super().__init__()
        self.sample_rate = check_positive_int("sample_rate", sample_rate)
        self.num_sources = check_positive_int("num_sources", num_sources, minimum=2)
        self.kernel_size = check_positive_int("kernel_size", kernel_size, minimum=2)
        self.stride = self.kernel_size // 2
        self.blocks = check_positive_int("blocks", blocks)
        self.repeats = check_positive_int("repeats", repeats)
        n = check_positive_int("enc_channels", enc_channels)
        b = check_positive_int("bottleneck", bottleneck)
        h = check_positive_int("hidden", hidden)
        self.encoder = nn.Conv1d(1, n, self.kernel_size, stride=self.stride, bias=False)
        self.norm = nn.GroupNorm(1, n)
        self.bottleneck = nn.Conv1d(n, b, 1)
        self.tcn = nn.Sequential(*[_TCNBlock(b, h, 3, 2**i) for _ in range(self.repeats) for i in range(self.blocks)])
        self.mask = nn.Sequential(nn.PReLU(), nn.Conv1d(b, self.num_sources * n, 1))
        self.decoder = nn.ConvTranspose1d(n, 1, self.kernel_size, stride=self.stride, bias=False)

    @property
    def receptive_field(self) -> int:
        """Samples one output sample depends on: encoder frames × the TCN's dilated span."""
        frames = 1 + self.repeats * 2 * (2**self.blocks - 1)
        return self.kernel_size + (frames - 1) * self.stride

    @property
    def min_samples(self) -> int:
        return self.kernel_size

    def separate(self, mixture: torch.Tensor) -> torch.Tensor:
        """Sources (B, S, T) of mixtures (B, T) (or (S, T) of one (T,))."""
        one = mixture.ndim == 1
        x = mixture.unsqueeze(0) if one else mixture
        if x.shape[-1] < self.min_samples:
            raise ParameterError(f"the mixture has {x.shape[-1]} samples: conv_tasnet needs at least "
                                 f"{self.min_samples} (one encoder frame); give longer audio")
        length = x.shape[-1]
        pad = (-(length - self.kernel_size)) % self.stride
        w = F.relu(self.encoder(F.pad(x, (0, pad)).unsqueeze(1)))  # (B, N, frames)
        masks = torch.sigmoid(self.mask(self.tcn(self.bottleneck(self.norm(w)))))
        masks = masks.view(x.shape[0], self.num_sources, w.shape[1], w.shape[2])
        y = self.decoder((masks * w.unsqueeze(1)).flatten(0, 1)).view(x.shape[0], self.num_sources, -1)
        y = y[..., :length]
        return y[0] if one else y

    def forward(self, batch: Mapping[str, Any]) -> EnhancementOutput:
        mixture = batch["mixture"]
        if self.training and mixture.shape[-1] < self.receptive_field:
            # training on segments shorter than what one output sample sees teaches the TCN zero padding
            raise ParameterError(
                f"training mixtures have {mixture.shape[-1]} samples, shorter than conv_tasnet's receptive field of "
                f"{self.receptive_field} samples ({self.receptive_field / self.sample_rate:.3f} s at {self.sample_rate} Hz): "
                f"raise data.segment_s to at least {self.receptive_field / self.sample_rate:.3f}, or use fewer blocks")
        return separation_output(self.separate(mixture), batch)
