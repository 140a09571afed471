"""Datasets chosen by name, as the trainer's config names them.

A builder registers under a name and turns keyword options into a :class:`DataSplits`: the
train / val / test datasets (map-style, items are the data layer's sample dicts), the audio
sample rate they share, the class names and the collate function. ``build_data({"name":
"fsdd", ...}, seed=0)`` is how the trainer, the evaluator and the benchmarks get their data::

    @register_dataset("my_data")
    def my_data(*, seed: int, root: str) -> DataSplits: ...

Items carry raw ``text`` (strings); tokenisation is the model's business (the trainer's collate
calls the model's tokenizer), so one dataset serves every text encoder.
"""

from __future__ import annotations

import copy
import importlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from torch.utils.data import Dataset

from polysense.data.collate import collate as default_collate
from polysense.errors import ParameterError

__all__ = ["DataSplits", "available_datasets", "build_data", "check_data_config", "dataset_builder", "register_dataset",
           "unregister_dataset"]


@dataclass
class DataSplits:
    """The splits of one dataset and what a model needs to know about them.

    Attributes:
        train, val, test: map-style datasets (val/test may be None).
        sample_rate: the audio rate (Hz) of every item, or None when there is no audio.
        classes: class names (label ``k`` is ``classes[k]``), or None for unlabelled data.
        train_texts: the training split's texts (to train a tokenizer), or None.
        collate: turns a list of items into a batch dict.
        modalities: the modalities the items carry (``"audio"``, ``"image"``, ``"text"``, ...).
        description: one line for reports.
    """

    train: Dataset
    val: Dataset | None = None
    test: Dataset | None = None
    sample_rate: int | None = None
    classes: tuple[str, ...] | None = None
    train_texts: Sequence[str] | None = None
    collate: Callable[[list[Any]], dict[str, Any]] = default_collate
    modalities: tuple[str, ...] = ()
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def split(self, name: str) -> Dataset:
        """The dataset of split ``name`` ("train", "val" or "test"); a clear error when absent."""
        if name not in ("train", "val", "test"):
            raise ParameterError(f"split={name!r} is invalid: choose train, val or test")
        dataset = getattr(self, name)
        if dataset is None or len(dataset) == 0:
            raise ParameterError(
                f"the {name} split is empty: give the data config a {name} split "
                "(held-out speakers, a 'split' column in the manifest, or split fractions)"
            )
        return dataset


_BUILDERS: dict[str, Callable[..., DataSplits]] = {}
# modules whose import registers the built-in datasets (imported on first lookup)
_BUILTIN_MODULES: list[str] = ["polysense.data.builtin", "polysense.data.espeak", "polysense.enhance.mixtures",
                               "polysense.detect.scenes", "polysense.detect.speakers", "polysense.recognize.sequences",
                               "polysense.data.takes"]
_loaded = False


def register_dataset(name: str) -> Callable[[Callable[..., DataSplits]], Callable[..., DataSplits]]:
    """Decorator: register ``builder(*, seed, **options) -> DataSplits`` under ``name``."""

    def decorator(builder: Callable[..., DataSplits]) -> Callable[..., DataSplits]:
        existing = _BUILDERS.get(name)
        if existing is not None and existing is not builder:
            raise ParameterError(f"a dataset named {name!r} is already registered ({existing!r})")
        _BUILDERS[name] = builder
        return builder

    return decorator


def unregister_dataset(name: str) -> None:
    """Remove the dataset registered as ``name`` (a plugin's or a test's own, so the shared
    registry holds only what was there before); an unknown name is a ParameterError."""
    if name not in _BUILDERS:
        raise ParameterError(f"no dataset named {name!r} is registered: nothing to unregister")
    del _BUILDERS[name]


def _load_builtins() -> None:
    global _loaded
    if not _loaded:
        for module in _BUILTIN_MODULES:
            importlib.import_module(module)
        _loaded = True


def available_datasets() -> list[str]:
    """Names of the registered datasets, sorted."""
    _load_builtins()
    return sorted(_BUILDERS)


def dataset_builder(name: str) -> Callable[..., DataSplits]:
    """The builder registered under ``name`` (a clear error naming the choices otherwise)."""
    _load_builtins()
    builder = _BUILDERS.get(name)
    if builder is None:
        raise ParameterError(f"unknown dataset name={name!r}: choose one of {', '.join(available_datasets())}")
    return builder


def check_data_config(config: Mapping[str, Any]) -> tuple[Callable[..., DataSplits], dict[str, Any]]:
    """``(builder, options)`` for a data config, its name and option names checked against the
    registered builder's signature (nothing is built); a clear ParameterError otherwise."""
    if not isinstance(config, Mapping) or "name" not in config:
        raise ParameterError(
            f"a data config must be a mapping with a 'name' key, got {config!r}; "
            f"available datasets: {', '.join(available_datasets())}"
        )
    options = copy.deepcopy(dict(config))
    builder = dataset_builder(options.pop("name"))
    accepted = [p for p in inspect.signature(builder).parameters if p != "seed"]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ParameterError(
            f"unknown key(s) {unknown} for dataset {config['name']!r}: accepted keys are {', '.join(accepted)}"
        )
    return builder, options


def build_data(config: Mapping[str, Any], *, seed: int = 0) -> DataSplits:
    """Build the dataset named by ``config["name"]`` with the other keys as options.

    Unknown option names are refused before anything is built, naming the accepted ones.
    """
    builder, options = check_data_config(config)
    return builder(seed=seed, **options)
