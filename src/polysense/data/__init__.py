"""polysense.data: manifests, datasets, batching, splits, the feature cache and built-in datasets."""

from polysense.data.cache import FeatureCache, feature_params
from polysense.data.check import CheckReport, check_manifest
from polysense.data.collate import collate, pad_sequences
from polysense.data.dataset import ManifestDataset, SkippedRow, load_image
from polysense.data.manifest import Manifest, Row, read_manifest
from polysense.data.splits import split_indices, split_manifest

__all__ = [
    "CheckReport",
    "FeatureCache",
    "Manifest",
    "ManifestDataset",
    "Row",
    "SkippedRow",
    "check_manifest",
    "collate",
    "feature_params",
    "load_image",
    "pad_sequences",
    "read_manifest",
    "split_indices",
    "split_manifest",
]
