"""The built-in datasets, registered by name for configs: ``synthetic``, ``fsdd``, ``av_digits``,
``manifest``.

Each builder returns a :class:`~polysense.data.registry.DataSplits` with train / val / test
splits that never share a group (site, speaker) and the audio sample rate of the items.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from polysense.data.av_digits import AVDigits
from polysense.data.cache import FeatureCache
from polysense.data.dataset import ManifestDataset
from polysense.data.fsdd import DIGIT_WORDS, fsdd_manifest
from polysense.data.generated import read_generated_manifest
from polysense.data.manifest import Manifest, read_manifest
from polysense.data.registry import DataSplits, register_dataset
from polysense.data.synthetic import SyntheticTriModal, caption, sample_attributes
from polysense.errors import ParameterError

__all__ = ["append_train_rows", "default_fsdd_folder", "fsdd_splits", "manifest_splits", "synthetic_splits",
           "with_generated_train_rows"]


def default_fsdd_folder() -> Path:
    """The FSDD recordings folder: ``$POLYSENSE_FSDD``, else ``../shared/data/fsdd/recordings``
    beside the current directory."""
    given = os.environ.get("POLYSENSE_FSDD")
    return Path(given) if given else Path("..") / "shared" / "data" / "fsdd" / "recordings"


def _folder(fsdd_folder: str | None) -> Path:
    folder = Path(fsdd_folder) if fsdd_folder else default_fsdd_folder()
    if not folder.is_dir():
        raise ParameterError(
            f"FSDD recordings folder {str(folder)!r} not found: set data.fsdd_folder in the config, "
            "or the POLYSENSE_FSDD environment variable, to the folder of {digit}_{speaker}_{index}.wav files"
        )
    return folder


class InMemory(torch.utils.data.Dataset):
    """A dataset whose items are computed once, on first access, and kept (synthesis is the
    expensive part of the synthetic data; a few hundred MB hold thousands of clips)."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset
        self.items: list[Any] = [None] * len(dataset)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Any:
        if self.items[index] is None:
            self.items[index] = self.dataset[index]
        return self.items[index]

    def __getattr__(self, name: str) -> Any:
        if name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)


@register_dataset("synthetic")
def synthetic_splits(
    *,
    seed: int,
    num_samples: int = 2000,
    task: str = "both",
    sample_rate: int = 16000,
    clip_duration_s: float = 1.0,
    image_size: int = 32,
    snr_db: float | None = 30.0,
    num_groups: int = 8,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    in_memory: bool = True,
) -> DataSplits:
    """The synthetic tri-modal data (no files): splits by site, stratified by label; each item
    is synthesised once and kept in memory unless ``in_memory`` is false."""
    full = SyntheticTriModal(num_samples, sample_rate=sample_rate, clip_duration_s=clip_duration_s,
                             image_size=image_size, snr_db=snr_db, num_groups=num_groups, seed=seed, task=task)
    parts = full.split_indices(fractions=tuple(fractions), seed=seed)

    def subset(name: str) -> SyntheticTriModal | None:
        if name not in parts:
            return None
        part = SyntheticTriModal(num_samples, sample_rate=sample_rate, clip_duration_s=clip_duration_s,
                                 image_size=image_size, snr_db=snr_db, num_groups=num_groups, seed=seed, task=task,
                                 indices=[full.indices[i] for i in parts[name]])
        return InMemory(part) if in_memory else part

    train = subset("train")
    texts = [caption(sample_attributes(full.config, i)) for i in train.indices]
    return DataSplits(train=train, val=subset("val"), test=subset("test"), sample_rate=int(sample_rate),
                      classes=tuple(full.classes), train_texts=texts, modalities=("audio", "image", "text"),
                      description=f"synthetic tri-modal, task {task!r}, {num_samples} samples, {sample_rate} Hz")


@register_dataset("fsdd")
def fsdd_splits(
    *,
    seed: int,
    fsdd_folder: str | None = None,
    manifest: str | None = None,
    test_speakers: Sequence[str] | str = ("theo",),
    val_speakers: Sequence[str] | str = ("jackson",),
    sample_rate: int = 8000,
    cache: str | None = None,
    allow_outside: bool = False,
    extra_train: Sequence[str] | str = (),
) -> DataSplits:
    """Free Spoken Digit Dataset: audio + caption + digit label, split by speaker.

    ``manifest`` (a CSV written by ``polysense data fsdd``) wins over ``fsdd_folder``; its audio
    paths must lie under the manifest's folder unless ``allow_outside`` is true. ``extra_train``:
    folders written by ``polysense generate`` whose clips join the training split
    (:func:`with_generated_train_rows`: generated sounds as augmentation).
    """
    if manifest is not None:
        table = read_manifest(manifest, allow_outside=allow_outside)
    else:
        table = fsdd_manifest(_folder(fsdd_folder), test_speakers=test_speakers, val_speakers=val_speakers)
    table = with_generated_train_rows(table, extra_train)
    extra = f" + {sum(r.meta.get('generated', False) for r in table.rows)} generated clips" if extra_train else ""
    return manifest_table_splits(table, sample_rate=sample_rate, classes=tuple(DIGIT_WORDS),
                                 description=f"FSDD spoken digits at {sample_rate} Hz{extra}", cache=cache)


def append_train_rows(table: Manifest, rows: Sequence[tuple[str, Path, int, str, str, dict[str, Any]]]) -> Manifest:
    """``table`` with extra training rows ``(id, audio path, label, text, group, meta)`` appended.

    The extra files are the builders' own (a cache folder, a generated folder the config names), not
    paths read from the manifest's data, so they may lie outside the manifest's root."""
    if not rows:
        return table
    template = table.rows[0]
    ids = {r.id for r in table.rows}
    extra = []
    for i, (name, path, label, text, group, meta) in enumerate(rows):
        if name in ids:
            raise ParameterError(f"extra training clip id {name!r} is already a row of {table.path or 'the manifest'}: "
                                 "give each added clip a unique name")
        ids.add(name)
        extra.append(replace(template, number=len(table.rows) + i, id=name, line=None, audio=Path(path).resolve(),
                             text=text, label=int(label), labels={}, split="train", group=group, meta=dict(meta)))
    return replace(table, rows=tuple(table.rows) + tuple(extra), allow_outside=True)


def with_generated_train_rows(table: Manifest, folders: Sequence[str] | str) -> Manifest:
    """``table`` with the clips of each ``polysense generate`` folder in ``folders`` as training rows:
    label = the digit asked for, group ``generated:<folder name>`` (one group per folder: a generated
    clip is nobody's voice), id ``<folder name>/<file>``."""
    folders = [folders] if isinstance(folders, str) else list(folders)
    rows = []
    for folder in folders:
        name = Path(folder).name
        for r in read_generated_manifest(folder, classes=DIGIT_WORDS):
            rows.append((f"{name}/{r.path.name}", r.path, DIGIT_WORDS.index(r.label), f"the digit {r.label} (generated)",
                         f"generated:{name}", {"generated": True, "speaker": r.speaker, "seed": r.seed}))
    return append_train_rows(table, rows)


def manifest_table_splits(table: Any, *, sample_rate: int | None, classes: tuple[str, ...] | None,
                          description: str, cache: str | None = None, require_train: bool = True) -> DataSplits:
    """Train/val/test :class:`ManifestDataset`s over the rows of a manifest's ``split`` column.

    ``classes`` (a model's or a dataset's class names) maps the manifest's labels onto them
    (:meth:`Manifest.with_classes`); without it the manifest's own names are the classes.
    ``require_train=False`` accepts a manifest without train rows (evaluating a trained model).
    """
    if classes is not None and "label" in table.columns:
        table = table.with_classes(classes)
    splits = {s: [i for i, r in enumerate(table.rows) if r.split == s] for s in ("train", "val", "test")}
    if require_train and not splits["train"]:
        raise ParameterError(f"{table.path}: the manifest has no 'train' rows: give rows split=train")
    kwargs: dict[str, Any] = {}
    if sample_rate is not None:
        kwargs["sample_rate"] = sample_rate
    if cache is not None:
        kwargs["cache"] = FeatureCache(cache)
    datasets = {s: ManifestDataset(table, split=s, **kwargs) if rows else None for s, rows in splits.items()}
    columns = set(table.columns)
    modalities = tuple(m for m in ("audio", "image", "text") if m in columns)
    texts = [r.text for r in table.rows if r.split == "train" and r.text] if "text" in columns else None
    if classes is None and "label" in columns:
        classes = table.class_names()
    return DataSplits(train=datasets["train"], val=datasets["val"], test=datasets["test"],
                      sample_rate=sample_rate if "audio" in columns else None, classes=classes,
                      train_texts=texts, modalities=modalities, description=description)


@register_dataset("manifest")
def manifest_splits(*, seed: int, path: str, sample_rate: int | None = 16000, cache: str | None = None,
                    allow_outside: bool = False) -> DataSplits:
    """A manifest (CSV or JSONL) with a ``split`` column."""
    table = read_manifest(path, allow_outside=allow_outside)
    return manifest_table_splits(table, sample_rate=sample_rate, classes=None, description=f"manifest {path}",
                                 cache=cache)


@register_dataset("av_digits")
def av_digits_splits(
    *,
    seed: int,
    fsdd_folder: str | None = None,
    manifest: str | None = None,
    test_speakers: Sequence[str] | str = ("theo",),
    val_speakers: Sequence[str] | str = ("jackson",),
    image_energy_loss: float = 0.75,
    snr_db: float | None = 0.0,
    sample_rate: int = 8000,
    image_size: int = 8,
    allow_outside: bool = False,
) -> DataSplits:
    """FSDD audio paired by digit with degraded scikit-learn digit images (see AVDigits); the
    audio comes from ``manifest`` (a speaker-split FSDD-style manifest, its paths under its folder
    unless ``allow_outside``) or ``fsdd_folder``."""
    folder = read_manifest(manifest, allow_outside=allow_outside) if manifest is not None else _folder(fsdd_folder)
    common = dict(test_speakers=test_speakers, val_speakers=val_speakers, image_energy_loss=image_energy_loss,
                  snr_db=snr_db, seed=seed, sample_rate=sample_rate, image_size=image_size)

    def part(split: str) -> AVDigits | None:
        try:
            return AVDigits(folder, split=split, **common)
        except ParameterError:
            if split == "train":
                raise
            return None  # no recordings in this split (no such speakers, or none in the manifest)

    return DataSplits(
        train=part("train"), val=part("val"), test=part("test"),
        sample_rate=int(sample_rate), classes=tuple(DIGIT_WORDS), modalities=("audio", "image"),
        description=f"AV digits: FSDD at {sample_rate} Hz, SNR {snr_db} dB + digit images, {image_energy_loss:.0%} energy removed",
    )
