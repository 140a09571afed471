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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from torch.utils.data import Dataset

from polysense.data.collate import collate as default_collate
from polysense.errors import ParameterError
from polysense.registry import DATASETS

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

    def has(self, name: str) -> bool:
        """Whether split ``name`` ("train", "val" or "test") holds any item."""
        if name not in ("train", "val", "test"):
            raise ParameterError(f"split={name!r} is invalid: choose train, val or test")
        dataset = getattr(self, name)
        return dataset is not None and len(dataset) > 0

    def split(self, name: str) -> Dataset:
        """The dataset of split ``name`` ("train", "val" or "test"); a clear error when absent."""
        if not self.has(name):
            raise ParameterError(
                f"the {name} split is empty: give the data config a {name} split "
                "(held-out speakers, a 'split' column in the manifest, or split fractions)"
            )
        return getattr(self, name)


# The built-in datasets are declared in polysense.builtins and imported on their first lookup.
_BUILDERS = DATASETS


def register_dataset(name: str) -> Callable[[Callable[..., DataSplits]], Callable[..., DataSplits]]:
    """Decorator: register ``builder(*, seed, **options) -> DataSplits`` under ``name``."""
    return _BUILDERS.register(name)


def unregister_dataset(name: str) -> None:
    """Remove the dataset registered as ``name`` (a plugin's or a test's own, so the shared
    registry holds only what was there before); an unknown name is a ParameterError."""
    _BUILDERS.unregister(name)


def available_datasets() -> list[str]:
    """Names of the registered datasets, sorted."""
    return _BUILDERS.available()


def dataset_builder(name: str) -> Callable[..., DataSplits]:
    """The builder registered under ``name`` (a clear error naming the choices otherwise)."""
    return _BUILDERS.get(name)


def check_data_config(config: Mapping[str, Any]) -> tuple[Callable[..., DataSplits], dict[str, Any]]:
    """``(builder, options)`` for a data config, its name and option names checked against the
    registered builder's signature (nothing is built); a clear ParameterError otherwise."""
    if not isinstance(config, Mapping) or "name" not in config:
        raise ParameterError(
            f"a data config must be a mapping with a 'name' key, got {config!r}; "
            f"available datasets: {', '.join(available_datasets())}"
        )
    options = copy.deepcopy(dict(config))
    name = options.pop("name")
    builder = dataset_builder(name)
    unknown, accepted = _BUILDERS.unknown_keys(name, options)
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
