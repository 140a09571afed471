"""Evaluate a denoiser or separator over data: one pass of the one inference path
(:func:`polysense.inference.collect`), scored by :func:`polysense.metrics.enhancement.score_utterances`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import torch

from polysense._checks import check_sample_rate
from polysense.inference import collect
from polysense.metrics.enhancement import score_utterances

__all__ = ["evaluate_enhancement"]


def evaluate_enhancement(model: torch.nn.Module, dataset_or_loader: Iterable[Any], *, sample_rate: float,
                         perceptual: bool = True, collate: Any = None, batch_size: int = 16) -> dict[str, float]:
    """Run a denoiser or separator over data and average the per-utterance metrics.

    ``dataset_or_loader`` yields batches (a DataLoader) or items (a map-style dataset, batched
    here with ``collate``, else the dataset's own ``collate`` attribute, else
    :func:`polysense.enhance.mixtures.collate_mixtures`). A batch
    of a denoiser holds ``noisy`` (B, T) and ``clean`` (B, T); of a separator ``mixture`` (B, T)
    and ``sources`` (B, S, T): the estimates are matched to the sources by the best permutation
    and every source counts as one utterance. Optional ``length`` (B,) trims the padding.

    Returns the means (and ``_std``) of ``si_sdr``, ``si_sdri``, ``snri`` (dB) and, with
    ``perceptual``, ``stoi`` (utterances long enough for it), ``stoi_concat`` (all utterances joined)
    and ``pesq`` (``pesq_failed`` counts utterances P.862 refused).
    """
    sr = check_sample_rate(sample_rate)
    found = collect(model, _batches(dataset_or_loader, collate, batch_size), embed=False, utterances=True)
    return score_utterances(found.utterances, sample_rate=sr, perceptual=perceptual)


def _batches(data: Iterable[Any], collate: Any, batch_size: int) -> Iterable[Mapping[str, Any]]:
    if isinstance(data, torch.utils.data.DataLoader):
        yield from data
        return
    if collate is None:
        collate = getattr(data, "collate", None)
    if collate is None:
        from polysense.enhance.mixtures import collate_mixtures as collate
    items: list[Any] = []
    for i in range(len(data)):  # type: ignore[arg-type]
        items.append(data[i])  # type: ignore[index]
        if len(items) == batch_size:
            yield collate(items)
            items = []
    if items:
        yield collate(items)
