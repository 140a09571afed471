"""Tiny experiment configs for the engine's tests (seconds on a 2-core CPU)."""

from __future__ import annotations

import copy
from typing import Any

TINY_AUDIO = {"name": "audio_cnn", "channels": [4, 8], "dim": 16, "n_fft": 256, "hop_length": 128, "n_mels": 16}
TINY_IMAGE = {"name": "image_cnn", "channels": [4, 8], "dim": 16}
TINY_DATA = {"name": "synthetic", "num_samples": 96, "sample_rate": 8000, "task": "both"}


def tiny_fusion(**train: Any) -> dict[str, Any]:
    """Early fusion of a tiny audio CNN and image CNN on 96 synthetic samples."""
    return {
        "name": "tiny-early",
        "data": dict(TINY_DATA),
        "model": {"name": "early_fusion", "num_classes": 2,
                  "encoders": {"audio": dict(TINY_AUDIO), "image": dict(TINY_IMAGE)}},
        "optim": {"lr": 0.003},
        "train": {"epochs": 2, "batch_size": 16, "seed": 0, "log_every_steps": 1, **train},
    }


def tiny_clip(**train: Any) -> dict[str, Any]:
    """Audio-text CLIP without BatchNorm or dropout (so several processes can equal one)."""
    return {
        "name": "tiny-clip",
        "data": dict(TINY_DATA),
        "model": {"name": "clip", "embed_dim": 16,
                  "audio": {"name": "audio_spectrogram_transformer", "n_fft": 256, "hop_length": 128, "n_mels": 16,
                            "patch_size": 8, "dim": 16, "depth": 1, "heads": 2},
                  "text": {"name": "text_transformer", "vocab_size": 300, "dim": 16, "depth": 1, "heads": 2,
                           "dropout": 0.0}},
        "optim": {"lr": 0.003},
        "train": {"epochs": 1, "batch_size": 16, "seed": 0, "log_every_steps": 1, **train},
    }


def with_(config: dict[str, Any], **sections: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(config)
    for section, values in sections.items():
        out.setdefault(section, {}).update(values)
    return out
