"""polysense.threads: the default follows OMP_NUM_THREADS, else the cores the load leaves free; one
call sets PyTorch's threads (and with them the front end's engine); bad counts are refused."""

from __future__ import annotations

import os

import pytest
import torch

from polysense import threads
from polysense.errors import ParameterError


@pytest.fixture(autouse=True)
def _restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_default_is_omp_num_threads_when_set(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.default_threads() == 3


def test_default_leaves_the_busy_cores_to_their_processes(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "usable_cores", lambda: 4)
    monkeypatch.setattr(os, "getloadavg", lambda: (1.7, 0.0, 0.0))
    assert threads.default_threads() == 3  # one core busy (load 1.7 rounds down to 1)
    monkeypatch.setattr(os, "getloadavg", lambda: (9.0, 0.0, 0.0))
    assert threads.default_threads() == 1  # never fewer than one


def test_use_threads_sets_pytorch_and_returns_the_count():
    assert threads.use_threads(1) == 1 and torch.get_num_threads() == 1
    assert threads.use_threads(2) == 2 and torch.get_num_threads() == 2


@pytest.mark.parametrize("bad", [0, -1, 2.5, "2", True, 10**6])
def test_bad_counts_name_the_option(bad):
    with pytest.raises(ParameterError, match=r"--threads .*: give a whole number of CPU threads from 1 to 1024"):
        threads.use_threads(bad)


def test_a_training_run_records_its_threads(tmp_path):
    import json

    from polysense.train.config import load_config
    from polysense.train.trainer import train

    from tests.train.helpers import tiny_fusion

    threads.use_threads(1)
    train(load_config(tiny_fusion(epochs=1, max_steps=1)), tmp_path / "run", quiet=True)
    assert json.loads((tmp_path / "run" / "run.json").read_text())["threads"] == 1
