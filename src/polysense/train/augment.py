"""Waveform augmentations of a training batch, chosen by the config's ``augment.waveform`` list.

Each entry is applied with probability ``p`` per batch, drawing from the trainer's generator,
so a run is reproducible and a resumed run draws what the uninterrupted one drew. Padded
samples stay zero (the batch's ``audio_mask`` is passed on); labels change only under mixup,
which turns ``label`` into soft targets (B, C).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from polysense.data import augment as waveform_augment
from polysense.errors import ParameterError
from polysense.train.config import WaveformAugment

__all__ = ["augment_batch"]


def augment_batch(
    batch: dict[str, Any],
    augments: Sequence[WaveformAugment],
    *,
    generator: torch.Generator,
    num_classes: int | None,
) -> dict[str, Any]:
    """A new batch dict with the augmentations applied (the input batch is not modified)."""
    if not augments:
        return batch
    audio = batch.get("audio")
    if audio is None:
        raise ParameterError("augment.waveform is set but the batch has no audio: remove the waveform augmentations")
    batch = dict(batch)
    mask = batch.get("audio_mask")
    for spec in augments:
        if float(torch.rand((), generator=generator)) >= spec.p:
            continue
        audio = batch["audio"]
        if spec.name == "add_noise":
            u = torch.rand(audio.shape[0], generator=generator, dtype=torch.float64)
            snr = spec.snr_db_min + (spec.snr_db_max - spec.snr_db_min) * u
            batch["audio"] = waveform_augment.add_noise(audio, snr_db=snr, mask=mask, generator=generator)
        elif spec.name == "gain":
            out = waveform_augment.random_gain(audio, min_gain_db=spec.min_gain_db, max_gain_db=spec.max_gain_db,
                                               generator=generator)
            batch["audio"] = out if mask is None else out * mask
        elif spec.name == "time_shift":
            length = audio.shape[-1] if mask is None else int(mask.sum(dim=-1).min())
            batch["audio"] = waveform_augment.time_shift(audio, max_shift=int(spec.max_shift_fraction * length),
                                                         mask=mask, generator=generator)
        elif spec.name == "mixup":
            labels = batch.get("label")
            if labels is None:
                raise ParameterError("augment mixup needs labels: the batch has no 'label'")
            out = waveform_augment.mixup(audio, labels, alpha=spec.alpha, num_classes=num_classes, mask=mask,
                                         generator=generator)
            batch["audio"], batch["label"] = out.inputs, out.targets
            if out.mask is not None:
                batch["audio_mask"] = mask = out.mask
    return batch
