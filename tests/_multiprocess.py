"""Run a test body in several processes joined by a gloo process group (CPU), with a deadline.

Used by the tests that check a distributed computation against one process on the global batch
(``tests/losses/test_distributed.py``, ``tests/models/test_albef.py``).
"""

from __future__ import annotations

import datetime
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

__all__ = ["run_in_processes"]


def _entry(rank: int, target: Callable[..., None], world_size: int, init_file: str, timeout_s: float,
           args: Sequence[Any]) -> None:
    torch.set_num_threads(1)  # several processes on a small machine: no OpenMP oversubscription
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size,
                            timeout=datetime.timedelta(seconds=timeout_s))
    try:
        target(rank, *args)
    finally:
        dist.destroy_process_group()


def run_in_processes(
    target: Callable[..., None],
    *,
    world_size: int,
    store: str | os.PathLike,
    args: Sequence[Any] = (),
    collective_timeout_s: float = 30.0,
    deadline_s: float = 120.0,
    name: str = "the multi-process test",
) -> None:
    """Call ``target(rank, *args)`` in ``world_size`` spawned processes inside one gloo group.

    ``target`` must be a module-level function (it is sent to the processes by reference); it
    runs after ``dist.init_process_group`` (rendezvous through the file ``store``, which must not
    exist yet, e.g. under ``tmp_path``) and before ``dist.destroy_process_group``, with one
    intra-op thread. An exception in any process fails the test with that process's traceback
    (``torch.multiprocessing.ProcessRaisedException``); a collective waits at most
    ``collective_timeout_s`` seconds, and processes still running after ``deadline_s`` seconds
    are killed and the test fails naming ``name``.
    """
    context = mp.spawn(_entry, args=(target, world_size, os.fspath(store), collective_timeout_s, tuple(args)),
                       nprocs=world_size, join=False)
    deadline = time.monotonic() + deadline_s
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for process in context.processes:
                process.kill()
            pytest.fail(f"{name} did not finish within {deadline_s:g} s (a collective is hanging)")
