"""The power spectrogram of a graph being traced for export: one strided convolution.

Private to :func:`polysense.signal.stft.apply_plan`. While ``torch.compiler.is_compiling()`` (an
ONNX export), the plain pad → unfold → window → rfft path becomes a gather, a multiply and a DFT
node; onnxruntime spends most of a small model's time in those (RESULTS.md, "Your own sounds").
Here the window and the real DFT are folded into one kernel,

    K[k]     = w[n] · cos(2π k n / N),   K[bins + k] = −w[n] · sin(2π k n / N),   n < len(w),

so ``conv1d(pad(x), K, stride=H)`` gives Re X and Im X of every frame at once, and
|X|² = Re² + Im², the same numbers as the plain path up to float summation order.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["power_spectra"]


def power_spectra(padded: torch.Tensor, window: torch.Tensor, *, n_fft: int, hop_length: int, n_frames: int,
                  power: float) -> torch.Tensor:
    """|X|^power (B, bins, frames) of the padded signals ``padded`` (B, T) framed by ``window``."""
    length = window.shape[-1]
    bins = n_fft // 2 + 1
    n = torch.arange(length, dtype=torch.float64)
    k = torch.arange(bins, dtype=torch.float64)
    angle = 2.0 * math.pi * torch.outer(k, n) / n_fft  # float64: the kernel is exact to the dtype's precision
    w = window.to(torch.float64)
    kernel = torch.cat([torch.cos(angle) * w, -torch.sin(angle) * w]).to(padded.dtype)  # (2·bins, length)
    parts = F.conv1d(padded[:, None, :], kernel[:, None, :], stride=hop_length)[..., :n_frames]
    out = parts[:, :bins] ** 2 + parts[:, bins:] ** 2
    return out if power == 2.0 else out ** (power / 2.0)
