"""Tiny experiment configs for the engine's tests (seconds on a 2-core CPU)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parents[2]

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


KILLER = textwrap.dedent("""
    import os, signal, sys
    import torch
    torch.set_num_threads(1)
    from polysense.train import checkpoint, trainer
    from polysense.train.config import load_config
    original = checkpoint.save_checkpoint
    def save_then_die(folder, **kwargs):
        path = original(folder, **kwargs)
        if kwargs["state"]["step"] == int(sys.argv[3]):
            os.kill(os.getpid(), signal.SIGKILL)  # a real SIGKILL, in the middle of an epoch
        return path
    trainer.ckpt.save_checkpoint = save_then_die
    trainer.train(load_config(sys.argv[1]), sys.argv[2], quiet=True)
""")


def train_until_sigkill(config: dict[str, Any], run_dir: Path, *, step: int) -> subprocess.CompletedProcess:
    """Train ``config`` into ``run_dir`` in a child process that SIGKILLs itself right after
    writing the checkpoint of ``step`` (the config is written beside the run as YAML)."""
    path = run_dir.parent / f"{run_dir.name}.yaml"
    path.write_text(yaml.safe_dump(config))
    script = run_dir.parent / "killer.py"
    script.write_text(KILLER)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, str(script), str(path), str(run_dir), str(step)],
                          env=env, capture_output=True, text=True, timeout=600)


def assert_same_run(resumed: Path, whole: Path, *, steps: int) -> None:
    """Two run folders hold the same run: bit-identical final weights (the last checkpoint's)
    and best weights, and the same best epoch, value and step count."""
    for name in ("final", "best"):
        a, b = (load_file(str(_weights(run, name))) for run in (resumed, whole))
        assert a.keys() == b.keys()
        differing = sorted(k for k in a if not torch.equal(a[k], b[k]))
        assert not differing, f"resumed {name} weights differ from the uninterrupted run in {differing[:5]}"
    ra, rb = (json.loads((run / "result.json").read_text()) for run in (resumed, whole))
    assert (ra["best_value"], ra["best_epoch"], ra["steps"]) == (rb["best_value"], rb["best_epoch"], steps)


def _weights(run: Path, name: str) -> Path:
    if name == "best":
        return run / "model.safetensors"
    pointer = json.loads((run / "checkpoints" / "latest.json").read_text())
    return run / "checkpoints" / pointer["checkpoint"] / "model.safetensors"
