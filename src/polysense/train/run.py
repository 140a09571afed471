"""A run folder, and loading a trained model back from it.

:class:`RunFolder` owns the folder: every file name in it and every read and atomic write of
them, so the trainer, the evaluator, the report, the comparison and the applications ask it
instead of spelling names. Layout of ``RUN_DIR`` (written by :func:`polysense.train.trainer.train`):

===========================  =================================================================
``config.yaml``              the resolved experiment config (tokenizer path relative to the run)
``run.json``                 what the data told the model: sample rate, class names, processes
``model.safetensors``        the best weights (chosen on the validation split)
``tokenizer.json``           the tokenizer trained on the training text, when the model needs one
``checkpoints/``             resumable checkpoints (``latest.json`` points to the newest)
``metrics.jsonl``            one JSON object per logged step and per evaluation
``tensorboard/``             the same, for TensorBoard (when installed)
``result.json``              best metric and epoch, steps, training time
``evaluation-<split>.json``  what ``polysense evaluate`` measured
``report.md`` + ``figures/`` the report
``lm.arpa``                  a CTC recogniser's n-gram language model (trained on first use)
===========================  =================================================================
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from polysense.data.registry import DataSplits, build_data
from polysense.errors import ParameterError
from polysense.files import atomic_write_text
from polysense.models.encoders.text import load_tokenizer
from polysense.models.registry import build_model
from polysense.train.checkpoint import load_weights

__all__ = ["LoadedRun", "RunFolder", "load_run", "model_identity", "resolve_model_paths", "run_data", "walk_parts"]


class RunFolder:
    """The files of one run folder (layout in the module docstring): their paths, and every read
    and atomic write of them. ``RunFolder(path)`` touches nothing on disk."""

    CONFIG = "config.yaml"
    INFO = "run.json"
    WEIGHTS = "model.safetensors"
    TOKENIZER = "tokenizer.json"
    CHECKPOINTS = "checkpoints"
    METRICS = "metrics.jsonl"
    TENSORBOARD = "tensorboard"
    RESULT = "result.json"
    REPORT = "report.md"
    FIGURES = "figures"
    LANGUAGE_MODEL = "lm.arpa"

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    # -- paths -------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.path / self.CONFIG

    @property
    def info_path(self) -> Path:
        return self.path / self.INFO

    @property
    def weights_path(self) -> Path:
        return self.path / self.WEIGHTS

    @property
    def tokenizer_path(self) -> Path:
        return self.path / self.TOKENIZER

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / self.CHECKPOINTS

    @property
    def metrics_path(self) -> Path:
        return self.path / self.METRICS

    @property
    def tensorboard_dir(self) -> Path:
        return self.path / self.TENSORBOARD

    @property
    def result_path(self) -> Path:
        return self.path / self.RESULT

    @property
    def report_path(self) -> Path:
        return self.path / self.REPORT

    @property
    def figures_dir(self) -> Path:
        return self.path / self.FIGURES

    @property
    def language_model_path(self) -> Path:
        return self.path / self.LANGUAGE_MODEL

    def evaluation_path(self, split: str) -> Path:
        return self.path / f"evaluation-{split}.json"

    # -- reads -------------------------------------------------------------------------------
    def read_config(self) -> dict[str, Any]:
        """``config.yaml``, checked to be a run's config (a clear error for a folder that is not a run)."""
        path = self.config_path
        if not self.path.is_dir():
            raise ParameterError(f"{self.path}: run folder not found; pass the --out folder of `polysense train`")
        if not path.is_file():
            raise ParameterError(f"{self.path}: not a run folder (no {self.CONFIG}); pass the --out folder of "
                                 "`polysense train`")
        try:
            config = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError, UnicodeDecodeError) as error:
            raise ParameterError(f"{path}: unreadable run config ({error})") from None
        if not isinstance(config, dict) or "model" not in config:
            raise ParameterError(f"{path}: not a polysense run config (no model section)")
        return config

    def read_info(self) -> dict[str, Any]:
        """``run.json`` ({} when absent or unreadable: it only adds information)."""
        return _read_json_or_empty(self.info_path)

    def read_result(self) -> dict[str, Any]:
        """``result.json`` ({} when absent or unreadable: the run has not finished)."""
        return _read_json_or_empty(self.result_path)

    def finished(self) -> bool:
        """Whether training finished here (``result.json`` is written last)."""
        return self.result_path.is_file()

    def read_evaluation(self, split: str) -> dict[str, Any]:
        """``evaluation-<split>.json`` as :meth:`write_evaluation` wrote it."""
        return json.loads(self.evaluation_path(split).read_text(encoding="utf-8"))

    def read_metrics(self) -> list[dict[str, Any]]:
        """The rows of ``metrics.jsonl`` (unreadable lines left out; [] when absent)."""
        if not self.metrics_path.is_file():
            return []
        rows = []
        for line in self.metrics_path.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue
        return rows

    def tokenizer_for(self, model: torch.nn.Module) -> Any:
        """The model's own tokenizer, else the run's ``tokenizer.json`` (None when neither)."""
        tokenizer = model.tokenizer
        if tokenizer is None and self.tokenizer_path.is_file():
            tokenizer = load_tokenizer(self.tokenizer_path)
        return tokenizer

    def build_data(self) -> DataSplits:
        """The data this run was trained on (see :func:`run_data`)."""
        return run_data(self.read_config())

    # -- atomic writes -----------------------------------------------------------------------
    def write_config(self, config: Mapping[str, Any]) -> Path:
        return atomic_write_text(self.config_path, yaml.safe_dump(dict(config), sort_keys=False))

    def write_info(self, info: Mapping[str, Any]) -> Path:
        return atomic_write_text(self.info_path, json.dumps(dict(info), indent=2))

    def write_result(self, result: Mapping[str, Any]) -> Path:
        return atomic_write_text(self.result_path, json.dumps(dict(result), indent=2))

    def write_evaluation(self, split: str, result: Mapping[str, Any]) -> Path:
        return atomic_write_text(self.evaluation_path(split), json.dumps(dict(result), indent=2))

    def write_report(self, text: str) -> Path:
        return atomic_write_text(self.report_path, text)


def _read_json_or_empty(path: Path) -> dict[str, Any]:
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def run_data(config: Mapping[str, Any]) -> DataSplits:
    """The data of a run's ``config``, built as its trainer built it: the same data config and seed."""
    return build_data(config["data"], seed=int((config.get("train") or {}).get("seed", 0)))


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
    digest = hashlib.sha256()
    folder = RunFolder(run_dir)
    with open(folder.weights_path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    config = yaml.safe_load(folder.config_path.read_text(encoding="utf-8"))
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
    """``config.yaml`` of a run folder (see :meth:`RunFolder.read_config`)."""
    return RunFolder(run_dir).read_config()


def read_run_info(run_dir: str | os.PathLike) -> dict[str, Any]:
    """``run.json`` of a run folder ({} when absent or unreadable: it only adds information)."""
    return RunFolder(run_dir).read_info()


def load_run(run_dir: str | os.PathLike, *, map_location: str | torch.device = "cpu") -> LoadedRun:
    """Rebuild the model of a run folder and load its best weights (eval mode)."""
    folder = RunFolder(run_dir)
    run_dir = folder.path
    config = folder.read_config()
    model = build_model(resolve_model_paths(config["model"], run_dir))
    load_weights(folder.weights_path, model)
    model.to(map_location).eval()
    meta = folder.read_info()
    tokenizer = folder.tokenizer_for(model)
    classes = meta.get("classes")
    return LoadedRun(run_dir=run_dir, model=model, config=config, sample_rate=meta.get("sample_rate"),
                     tokenizer=tokenizer, classes=tuple(classes) if classes else None)
