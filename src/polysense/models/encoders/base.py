"""What every encoder returns, whatever its modality."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class EncoderOutput:
    """The output of any encoder.

    Attributes:
        tokens: (batch, seq, dim) token sequence (frames, patches or words).
        mask: (batch, seq) bool, True where a token is real (False = padding).
        pooled: (batch, dim) one vector per item (CLS token or masked mean).
    """

    tokens: torch.Tensor
    mask: torch.Tensor
    pooled: torch.Tensor
