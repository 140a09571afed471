"""Sharding the embedding work over processes (``torchrun ... -m polysense index``).

Every process scans the source and plans the same work (the plan is deterministic); process
``rank`` embeds files ``rank, rank + world, ...`` and the results are gathered to all processes
as tensors (JSON metadata as bytes + the vectors), never pickled. Rank 0 writes the one index.
With no process group initialised, everything is the identity.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import torch

from polysense.search.scan import Skipped

__all__ = ["barrier", "gather_embedded", "init_from_env", "rank_and_world"]


def _dist():
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def init_from_env() -> bool:
    """Join the group torchrun describes (``WORLD_SIZE`` > 1 in the environment), over gloo."""
    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or (dist.is_available() and dist.is_initialized()):
        return False
    dist.init_process_group("gloo")
    return True


def rank_and_world() -> tuple[int, int]:
    dist = _dist()
    return (dist.get_rank(), dist.get_world_size()) if dist else (0, 1)


def barrier() -> None:
    dist = _dist()
    if dist:
        dist.barrier()


def _all_gather_bytes(data: torch.Tensor, dist) -> list[torch.Tensor]:
    """all_gather of 1-D tensors of different lengths (padded to the longest, then cut)."""
    size = torch.tensor([data.numel()], dtype=torch.long)
    sizes = [torch.zeros_like(size) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, size)
    longest = int(max(s.item() for s in sizes))
    padded = torch.zeros(longest, dtype=data.dtype)
    padded[: data.numel()] = data
    out = [torch.zeros(longest, dtype=data.dtype) for _ in sizes]
    dist.all_gather(out, padded)
    return [o[: int(s.item())] for o, s in zip(out, sizes, strict=True)]


def gather_embedded(done: dict[str, Any], skipped: list, embedded_cls) -> tuple[dict[str, Any], list]:
    """Merge every process's ``{key: _Embedded}`` and skipped files (identity in one process)."""
    dist = _dist()
    if dist is None:
        return done, skipped

    items = list(done.values())
    header = {
        "items": [{"key": e.key, "spans": e.spans, "duration_s": e.duration_s, "sample_rate": e.sample_rate,
                   "shape": list(e.vectors.shape)} for e in items],
        "skipped": [[s.path, s.reason, s.size, s.mtime_ns] for s in skipped],
    }
    meta = torch.frombuffer(bytearray(json.dumps(header).encode()), dtype=torch.uint8)
    flat = [torch.from_numpy(np.ascontiguousarray(e.vectors, dtype=np.float32)).reshape(-1) for e in items]
    vectors = torch.cat(flat) if flat else torch.zeros(0)
    merged: dict[str, Any] = {}
    merged_skipped: list = []
    for m, v in zip(_all_gather_bytes(meta, dist), _all_gather_bytes(vectors, dist), strict=True):
        head = json.loads(bytes(m.numpy()).decode())
        offset = 0
        for item in head["items"]:
            n = int(np.prod(item["shape"]))
            vec = v[offset : offset + n].numpy().reshape(item["shape"]).copy()
            offset += n
            spans = [tuple(s) for s in item["spans"]]
            merged[item["key"]] = embedded_cls(item["key"], vec, spans, item["duration_s"], item["sample_rate"])
        merged_skipped += [Skipped(*s) for s in head["skipped"]]
    return merged, merged_skipped
