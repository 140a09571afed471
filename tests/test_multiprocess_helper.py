"""tests/_multiprocess.run_in_processes: a failure or a hang in a spawned process fails the test."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from tests._multiprocess import run_in_processes


def _sum_ranks_and_fail_on_rank_1(rank: int, expected: float) -> None:
    total = torch.tensor(float(rank + 1))
    dist.all_reduce(total)
    assert dist.get_world_size() == 2 and float(total) == expected
    if rank == 1:
        raise ValueError(f"rank {rank} saw the sum {float(total)}")


def _hang(rank: int) -> None:
    time.sleep(60 if rank == 0 else 0)


def test_a_failing_process_fails_the_test_with_its_error(tmp_path: Path):
    with pytest.raises(mp.ProcessRaisedException, match="rank 1 saw the sum 3.0"):
        run_in_processes(_sum_ranks_and_fail_on_rank_1, world_size=2, store=tmp_path / "a", args=(3.0,))
    with pytest.raises(mp.ProcessRaisedException, match="AssertionError"):  # a wrong expectation fails too
        run_in_processes(_sum_ranks_and_fail_on_rank_1, world_size=2, store=tmp_path / "b", args=(4.0,))


def test_a_hanging_process_is_killed_at_the_deadline(tmp_path: Path):
    with pytest.raises(pytest.fail.Exception, match="the hang test did not finish within 2 s"):
        run_in_processes(_hang, world_size=2, store=tmp_path / "c", deadline_s=2, name="the hang test")
