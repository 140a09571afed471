"""polysense.data: manifests, datasets, batching, splits, the feature cache and built-in datasets.

The core (manifests, :class:`ManifestDataset`, :func:`collate`, splits, the cache) is imported with
the package. The built-in datasets and augmentations (:mod:`~polysense.data.synthetic`,
:mod:`~polysense.data.fsdd`, :mod:`~polysense.data.av_digits`, :mod:`~polysense.data.adapters`,
:mod:`~polysense.data.augment`, :mod:`~polysense.data.folder`, :mod:`~polysense.data.takes`) are exported here too but imported on first use of one of their
names, so ``import polysense.data`` does not pay for SciPy's signal module and Pillow's drawing.
"""

from __future__ import annotations

import importlib
from typing import Any

from polysense.data.cache import FeatureCache, feature_params
from polysense.data.check import CheckReport, check_manifest
from polysense.data.collate import collate, pad_sequences
from polysense.data.dataset import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageError,
    ManifestDataset,
    SkippedRow,
    image_normalization,
    load_image,
    normalize_image,
)
from polysense.data.manifest import Manifest, Row, read_manifest, write_manifest
from polysense.data.splits import split_indices, split_manifest

# public name -> the module that defines it (imported when the name is first used)
_LAZY = {
    **dict.fromkeys(
        ("ATTRIBUTES", "TASKS", "SyntheticConfig", "SyntheticTriModal", "generate_sample", "sample_attributes",
         "write_sound_folder", "write_synthetic"),
        "synthetic",
    ),
    **dict.fromkeys(
        ("DIGIT_WORDS", "FSDDFile", "SpeakerInfo", "fsdd_caption", "fsdd_dataset", "fsdd_manifest", "parse_fsdd_name",
         "read_speakers", "speaker_list"),
        "fsdd",
    ),
    **dict.fromkeys(("AVDigits", "PCADegradation", "digits_manifest", "load_digit_images", "pca_degrade"), "av_digits"),
    **dict.fromkeys(("captions_csv_manifest", "coco_manifest", "esc50_manifest"), "adapters"),
    **dict.fromkeys(("FolderManifest", "folder_manifest", "walk_files"), "folder"),
    **dict.fromkeys(("TakeClips", "fixed_length", "fsdd_take_splits"), "takes"),
    **dict.fromkeys(
        ("AddNoise", "MixupOutput", "RandomGain", "SpecAugment", "SpeedPerturb", "TimeShift", "add_noise", "gain",
         "mixup", "pitch_shift_batch", "random_gain", "spec_augment", "speed_perturb_batch", "time_shift"),
        "augment",
    ),
}

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "CheckReport",
    "FeatureCache",
    "ImageError",
    "Manifest",
    "ManifestDataset",
    "Row",
    "SkippedRow",
    "check_manifest",
    "collate",
    "feature_params",
    "image_normalization",
    "load_image",
    "normalize_image",
    "pad_sequences",
    "read_manifest",
    "split_indices",
    "split_manifest",
    "write_manifest",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
