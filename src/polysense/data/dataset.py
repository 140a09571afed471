"""A torch Dataset over any manifest: decoded, resampled audio (or its features), images, text, labels.

Each item is a dict with the keys the manifest provides (see ``INTERFACES``):

``id`` (str), ``audio`` (float32 waveform ``(time,)`` at ``sample_rate``, or ``features(waveform)``
such as a ``(n_mels, frames)`` log-mel), ``sample_rate`` (int), ``image`` (float32 ``(3, H, W)``,
resized and normalised), ``text`` (str) and ``input_ids`` (LongTensor, when a tokenizer is given),
``word_ids`` (LongTensor like ``input_ids``, when the tokenizer's output has word ids),
``label`` (int), ``labels`` (dict task -> int, from ``label:TASK`` columns), ``group`` (str).

Errors: a file that cannot be loaded raises :class:`~polysense.errors.ManifestError` naming the
manifest, the row, the id and the file (``on_error="raise"``, the default), or, with
``on_error="skip"``, the item comes back as ``None`` (which :func:`polysense.data.collate.collate`
drops) and the row is recorded in :attr:`ManifestDataset.skipped`, a report that also collects the
rows skipped inside DataLoader worker processes. Nothing is skipped silently: each skip also warns.
Every way a file can be bad counts: missing, unreadable, not audio, a lying header, NaN/Inf or
out-of-range samples, a name the OS refuses, a path that leads outside the manifest's folder when
opened (it is re-checked then, see :meth:`~polysense.data.manifest.Manifest.open_path`), or
features that cannot be computed from it (a polysense error from ``features``).
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from polysense import audio as audio_io
from polysense._checks import check_choice, check_positive_int, check_sample_rate
from polysense.data.cache import FeatureCache, params_key
from polysense.data.cache import feature_params as fingerprint_features
from polysense.data.manifest import Manifest, Row, read_manifest
from polysense.errors import AudioError, ParameterError, PolysenseError
from polysense.image import IMAGE_SUFFIXES, ImageError, load_image  # the media layer; exported here as before
from polysense.signal.resample import QUALITIES

__all__ = [
    "IMAGE_SUFFIXES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "ImageError",
    "ManifestDataset",
    "SkippedRow",
    "image_normalization",
    "load_image",
    "normalize_image",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Tokenizer = Callable[[str], Any]


@dataclass(frozen=True, order=True)
class SkippedRow:
    """A row left out with ``on_error="skip"``: where it is, which file failed, and why."""

    row: int
    id: str
    file: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}, id {self.id!r}: {self.file}: {self.reason}"


class ManifestDataset(Dataset):
    """Samples of a manifest, loaded lazily.

    Parameters
    ----------
    manifest: a :class:`~polysense.data.manifest.Manifest` or the path of one.
    split: keep only the rows whose ``split`` is this name (an error if none are).
    sample_rate: audio is resampled on load to this rate (Hz) with :func:`polysense.signal.resample`
        and mixed to mono.
    image_size: ``(height, width)`` or one int for a square; images are converted to RGB, resized
        (bilinear) and normalised as ``(x / 255 - mean) / std`` per channel.
    image_mean, image_std: the normalisation, ImageNet's by default.
    tokenizer: the model's tokenizer, a callable ``str -> list[int]`` (an object with ``.ids``, such as
        a ``tokenizers.Encoding``, or a tensor also works). No tokenizer: only ``text`` is returned.
        When the output also has ``.word_ids`` (the index of the word each token belongs to, as
        :class:`~polysense.models.encoders.text.TextTokenizer` and ``tokenizers.Encoding`` give;
        ``None`` or negative for special tokens), the sample holds them as ``word_ids`` (long,
        -1 outside words) for whole-word masking.
    max_text_length: truncate ``input_ids`` (and ``word_ids``) to this many tokens.
    features: a callable or ``nn.Module`` turning the waveform into features (e.g. a
        ``LogMelSpectrogram``); its output becomes ``sample["audio"]``.
    cache: a :class:`FeatureCache` (or a folder for one) storing ``features`` per file content and
        parameter set; needs ``features``.
    feature_params: the features' settings for the cache key, when they cannot be read from the
        object itself (see :func:`polysense.data.cache.feature_params`).
    on_error: ``"raise"`` or ``"skip"`` (see the module docstring).
    allow_outside: passed to :func:`read_manifest` when ``manifest`` is a path.
    """

    def __init__(
        self,
        manifest: Manifest | str | os.PathLike,
        *,
        split: str | None = None,
        sample_rate: int = 16000,
        image_size: int | Sequence[int] = 224,
        image_mean: Sequence[float] = IMAGENET_MEAN,
        image_std: Sequence[float] = IMAGENET_STD,
        tokenizer: Tokenizer | None = None,
        max_text_length: int | None = None,
        features: Callable[[torch.Tensor], torch.Tensor] | None = None,
        cache: FeatureCache | str | os.PathLike | None = None,
        feature_params: Any = None,
        on_error: str = "raise",
        quality: str = "HQ",
        allow_outside: bool = False,
    ) -> None:
        if not isinstance(manifest, Manifest):
            manifest = read_manifest(manifest, allow_outside=allow_outside)
        if split is not None:
            if not manifest.has_splits:
                raise manifest.error(None, f"split={split!r} was requested but the manifest has no 'split' column",
                                     "add a split column, or make splits with polysense.data.splits.split_manifest")
            manifest = manifest.select(i for i, r in enumerate(manifest.rows) if r.split == split)
            if len(manifest) == 0:
                raise manifest.error(None, f"split {split!r} is empty: no row has split={split}",
                                     f"add rows with split={split} or choose another split")
        self.manifest = manifest
        self.split = split
        self.sample_rate = check_sample_rate(sample_rate, integer=True)
        self.image_size = _image_size(image_size)
        self.image_mean, self.image_std = image_normalization(image_mean, image_std)
        if tokenizer is not None and not callable(tokenizer):
            raise ParameterError(f"tokenizer={tokenizer!r} is not callable: pass a function str -> list[int]")
        self.tokenizer = tokenizer
        self.max_text_length = None if max_text_length is None else check_positive_int("max_text_length", max_text_length)
        self.features = features
        if cache is not None and features is None:
            raise ParameterError("cache= needs features=: the cache stores computed features, not waveforms")
        self.cache = cache if (cache is None or isinstance(cache, FeatureCache)) else FeatureCache(cache)
        self.on_error = check_choice("on_error", on_error, ("raise", "skip"))
        self.quality = check_choice("quality", quality, QUALITIES)
        self._cache_params = None
        if self.cache is not None:
            fp = feature_params if feature_params is not None else fingerprint_features(features)
            self._cache_params = params_key({"sample_rate": self.sample_rate, "mono": True, "quality": quality, "features": fp})
        self._skip_log: str | None = None
        if self.on_error == "skip":
            fd, self._skip_log = tempfile.mkstemp(prefix="polysense-skipped-", suffix=".jsonl")
            os.close(fd)
            weakref.finalize(self, _remove, self._skip_log)
        self._warned: set[int] = set()

    def __len__(self) -> int:
        return len(self.manifest)

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        row = self.manifest.rows[index]
        sample: dict[str, Any] = {"id": row.id}
        current = None
        try:
            if row.audio is not None:
                current = row.audio
                sample["audio"] = self._audio(self.manifest.open_path(row, row.audio))
                sample["sample_rate"] = self.sample_rate
            if row.image is not None:
                current = row.image
                sample["image"] = self._image(self.manifest.open_path(row, row.image))
            current = None
            if row.text is not None:
                sample["text"] = row.text
                if self.tokenizer is not None:
                    sample["input_ids"], word_ids = self._tokenize(row.text)
                    if word_ids is not None:
                        sample["word_ids"] = word_ids
        except PolysenseError as exc:  # AudioError, ImageError, ManifestError, a ParameterError from features
            if current is None:  # the tokenizer's error is the caller's, not a bad file
                raise
            return self._fail(row, current, exc)
        except OSError as exc:
            return self._fail(row, current, AudioError(f"{current}: cannot be read ({exc.strerror or exc})"))
        if row.label is not None:
            sample["label"] = row.label
        if row.labels:
            sample["labels"] = dict(row.labels)
        if row.group is not None:
            sample["group"] = row.group
        return sample

    @property
    def skipped(self) -> list[SkippedRow]:
        """Rows skipped so far (in this process and in DataLoader workers), each listed once."""
        if self._skip_log is None or not os.path.exists(self._skip_log):
            return []
        with open(self._skip_log, encoding="utf-8") as fh:
            entries = {SkippedRow(**json.loads(line)) for line in fh if line.strip()}
        return sorted(entries)

    def skip_report(self) -> str:
        """A readable list of the skipped rows (empty string when none were)."""
        rows = self.skipped
        if not rows:
            return ""
        lines = [f"{self.manifest.path}: skipped {len(rows)} row(s):"] + [f"  {r}" for r in rows]
        return "\n".join(lines)

    # ------------------------------------------------------------------------------------------

    def _audio(self, path: Path) -> torch.Tensor:
        if self.features is None:
            return self._waveform(path)
        if self.cache is None:
            return self._compute_features(path)
        try:
            return self.cache.get_or_compute(path, self._cache_params, lambda: self._compute_features(path))
        except FileNotFoundError:
            raise AudioError(f"{path}: file not found") from None
        except OSError as exc:  # hashing the file for the cache key failed
            raise AudioError(f"{path}: cannot be read ({exc.strerror or exc})") from None

    def _waveform(self, path: Path) -> torch.Tensor:
        waveform, _ = audio_io.load(path, sample_rate=self.sample_rate, mono=True, dtype=torch.float32, quality=self.quality)
        return waveform

    def _compute_features(self, path: Path) -> torch.Tensor:
        with torch.no_grad():
            return self.features(self._waveform(path))

    def _image(self, path: Path) -> torch.Tensor:
        return normalize_image(load_image(path, size=self.image_size), mean=self.image_mean, std=self.image_std)

    def _tokenize(self, text: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(input_ids, word_ids or None)``; word ids are read from the output's ``.word_ids``
        when it has them (duck typing: the data layer does not import the models)."""
        encoding = self.tokenizer(text)
        ids = torch.as_tensor(getattr(encoding, "ids", encoding), dtype=torch.long).flatten()
        words = getattr(encoding, "word_ids", None)
        if words is not None:
            if isinstance(words, torch.Tensor):
                words = words.to(torch.long).flatten()
            else:  # tokenizers.Encoding: a list with None for special tokens
                words = torch.tensor([-1 if w is None else int(w) for w in words], dtype=torch.long)
            words = words.clamp_min(-1)
            if words.shape != ids.shape:
                raise ParameterError(
                    f"the tokenizer returned {ids.numel()} ids but {words.numel()} word ids for {text!r}: "
                    "word_ids must give one word index per token"
                )
        if self.max_text_length is not None:
            ids = ids[: self.max_text_length]
            words = None if words is None else words[: self.max_text_length]
        return ids, words

    def _fail(self, row: Row, file: Path | None, exc: Exception) -> None:
        reason = str(exc)
        for prefix in (f"{file}: ", f"{self.manifest.path}: {row.where}: "):
            if reason.startswith(prefix):
                reason = reason[len(prefix):]
        if self.on_error == "raise":
            raise self.manifest.error(
                row, f"cannot load {file}: {reason}",
                "fix or replace the file, remove the row, or pass on_error='skip' to skip such rows "
                "(they are listed in dataset.skipped)",
            ) from exc
        entry = SkippedRow(row=row.number, id=row.id, file=str(file), reason=reason)
        with open(self._skip_log, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry.__dict__) + "\n")
        if row.number not in self._warned:
            self._warned.add(row.number)
            warnings.warn(f"{self.manifest.path}: skipping {entry}", stacklevel=2)
        return None


def image_normalization(
    mean: Sequence[float] | torch.Tensor = IMAGENET_MEAN, std: Sequence[float] | torch.Tensor = IMAGENET_STD
) -> tuple[torch.Tensor, torch.Tensor]:
    """``mean`` and ``std`` checked (3 values each, every std > 0) as float32 ``(3, 1, 1)`` tensors."""
    try:
        mean_t = torch.as_tensor(mean, dtype=torch.float32)
        std_t = torch.as_tensor(std, dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError):
        mean_t = std_t = torch.zeros(0)
    if (mean_t.numel() != 3 or std_t.numel() != 3 or not bool(((std_t > 0) & std_t.isfinite()).all())
            or not bool(mean_t.isfinite().all())):
        raise ParameterError(
            f"image_mean={mean} and image_std={std} are invalid: they need 3 finite values each (one per RGB "
            "channel) and std > 0"
        )
    return mean_t.reshape(3, 1, 1), std_t.reshape(3, 1, 1)


def normalize_image(
    image: torch.Tensor,
    *,
    mean: Sequence[float] | torch.Tensor = IMAGENET_MEAN,
    std: Sequence[float] | torch.Tensor = IMAGENET_STD,
) -> torch.Tensor:
    """Per-channel normalisation ``(x - mean[c]) / std[c]`` of RGB images ``(..., 3, H, W)`` in [0, 1].

    The one image normalisation of the data layer (:class:`ManifestDataset` and the built-in
    datasets), so an image read back from a file equals the one generated in memory. ``mean`` and
    ``std`` default to ImageNet's (:data:`IMAGENET_MEAN`, :data:`IMAGENET_STD`).
    """
    mean_t, std_t = image_normalization(mean, std)
    if image.ndim < 3 or image.shape[-3] != 3:
        raise ParameterError(f"image has shape {tuple(image.shape)}: expected (..., 3, H, W) RGB")
    return (image - mean_t) / std_t


def _image_size(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int):
        size = (size, size)
    size = tuple(size)
    if len(size) != 2:
        raise ParameterError(f"image_size={size!r} is invalid: give one int or (height, width)")
    return (check_positive_int("image_size[0]", size[0]), check_positive_int("image_size[1]", size[1]))


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
