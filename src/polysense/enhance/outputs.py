"""What denoisers and separators hand the trainer: the valid-sample mask of a padded batch and a
separator's :class:`~polysense.models.output.EnhancementOutput` (PIT loss, metrics, reordered sources)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from polysense.errors import ParameterError
from polysense.losses.separation import pit_si_sdr_loss, si_sdr
from polysense.models.output import EnhancementOutput

__all__ = ["separation_output", "valid_length_mask"]


def valid_length_mask(batch: Mapping[str, Any], like: torch.Tensor) -> torch.Tensor | None:
    """(B, T) True on real samples when the batch gives ``length`` (padding is zeroed out of losses)."""
    lengths = batch.get("length")
    if lengths is None:
        return None
    return torch.arange(like.shape[-1], device=like.device)[None, :] < lengths.to(like.device)[:, None]


def separation_output(estimate: torch.Tensor, batch: Mapping[str, Any]) -> EnhancementOutput:
    """A separator's output for estimates (B, S, T) of ``batch["mixture"]`` (B, T).

    Padding (``length``) is zeroed. With ``batch["sources"]`` (B, S, T): the permutation-invariant
    SI-SDR loss, ``metrics`` ``si_sdr`` and ``si_sdri`` (dB, mean over sources under the best
    assignment; the improvement is over the mixture as every source's estimate), and the estimates
    reordered to the references.
    """
    mixture = batch["mixture"]
    valid = valid_length_mask(batch, mixture)
    if valid is not None:
        estimate = estimate * valid.unsqueeze(1)
    sources = batch.get("sources")
    if sources is None:
        return EnhancementOutput(estimate=estimate)
    if sources.shape[1] != estimate.shape[1]:
        raise ParameterError(f"the batch has {sources.shape[1]} sources but the model separates "
                             f"{estimate.shape[1]}: set num_sources={sources.shape[1]}")
    pit = pit_si_sdr_loss(estimate, sources)
    with torch.no_grad():
        mix_sdr = si_sdr(mixture.unsqueeze(1).expand_as(sources), sources).mean()
        metrics = {"si_sdr": pit.si_sdr.mean().detach(), "si_sdri": pit.si_sdr.mean().detach() - mix_sdr}
    return EnhancementOutput(loss=pit.loss, losses={"pit_si_sdr": pit.loss}, metrics=metrics, estimate=pit.reordered)
