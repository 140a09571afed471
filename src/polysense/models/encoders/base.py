"""What every encoder returns, whatever its modality."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from polysense.errors import ParameterError
from polysense.models.registry import build


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


def build_encoder(modality: str, spec: Mapping[str, Any] | nn.Module) -> nn.Module:
    """An encoder for ``modality`` from a config dict (``{"name": "audio_cnn", ...}``) or a ready module.

    Every model that composes encoders builds them here, so every one checks the same contract:
    the encoder must expose a positive integer ``dim`` (the width of its pooled output).
    """
    if isinstance(spec, nn.Module):
        encoder = spec
    elif isinstance(spec, Mapping):
        encoder = build("encoder", dict(spec))
    else:
        raise ParameterError(
            f"{modality}={spec!r} is invalid: expected an encoder config dict such as "
            "{'name': 'audio_cnn', ...} or an nn.Module"
        )
    dim = getattr(encoder, "dim", None)
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ParameterError(
            f"the {modality} encoder {type(encoder).__name__} has no positive integer attribute 'dim' "
            f"(the width of its pooled output), got {dim!r}"
        )
    return encoder


def encoder_tokenizer(encoder: nn.Module) -> Any:
    """The tokenizer a text encoder exposes as ``tokenizer`` (None when it has none)."""
    return getattr(encoder, "tokenizer", None)
