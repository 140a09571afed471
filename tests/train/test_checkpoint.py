"""Checkpoints keep the random state a resumed run must draw from: the global generators and
every generator a module of the model holds."""

from __future__ import annotations

import pytest
import torch

from polysense.train.checkpoint import CheckpointError, load_checkpoint, module_generators, save_checkpoint


class _Noisy(torch.nn.Module):
    """A linear layer and a submodule holding its own generator (as a front end does)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(2, 2)
        self.front = torch.nn.Module()
        self.front.generator = torch.Generator().manual_seed(7)


def _parts(model: torch.nn.Module):
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    return {"model": model, "optimizer": optimizer, "scheduler": scheduler}


def test_module_generators_are_found_by_name():
    model = _Noisy()
    assert module_generators(model) == {"front.generator": model.front.generator}
    assert module_generators(torch.nn.Linear(2, 2)) == {}


def test_a_checkpoint_restores_the_generators_of_the_model(tmp_path):
    model = _Noisy()
    torch.rand(3, generator=model.front.generator)  # some draws before the checkpoint
    save_checkpoint(tmp_path, **_parts(model), state={"step": 1})
    expected = torch.rand(5, generator=model.front.generator), torch.rand(5)
    torch.rand(9, generator=model.front.generator)  # the killed run went on drawing
    resumed = _Noisy()  # a fresh process: the generator seeded anew
    load_checkpoint(tmp_path / "step-00000001", **_parts(resumed))
    assert torch.equal(torch.rand(5, generator=resumed.front.generator), expected[0])
    assert torch.equal(torch.rand(5), expected[1])


def test_a_checkpoint_without_the_model_generators_is_refused(tmp_path):
    plain = torch.nn.Module()
    plain.linear = torch.nn.Linear(2, 2)
    save_checkpoint(tmp_path, **_parts(plain), state={"step": 1})
    with pytest.raises(CheckpointError, match=r"no state for the model's random generators \['front.generator'\]"):
        load_checkpoint(tmp_path / "step-00000001", **_parts(_Noisy()))
