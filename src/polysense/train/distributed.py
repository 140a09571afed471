"""Several processes on PyTorch's own engine: torchrun sets the environment, we join the group.

``torchrun --nproc-per-node N -m polysense train CONFIG`` starts N processes with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` set; :func:`setup` joins the
process group (gloo on CPU, nccl on CUDA) and :func:`teardown` leaves it. Outside torchrun
everything here is a single process and nothing is initialised.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from polysense.errors import ParameterError

__all__ = ["DistributedContext", "setup", "teardown"]


@dataclass(frozen=True)
class DistributedContext:
    """This process's place: ``rank`` of ``world_size``, its device, whether we initialised."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    initialized_here: bool = False

    @property
    def is_main(self) -> bool:
        """Only the main process writes checkpoints, metrics and reports."""
        return self.rank == 0

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()

    def broadcast_object(self, value):
        """``value`` of rank 0 on every rank."""
        if self.world_size == 1:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def _device(kind: str, local_rank: int) -> torch.device:
    if kind == "cuda" or (kind == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ParameterError("train.device='cuda' but no CUDA device is available: use device: cpu or auto")
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def setup(device: str = "auto") -> DistributedContext:
    """Join the torchrun process group when there is one; pick the device."""
    if dist.is_available() and dist.is_initialized():
        # a group made by the caller (a test, a notebook): join it as it is
        rank = dist.get_rank()
        local_rank = int(os.environ.get("LOCAL_RANK", rank))
        return DistributedContext(rank=rank, world_size=dist.get_world_size(), local_rank=local_rank,
                                  device=_device(device, local_rank))
    world_size = int(os.environ.get("WORLD_SIZE", "1"))

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = _device(device, local_rank)
    if world_size <= 1:
        return DistributedContext(device=dev)
    initialized_here = False
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
        initialized_here = True
    return DistributedContext(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local_rank,
                              device=dev, initialized_here=initialized_here)


def teardown(context: DistributedContext) -> None:
    if context.initialized_here and dist.is_initialized():
        dist.destroy_process_group()
