"""Batching samples of different lengths: pad audio and text, return masks.

``collate(batch)`` takes the sample dicts of :class:`~polysense.data.dataset.ManifestDataset` (or
any dataset using the same keys) and returns:

=================  ================================================================================
``id``             list of str
``audio``          ``(B, T)`` waveforms, or ``(B, ..., T)`` features, zero-padded along the last axis
``audio_mask``     ``(B, T)`` bool, ``True`` on real samples/frames
``audio_lengths``  ``(B,)`` long, the unpadded lengths
``sample_rate``    int (all samples share it; mixed rates are an error)
``image``          ``(B, 3, H, W)``
``text``           list of str
``input_ids``      ``(B, L)`` long, padded with ``pad_id``
``text_mask``      ``(B, L)`` bool
``word_ids``       ``(B, L)`` long, padded with -1 (when the samples have word ids), aligned with ``input_ids``
``label``          ``(B,)`` long
``labels``         dict task -> ``(B,)`` long
``group``          list of str
=================  ================================================================================

Other tensor keys are stacked (when shapes agree) and other values are listed. ``None`` items
(rows skipped by ``on_error="skip"``) are dropped; a batch of only skipped items has ``id == []``.
Every key must be in every sample: a batch mixing samples with and without, say, an image cannot
be stacked, and the error names the samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from polysense.errors import ParameterError

__all__ = ["collate", "pad_sequences"]

_LISTED = ("id", "text", "group")


def pad_sequences(
    sequences: Sequence[torch.Tensor], *, pad_value: float | int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pad tensors ``(..., T_i)`` with equal leading shapes to ``(B, ..., max T)``.

    Returns ``(padded, mask (B, max T) bool, lengths (B,) long)``.
    """
    if not sequences:
        raise ParameterError("pad_sequences needs at least one tensor")
    lead = sequences[0].shape[:-1]
    for i, s in enumerate(sequences):
        if s.ndim == 0 or s.shape[:-1] != lead:
            raise ParameterError(
                f"item {i} has shape {tuple(s.shape)} but item 0 has {tuple(sequences[0].shape)}: only the "
                "last (time) axis may differ between items"
            )
    lengths = torch.tensor([s.shape[-1] for s in sequences], dtype=torch.long)
    longest = int(lengths.max())
    padded = sequences[0].new_full((len(sequences), *lead, longest), pad_value)
    for i, s in enumerate(sequences):
        padded[i, ..., : s.shape[-1]] = s
    mask = torch.arange(longest).unsqueeze(0) < lengths.unsqueeze(1)
    return padded, mask, lengths


def _check_word_ids(samples: Sequence[dict[str, Any]], values: Sequence[Any]) -> None:
    """Each sample's ``word_ids`` must have one entry per token of its ``input_ids``."""
    for s, words in zip(samples, values, strict=True):
        ids = s.get("input_ids")
        n_words = len(words)
        if ids is None or n_words != len(ids):
            raise ParameterError(
                f"sample {s.get('id', '?')!r} has {n_words} word ids but "
                f"{'no input_ids' if ids is None else f'{len(ids)} input_ids'}: word_ids must give one "
                "word index per token of input_ids"
            )


def collate(batch: Sequence[dict[str, Any] | None], *, pad_id: int = 0, pad_value: float = 0.0) -> dict[str, Any]:
    """Collate sample dicts into a batch dict (see the module docstring for the keys)."""
    samples = [s for s in batch if s is not None]
    if not samples:
        return {"id": []}
    keys = list(samples[0])
    for s in samples[1:]:
        if set(s) != set(keys):
            first = samples[0].get("id", 0)
            other = s.get("id", "?")
            missing = sorted(set(keys) ^ set(s))
            raise ParameterError(
                f"samples {first!r} and {other!r} have different keys (differing: {missing}): a batch needs "
                "the same modalities in every sample; filter the manifest so rows share their columns"
            )
    out: dict[str, Any] = {}
    for key in keys:
        values = [s[key] for s in samples]
        if key == "audio":
            out["audio"], out["audio_mask"], out["audio_lengths"] = pad_sequences(values, pad_value=pad_value)
        elif key == "input_ids":
            out["input_ids"], out["text_mask"], out["text_lengths"] = pad_sequences(values, pad_value=pad_id)
        elif key == "word_ids":
            _check_word_ids(samples, values)
            out["word_ids"] = pad_sequences([torch.as_tensor(v, dtype=torch.long) for v in values], pad_value=-1)[0]
        elif key == "sample_rate":
            rates = set(values)
            if len(rates) > 1:
                raise ParameterError(f"samples have different sample rates {sorted(rates)}: resample them to one rate first")
            out["sample_rate"] = values[0]
        elif key == "label":
            out["label"] = torch.as_tensor(values, dtype=torch.long)
        elif key == "labels":
            tasks = list(values[0])
            out["labels"] = {t: torch.as_tensor([v[t] for v in values], dtype=torch.long) for t in tasks}
        elif key in _LISTED:
            out[key] = values
        elif all(isinstance(v, torch.Tensor) for v in values):
            shapes = {tuple(v.shape) for v in values}
            if len(shapes) > 1:
                raise ParameterError(f"{key!r} tensors have different shapes {sorted(shapes)}: they cannot be stacked")
            out[key] = torch.stack(values)
        else:
            out[key] = values
    return out
