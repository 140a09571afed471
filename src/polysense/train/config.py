"""Experiment configs: one YAML file says what to train on what, how, and where it goes.

A config has the sections ``data`` (a dataset by name, see :mod:`polysense.data.registry`),
``model`` (a model by name, see :mod:`polysense.models.registry`), ``augment``, ``optim``,
``schedule``, ``train`` and ``evaluate``. Everything is validated on load: an unknown key or a
bad value is a :class:`ConfigError` naming the key, the value and what is allowed, before any
data is read or any weight allocated.

Named configs ship with the package (``polysense config list``); a file may start from one with
``base: NAME`` and override keys, and the command line overrides with ``--set key=value``::

    base: fsdd-digits
    train: {epochs: 5}
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from polysense.data.registry import check_data_config
from polysense.errors import ParameterError
from polysense.registry import MODEL_PARTS

__all__ = [
    "AugmentConfig",
    "ConfigError",
    "EvaluateConfig",
    "ExperimentConfig",
    "OptimConfig",
    "ScheduleConfig",
    "TrainConfig",
    "WaveformAugment",
    "apply_overrides",
    "config_names",
    "load_config",
    "named_config_text",
]


class ConfigError(ParameterError):
    """An experiment config has an unknown key or a bad value (the message names both)."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OptimConfig(_Section):
    """AdamW. Weight decay applies to matrices (ndim >= 2) only, never to biases and norms."""

    lr: float = Field(1e-3, gt=0, le=10)
    weight_decay: float = Field(0.01, ge=0)
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = Field(1e-8, gt=0)
    clip_grad_norm: float | None = Field(1.0, gt=0)
    accumulate_steps: int = Field(1, ge=1, le=1024)

    @field_validator("betas")
    @classmethod
    def _betas(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not all(0 <= b < 1 for b in value):
            raise ValueError("each beta must be in [0, 1)")
        return value


class ScheduleConfig(_Section):
    """Learning rate: linear warm-up over ``warmup_fraction`` of the steps, then cosine to
    ``min_lr_ratio · lr`` (``name: constant`` keeps ``lr`` after the warm-up)."""

    name: Literal["cosine", "constant"] = "cosine"
    warmup_fraction: float = Field(0.05, ge=0, lt=1)
    min_lr_ratio: float = Field(0.0, ge=0, le=1)


class TrainConfig(_Section):
    """The loop: epochs, batches, seed, precision, selection of the best epoch."""

    epochs: int = Field(10, ge=1, le=100_000)
    batch_size: int = Field(32, ge=1, le=65_536)
    eval_batch_size: int | None = Field(None, ge=1, le=65_536)
    seed: int = Field(0, ge=0, le=2**31 - 1)
    precision: Literal["fp32", "bf16"] = "fp32"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    num_workers: int = Field(0, ge=0, le=64)
    #: validation metric that picks the best epoch and drives early stopping ("val/<metric>");
    #: None: accuracy for classifiers, else the validation loss
    select_metric: str | None = None
    select_mode: Literal["max", "min"] | None = None
    #: stop after this many evaluations without improvement (None: never)
    patience: int | None = Field(None, ge=1)
    #: write a resumable checkpoint every N optimiser steps (besides each epoch's end)
    checkpoint_every_steps: int | None = Field(None, ge=1)
    log_every_steps: int = Field(10, ge=1)
    #: stop after this many optimiser steps in all (for smoke tests), None: run every epoch
    max_steps: int | None = Field(None, ge=1)
    #: DistributedDataParallel's flag for models that leave parameters unused in a step
    #: (e.g. a missing modality); off by default since it costs a graph traversal per step
    ddp_find_unused_parameters: bool = False
    #: batches per epoch at most (for smoke tests), None: the whole split
    max_batches_per_epoch: int | None = Field(None, ge=1)


class WaveformAugment(_Section):
    """One waveform augmentation applied to training batches with probability ``p`` per batch."""

    name: Literal["add_noise", "gain", "time_shift", "mixup"]
    p: float = Field(1.0, ge=0, le=1)
    #: add_noise: SNR drawn uniformly in [snr_db_min, snr_db_max] per example
    snr_db_min: float = 10.0
    snr_db_max: float = 30.0
    #: gain: dB drawn uniformly in [min_gain_db, max_gain_db]
    min_gain_db: float = -6.0
    max_gain_db: float = 6.0
    #: time_shift: at most this fraction of each example's length
    max_shift_fraction: float = Field(0.1, ge=0, le=1)
    #: mixup: Beta(alpha, alpha)
    alpha: float = Field(0.2, gt=0)

    @model_validator(mode="after")
    def _ranges(self) -> WaveformAugment:
        if self.snr_db_min > self.snr_db_max:
            raise ValueError(f"snr_db_min={self.snr_db_min} > snr_db_max={self.snr_db_max}")
        if self.min_gain_db > self.max_gain_db:
            raise ValueError(f"min_gain_db={self.min_gain_db} > max_gain_db={self.max_gain_db}")
        return self


class AugmentConfig(_Section):
    """Waveform augmentations on the batch (training only). Feature augmentations (SpecAugment,
    VTLP) belong to the audio encoder and are set in its model config."""

    waveform: tuple[WaveformAugment, ...] = ()


class EvaluateConfig(_Section):
    """What the evaluation reports besides the model's own metrics."""

    #: classification metrics per group (speaker, site)
    per_group: bool = True
    #: retrieval metrics both ways for embedding models
    retrieval: bool = True
    #: zero-shot classification from class names (models with a text tower)
    zero_shot: bool = True
    #: each metric with each modality removed (multimodal classifiers)
    robustness: bool = True
    #: prompt templates for zero-shot (None: the modality's defaults)
    templates: tuple[str, ...] | None = None


class ExperimentConfig(_Section):
    """A whole experiment (see the module docstring)."""

    name: str = "experiment"
    description: str = ""
    data: dict[str, Any]
    model: dict[str, Any]
    augment: AugmentConfig = AugmentConfig()
    optim: OptimConfig = OptimConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    train: TrainConfig = TrainConfig()
    evaluate: EvaluateConfig = EvaluateConfig()

    @field_validator("data", "model")
    @classmethod
    def _named(cls, value: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(value.get("name"), str):
            raise ValueError("needs a 'name' key naming a registered part")
        return value

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML-able dict (tuples as lists), the form written to a run folder."""
        return self.model_dump(mode="json")


# ----------------------------------------------------------------------------- loading


def _configs_dir() -> Any:
    return resources.files("polysense") / "configs"


def config_names() -> list[str]:
    """Names of the configs shipped with polysense, sorted."""
    return sorted(p.name[: -len(".yaml")] for p in _configs_dir().iterdir() if p.name.endswith(".yaml"))


def named_config_text(name: str) -> str:
    """The YAML text of the shipped config ``name``."""
    path = _configs_dir() / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"no built-in config named {name!r}: choose one of {', '.join(config_names())} "
                          "(`polysense config list`), or give the path of a YAML file")
    return path.read_text(encoding="utf-8")


def _parse_yaml(text: str, source: str) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: not valid YAML ({error}); fix the syntax") from None
    if loaded is None:
        loaded = {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{source}: a config must be a mapping of sections (data, model, train, ...), "
                          f"got a {type(loaded).__name__}")
    return loaded


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge: mappings merge key by key, anything else replaces. A ``name`` change in a
    mapping (another dataset or model) replaces the whole mapping, since options differ."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        old = merged.get(key)
        if (isinstance(old, dict) and isinstance(value, Mapping)
                and not ("name" in value and value.get("name") != old.get("name"))):
            merged[key] = _merge(old, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _raw(source: str | Path | Mapping[str, Any], seen: tuple[str, ...] = ()) -> dict[str, Any]:
    if isinstance(source, Mapping):
        raw, label = dict(copy.deepcopy(source)), "config"
    else:
        path = Path(source)
        if path.suffix in (".yaml", ".yml", ".json") or path.exists():
            if not path.is_file():
                raise ConfigError(f"{path}: config file not found; give a YAML file or a built-in name "
                                  f"({', '.join(config_names())})")
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise ConfigError(f"{path}: cannot read the config ({error})") from None
            raw, label = _parse_yaml(text, str(path)), str(path)
        else:
            raw, label = _parse_yaml(named_config_text(str(source)), f"built-in config {source!r}"), str(source)
    base = raw.pop("base", None)
    if base is not None:
        if not isinstance(base, str):
            raise ConfigError(f"{label}: base={base!r} must be the name of a built-in config or a YAML path")
        if base in seen:
            raise ConfigError(f"{label}: base configs form a cycle: {' -> '.join((*seen, base))}")
        raw = _merge(_raw(base, (*seen, label)), raw)
        raw.setdefault("name", label)
    return raw


def apply_overrides(raw: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``key.path=value`` overrides (the value parsed as YAML: ``3``, ``1e-3``, ``[a, b]``)."""
    raw = copy.deepcopy(raw)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r} is invalid: expected KEY=VALUE, e.g. train.epochs=3")
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            value = text
        parts = key.strip().split(".")
        node = raw
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ConfigError(f"--set {item!r}: {'.'.join(parts[:depth + 1])} is {child!r}, not a section")
            node = child
        if parts[-1] == "name" and isinstance(node, dict) and node.get("name") not in (None, value):
            node.clear()  # another part by name: its old options no longer apply
        node[parts[-1]] = value
    return raw


def _describe(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        where = ".".join(str(p) for p in problem["loc"]) or "config"
        value = problem.get("input")
        if problem["type"] == "extra_forbidden":
            lines.append(f"{where}: unknown key (value {value!r}); remove it or check its spelling")
        elif problem["type"] == "missing":
            lines.append(f"{where}: missing; this section or key is required")
        else:
            lines.append(f"{where}={value!r} is invalid: {problem['msg']}")
    return "; ".join(lines)


def load_config(source: str | Path | Mapping[str, Any], overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Load, merge (``base:``), override (``key=value``) and validate an experiment config.

    Args:
        source: a YAML path, the name of a built-in config, or a dict.
        overrides: ``"section.key=value"`` strings applied last.

    Raises:
        ConfigError: naming every bad key and value, and what is allowed.
    """
    raw = apply_overrides(_raw(source), overrides)
    try:
        config = ExperimentConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(f"config {source if not isinstance(source, Mapping) else ''}: {_describe(error)}") from None
    check_parts(config)
    return config


# ------------------------------------------------------------------- part signatures


def _check_keys(where: str, kind: str, options: Mapping[str, Any]) -> None:
    unknown, accepted = MODEL_PARTS[kind].unknown_keys(options["name"], options)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown} for {options.get('name')!r}; "
                          f"accepted keys: {', '.join(accepted)}")


#: Keys of a model config that hold nested part configs, and the part kind each holds.
_NESTED = {"audio": "encoder", "image": "encoder", "text": "encoder", "fusion": "fusion", "head": "head",
           "encoder": "encoder"}


def _check_model(where: str, kind: str, config: Mapping[str, Any]) -> None:
    name = config.get("name")
    if name not in MODEL_PARTS[kind]:
        raise ConfigError(f"{where}.name={name!r} is not a registered {kind}: choose one of "
                          f"{', '.join(MODEL_PARTS[kind].available())}")
    _check_keys(where, kind, config)
    for key, value in config.items():
        if key == "encoders" and isinstance(value, Mapping):
            for modality, sub in value.items():
                if isinstance(sub, Mapping) and "name" in sub:
                    _check_model(f"{where}.encoders.{modality}", "encoder", sub)
        elif key in _NESTED and isinstance(value, Mapping) and "name" in value:
            _check_model(f"{where}.{key}", _NESTED[key], value)


def check_parts(config: ExperimentConfig) -> None:
    """Check the data and model configs' keys against their builders' signatures (no building)."""
    try:
        check_data_config(config.data)
    except ParameterError as error:
        raise ConfigError(f"data: {error}") from None
    _check_model("model", "model", config.model)
