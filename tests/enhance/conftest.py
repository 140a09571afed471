"""Shared helpers of the enhancement tests: a speech-like signal with noise, and run folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from polysense.data.examples import vowel as example_vowel

SR = 8000


def vowel(duration_s: float = 0.5, *, f0: float = 120.0, pad_s: float = 0.1) -> torch.Tensor:
    """A speech-like vowel (float64) with silence on both sides (so noise estimators see pauses)."""
    v = example_vowel(SR, duration_s, f0_start=f0, f0_end=f0 * 1.2)
    pad = torch.zeros(int(pad_s * SR), dtype=torch.float64)
    return torch.cat([pad, v, pad])


def noisy_batch(batch: int = 4, *, snr_db: float = 0.0, seed: int = 0) -> dict:
    """A tiny denoising batch: vowels of different pitch + white noise at ``snr_db``."""
    rng = np.random.default_rng(seed)
    clean = torch.stack([vowel(0.3, f0=100.0 + 30 * i, pad_s=0.05) for i in range(batch)]).float()
    noise = torch.from_numpy(rng.standard_normal(clean.shape)).float()
    p_s = clean.square().mean(-1, keepdim=True)
    noise = noise * torch.sqrt(p_s / (noise.square().mean(-1, keepdim=True) * 10 ** (snr_db / 10)))
    return {"noisy": clean + noise, "clean": clean, "target": clean, "sample_rate": SR}


def make_run(folder: Path, model_config: dict, model: torch.nn.Module | None = None) -> Path:
    """A run folder as `polysense train` writes it (config.yaml, model.safetensors, run.json)."""
    from polysense.models.registry import build_model
    from polysense.train.checkpoint import save_weights

    folder.mkdir(parents=True, exist_ok=True)
    model = model if model is not None else build_model(dict(model_config))
    (folder / "config.yaml").write_text(yaml.safe_dump({"name": "test", "data": {"name": "fsdd_mixtures"},
                                                       "model": model_config}))
    save_weights(folder / "model.safetensors", model)
    (folder / "run.json").write_text(json.dumps({"sample_rate": SR, "classes": None}))
    return folder


@pytest.fixture
def unet_run(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    return make_run(tmp_path / "unet", {"name": "mask_unet", "channels": [4, 8]})
