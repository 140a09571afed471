"""A run folder, and loading a trained model back from it.

Layout of ``RUN_DIR`` (written by :func:`polysense.train.trainer.train`):

===========================  =================================================================
``config.yaml``              the resolved experiment config (tokenizer path relative to the run)
``run.json``                 what the data told the model: sample rate, class names, processes
``model.safetensors``        the best weights (chosen on the validation split)
``tokenizer.json``           the tokenizer trained on the training text, when the model needs one
``checkpoints/``             resumable checkpoints (``latest.json`` points to the newest)
``metrics.jsonl``            one JSON object per logged step and per evaluation
``result.json``              best metric and epoch, steps, training time
``evaluation-<split>.json``  what ``polysense evaluate`` measured
``report.md`` + ``figures/`` the report
===========================  =================================================================
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from polysense.errors import ParameterError

__all__ = ["LoadedRun", "load_run", "model_identity", "resolve_model_paths", "walk_parts"]

CONFIG = "config.yaml"
WEIGHTS = "model.safetensors"
TOKENIZER = "tokenizer.json"
RUN_INFO = "run.json"


def walk_parts(config: Any) -> Iterator[dict[str, Any]]:
    """Every nested part config (a dict with a ``name``) of a model config, the root included."""
    if isinstance(config, dict):
        if "name" in config:
            yield config
        for value in config.values():
            yield from walk_parts(value)
    elif isinstance(config, list):
        for value in config:
            yield from walk_parts(value)


def resolve_model_paths(model_config: dict[str, Any], run_dir: str | os.PathLike) -> dict[str, Any]:
    """A copy of ``model_config`` whose relative ``tokenizer`` paths point into ``run_dir``."""
    resolved = copy.deepcopy(model_config)
    for part in walk_parts(resolved):
        path = part.get("tokenizer")
        if isinstance(path, str) and not os.path.isabs(path):
            part["tokenizer"] = str(Path(run_dir) / path)
    return resolved


def model_identity(run_dir: str | os.PathLike) -> str:
    """sha256 of the weights file and the canonical model config: what an index records."""
    run_dir = Path(run_dir)
    digest = hashlib.sha256()
    with open(run_dir / WEIGHTS, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    config = yaml.safe_load((run_dir / CONFIG).read_text(encoding="utf-8"))
    digest.update(json.dumps(config.get("model"), sort_keys=True).encode())
    return digest.hexdigest()


@dataclass
class LoadedRun:
    """A trained model and what it needs to be used."""

    run_dir: Path
    model: torch.nn.Module
    config: dict[str, Any]
    sample_rate: int | None
    tokenizer: Any
    classes: tuple[str, ...] | None

    @property
    def identity(self) -> str:
        return model_identity(self.run_dir)


def read_run_config(run_dir: str | os.PathLike) -> dict[str, Any]:
    run_dir = Path(run_dir)
    path = run_dir / CONFIG
    if not run_dir.is_dir():
        raise ParameterError(f"{run_dir}: run folder not found; pass the --out folder of `polysense train`")
    if not path.is_file():
        raise ParameterError(f"{run_dir}: not a run folder (no {CONFIG}); pass the --out folder of `polysense train`")
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as error:
        raise ParameterError(f"{path}: unreadable run config ({error})") from None
    if not isinstance(config, dict) or "model" not in config:
        raise ParameterError(f"{path}: not a polysense run config (no model section)")
    return config


def read_run_info(run_dir: str | os.PathLike) -> dict[str, Any]:
    """``run.json`` of a run folder ({} when absent or unreadable: it only adds information)."""
    try:
        info = json.loads((Path(run_dir) / RUN_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def load_run(run_dir: str | os.PathLike, *, map_location: str | torch.device = "cpu") -> LoadedRun:
    """Rebuild the model of a run folder and load its best weights (eval mode)."""
    from polysense.models.registry import build_model
    from polysense.train.checkpoint import load_weights

    run_dir = Path(run_dir)
    config = read_run_config(run_dir)
    model = build_model(resolve_model_paths(config["model"], run_dir))
    load_weights(run_dir / WEIGHTS, model)
    model.to(map_location).eval()
    meta = read_run_info(run_dir)
    tokenizer = model.tokenizer
    if tokenizer is None and (run_dir / TOKENIZER).is_file():
        from polysense.models.encoders.text import load_tokenizer

        tokenizer = load_tokenizer(run_dir / TOKENIZER)
    classes = meta.get("classes")
    return LoadedRun(run_dir=run_dir, model=model, config=config, sample_rate=meta.get("sample_rate"),
                     tokenizer=tokenizer, classes=tuple(classes) if classes else None)
