"""The batches of an epoch: a seeded order cut into global batches, each process's share, and the
collate that also tokenizes text. One definition, used by the trainer and every evaluation loop.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["Collator", "epoch_batches", "seeded_generator", "shard"]


def seeded_generator(*keys: int) -> torch.Generator:
    # one 63-bit seed from the keys (seed, epoch, batch): independent streams per batch
    value = 0
    for key in keys:
        value = (value * 1_000_003 + int(key) + 1) % (2**63 - 1)
    return torch.Generator().manual_seed(value)


class Collator:
    """The dataset's collate, then the model's tokenizer on ``text`` (picklable for workers)."""

    def __init__(self, collate: Callable[[list[Any]], dict[str, Any]], tokenizer: Any = None) -> None:
        self.collate = collate
        self.tokenizer = tokenizer

    def __call__(self, items: list[Any]) -> dict[str, Any]:
        batch = self.collate(items)
        texts = batch.get("text")
        if self.tokenizer is not None and texts is not None and "input_ids" not in batch:
            batch.update(self.tokenizer.batch_encode(list(texts)).as_dict())
        return batch


def epoch_batches(num_items: int, batch_size: int, *, seed: int, epoch: int, shuffle: bool = True) -> list[list[int]]:
    """The global batches of one epoch: a seeded permutation cut into ``batch_size`` pieces (the
    last, partial batch is dropped when shuffling, so every step sees a full global batch)."""
    if shuffle:
        order = torch.randperm(num_items, generator=seeded_generator(seed, epoch)).tolist()
    else:
        order = list(range(num_items))
    batches = [order[i:i + batch_size] for i in range(0, num_items, batch_size)]
    if shuffle and len(batches) > 1 and len(batches[-1]) < batch_size:
        batches.pop()
    return batches


def shard(batch: list[int], rank: int, world_size: int) -> list[int]:
    """This process's contiguous share of a global batch (rank order = global order)."""
    size = math.ceil(len(batch) / world_size)
    return batch[rank * size:(rank + 1) * size]
