"""Alternating updates in the one trainer: a model that declares training steps is trained step by
step, each step updating only its own parameters with its own optimiser; resume equals an
uninterrupted run; validation's Fréchet distance drives selection; two processes equal one.

The toy model has two parameter vectors a and b and two losses of both,
f(a, b) = Σ(a − 1)² + Σ a·b and g(a, b) = Σ(b + 2)² + Σ a·b, so every step's loss has a gradient
on the other step's parameters: the reference trajectory (plain PyTorch, below) keeps only each
step's own gradient, and a trainer that let f's gradient reach b (or g's reach a) would end
elsewhere.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from polysense.models.contract import Model
from polysense.models.output import GenerationOutput, TrainingStep
from polysense.models.registry import register, unregister
from polysense.train import trainer
from polysense.train.config import ConfigError, load_config

from tests.train.helpers import TINY_DATA

A0, B0 = [0.5, -0.5], [1.0, 2.0]
LR_FIRST, LR_SECOND, BETAS_SECOND = 0.05, 0.02, (0.5, 0.9)


def _f(a, b):
    return ((a - 1) ** 2).sum() + (a * b).sum()


def _g(a, b):
    return ((b + 2) ** 2).sum() + (a * b).sum()


class ToyAlternating(Model):
    kind = "generator"

    def __init__(self, overlap: bool = False, leave_out: bool = False) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.tensor(A0))
        self.b = nn.Parameter(torch.tensor(B0))
        self.overlap, self.leave_out = overlap, leave_out

    def training_steps(self):
        second = (self.b, self.a) if self.overlap else () if self.leave_out else (self.b,)
        return [TrainingStep("first", (self.a,), optim={"lr": LR_FIRST}),
                TrainingStep("second", second or (nn.Parameter(torch.zeros(1)),),
                             optim={"lr": LR_SECOND, "betas": BETAS_SECOND})]

    def forward(self, batch, step=None):
        f, g = _f(self.a, self.b), _g(self.a, self.b)
        loss = {"first": f, "second": g, None: f + g}[step]
        real = batch["audio"][:, :3].double()
        # the generated items drift from the real ones by Σa: fd = 3·(Σa)² exactly (same covariance)
        return GenerationOutput(loss=loss, losses={"f": f.detach(), "g": g.detach()},
                                features={"real": real, "generated": real + self.a.detach().sum().double()})


@pytest.fixture
def toy():
    register("model", "toy_alternating")(ToyAlternating)
    yield
    unregister("model", "toy_alternating")


def _config(**train):
    return load_config({
        "name": "toy-alternating",
        "data": dict(TINY_DATA, num_samples=48),
        "model": {"name": "toy_alternating"},
        "optim": {"lr": 0.1, "weight_decay": 0.0, "clip_grad_norm": None, **train.pop("optim", {})},
        "schedule": {"name": "constant", "warmup_fraction": 0.0},
        "train": {"epochs": 2, "batch_size": 8, "seed": 0, "log_every_steps": 1, "select_metric": "fd",
                  "select_mode": "min", **train},
    })


def _reference(steps: int, accumulate: int) -> dict[str, torch.Tensor]:
    """Plain PyTorch: per micro-batch, step "first" then "second", each backward of its loss / k
    keeping only its own parameter's gradient, each optimiser stepping at the end of k micro-batches."""
    a, b = nn.Parameter(torch.tensor(A0)), nn.Parameter(torch.tensor(B0))
    opt_a = torch.optim.AdamW([a], lr=LR_FIRST, weight_decay=0.0)
    opt_b = torch.optim.AdamW([b], lr=LR_SECOND, betas=BETAS_SECOND, weight_decay=0.0)
    for _ in range(steps):
        grad_a = torch.zeros_like(a)
        grad_b = torch.zeros_like(b)
        for micro in range(accumulate):
            grad_a += torch.autograd.grad(_f(a, b) / accumulate, a)[0]
            if micro == accumulate - 1:
                a.grad = grad_a
                opt_a.step()
            grad_b += torch.autograd.grad(_g(a, b) / accumulate, b)[0]
            if micro == accumulate - 1:
                b.grad = grad_b
                opt_b.step()
    return {"a": a.detach(), "b": b.detach()}


@pytest.mark.parametrize("accumulate", [1, 2])
def test_each_step_updates_only_its_parameters_in_turn(toy, tmp_path, accumulate):
    result = trainer.train(_config(optim={"accumulate_steps": accumulate}), tmp_path / "run", quiet=True)
    assert result.steps >= 4
    final = load_file(str(tmp_path / "run" / "checkpoints" / f"step-{result.steps:08d}" / "model.safetensors"))
    expected = _reference(result.steps, accumulate)
    # tolerance: the same float32 operations in the same order; 1e-6 leaves room for fused kernels
    torch.testing.assert_close(final["a"], expected["a"], rtol=0, atol=1e-6)
    torch.testing.assert_close(final["b"], expected["b"], rtol=0, atol=1e-6)
    # the steps' optimisers differ (lr, betas): both moved, each its own way
    assert float((final["a"] - torch.tensor(A0)).abs().min()) > 1e-3
    assert float((final["b"] - torch.tensor(B0)).abs().min()) > 1e-3
    train_entries = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
                     if json.loads(x)["split"] == "train"]
    first = train_entries[0]
    assert first["lr_first"] == LR_FIRST and first["lr_second"] == LR_SECOND
    if accumulate == 1:
        # the steps alternate: "first" sees (a0, b0); "second" sees b0 and a after its first update
        # (Adam's first step moves each coordinate by lr against the sign of its gradient)
        a0, b0 = torch.tensor(A0), torch.tensor(B0)
        a1 = a0 - LR_FIRST * torch.sign(2 * (a0 - 1) + b0)
        assert first["loss_first"] == pytest.approx(float(_f(a0, b0)), rel=1e-6)
        assert first["loss_second"] == pytest.approx(float(_g(a1, b0)), rel=1e-6)
        # each step's gradient norm, measured even without clipping (clip_grad_norm is None here):
        # the 2-norm of the gradient of its own loss with respect to its own parameters at the last batch
        assert first["grad_norm_first"] > 0 and first["grad_norm_second"] > 0


def test_validation_fd_selects_the_epoch(toy, tmp_path):
    result = trainer.train(_config(epochs=3), tmp_path / "run", quiet=True)
    history = result.history
    assert [h["epoch"] for h in history] == [1, 2, 3]
    final = load_file(str(tmp_path / "run" / "checkpoints" / f"step-{result.steps:08d}" / "model.safetensors"))
    # fd of the last epoch: the toy's generated features are the real ones shifted by Σa
    assert history[-1]["fd"] == pytest.approx(3 * float(final["a"].sum()) ** 2, rel=1e-6, abs=1e-9)
    best = min(range(3), key=lambda i: history[i]["fd"])
    assert result.best_metric == "val/fd" and result.best_epoch == best + 1
    assert result.best_value == history[best]["fd"]


class _Stop(Exception):
    pass


def test_stopped_and_resumed_equals_uninterrupted(toy, tmp_path, monkeypatch):
    config = _config(checkpoint_every_steps=1)
    trainer.train(config, tmp_path / "whole", quiet=True)
    original = trainer.ckpt.save_checkpoint

    def save_then_stop(folder, **kwargs):
        path = original(folder, **kwargs)
        if kwargs["state"]["step"] == 3:
            raise _Stop
        return path

    with monkeypatch.context() as patch:
        patch.setattr(trainer.ckpt, "save_checkpoint", save_then_stop)
        with pytest.raises(_Stop):
            trainer.train(config, tmp_path / "resumed", quiet=True)
    state = json.loads(next((tmp_path / "resumed" / "checkpoints").glob("step-*/state.json")).read_text())
    assert sorted(state["optimizer"]["steps"]) == ["first", "second"] and sorted(state["scheduler"]) == ["first", "second"]
    trainer.train(config, tmp_path / "resumed", resume=True, quiet=True)
    whole = load_file(str(tmp_path / "whole" / "model.safetensors"))
    resumed = load_file(str(tmp_path / "resumed" / "model.safetensors"))
    for key in whole:
        assert torch.equal(whole[key], resumed[key]), key
    assert (tmp_path / "whole" / "metrics.jsonl").read_text().count("\n") == \
        (tmp_path / "resumed" / "metrics.jsonl").read_text().count("\n")


def test_resume_refuses_a_checkpoint_of_another_optimiser_layout(toy, tmp_path):
    from polysense.train.checkpoint import CheckpointError, latest_checkpoint, load_checkpoint

    trainer.train(_config(epochs=1), tmp_path / "run", quiet=True)
    model = nn.Linear(2, 1)
    optimizer = torch.optim.AdamW(model.parameters())
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    toy_model = ToyAlternating()
    with pytest.raises(CheckpointError, match="optimisation steps"):
        load_checkpoint(latest_checkpoint(tmp_path / "run" / "checkpoints"), model=toy_model, optimizer=optimizer,
                        scheduler=scheduler)


@pytest.mark.parametrize("option, message", [("overlap", "is in training steps 'first' and 'second'"),
                                             ("leave_out", "belong to no training step")])
def test_badly_declared_steps_are_clear_errors(toy, tmp_path, option, message):
    config = load_config({**_config().to_dict(), "model": {"name": "toy_alternating", option: True}})
    with pytest.raises(ConfigError, match=message):
        trainer.train(config, tmp_path / "run", quiet=True)


def _train_in_group(rank: int, config: dict, out: str) -> None:
    register("model", "toy_alternating")(ToyAlternating)
    trainer.train(load_config(config), out, quiet=True)


def test_two_processes_equal_one(toy, tmp_path):
    """DDP (gloo, CPU): the toy's losses do not depend on the batch, so the averaged gradients of two
    processes are one process's, and the trajectories agree."""
    from tests._multiprocess import run_in_processes

    config = _config(max_steps=3).to_dict()
    trainer.train(load_config(config), tmp_path / "one", quiet=True)
    run_in_processes(_train_in_group, world_size=2, store=tmp_path / "store", args=(config, str(tmp_path / "two")),
                     deadline_s=300, name="two-process alternating training")
    one = load_file(str(tmp_path / "one" / "checkpoints" / "step-00000003" / "model.safetensors"))
    two = load_file(str(tmp_path / "two" / "checkpoints" / "step-00000003" / "model.safetensors"))
    for key in one:
        torch.testing.assert_close(one[key], two[key], rtol=0, atol=1e-6)
    assert json.loads((tmp_path / "two" / "run.json").read_text())["world_size"] == 2
