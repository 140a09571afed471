"""The trainer, by behaviour: it learns, repeats itself, resumes after SIGKILL, refuses to lose work."""

from __future__ import annotations

import json
import math
import signal
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from polysense.models.contract import Model
from polysense.models.output import ClassifierOutput
from polysense.models.registry import register, unregister
from polysense.train.config import ConfigError, load_config
from polysense.train.trainer import (
    TrainingError,
    epoch_batches,
    lr_lambda,
    parameter_groups,
    shard,
    train,
)

from tests.train.helpers import assert_same_run, tiny_fusion, train_until_sigkill



def _metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def test_training_learns_and_writes_the_run_folder(tmp_path):
    run = tmp_path / "run"
    result = train(load_config(tiny_fusion(epochs=3)), run, quiet=True)
    for name in ("config.yaml", "run.json", "model.safetensors", "metrics.jsonl", "result.json",
                 "checkpoints/latest.json"):
        assert (run / name).is_file(), name
    rows = _metrics(run)
    train_losses = [r["loss"] for r in rows if r["split"] == "train"]
    assert len([r for r in rows if r["split"] == "val"]) == 3
    # behaviour: the training loss falls (mean of the last three logged steps vs the first three)
    assert sum(train_losses[-3:]) < sum(train_losses[:3])
    assert result.best_metric == "val/accuracy" and 1 <= result.best_epoch <= 3
    info = json.loads((run / "run.json").read_text())
    assert info["sample_rate"] == 8000 and len(info["classes"]) == 2


def test_same_seed_gives_the_same_run(tmp_path):
    config = load_config(tiny_fusion(epochs=1))
    train(config, tmp_path / "a", quiet=True)
    train(config, tmp_path / "b", quiet=True)
    a, b = _weights(tmp_path / "a" / "model.safetensors"), _weights(tmp_path / "b" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(_metrics(tmp_path / "a")) == strip(_metrics(tmp_path / "b"))


def test_resume_after_sigkill_equals_an_uninterrupted_run(tmp_path):
    config = tiny_fusion(epochs=2, checkpoint_every_steps=1)
    config["augment"] = {"waveform": [{"name": "add_noise", "p": 0.5, "snr_db_min": 10, "snr_db_max": 20}]}
    path = tmp_path / "killed.yaml"
    steps_per_epoch = len(epoch_batches(76, 16, seed=0, epoch=0))
    kill_at = steps_per_epoch + 2  # epoch 2, third batch: mid-epoch
    killed = train_until_sigkill(config, tmp_path / "killed", step=kill_at)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    assert not (tmp_path / "killed" / "result.json").exists()
    pointer = json.loads((tmp_path / "killed" / "checkpoints" / "latest.json").read_text())
    assert pointer["step"] == kill_at
    train(load_config(path), tmp_path / "killed", resume=True, quiet=True)
    train(load_config(path), tmp_path / "whole", quiet=True)
    assert_same_run(tmp_path / "killed", tmp_path / "whole", steps=2 * steps_per_epoch)
    # metrics.jsonl holds each step once: the lines written after the checkpoint were cut on resume
    steps = [r["step"] for r in _metrics(tmp_path / "killed") if r["split"] == "train"]
    assert steps == sorted(set(steps))


class _NanAfterTwoSteps(Model):
    """A linear classifier on the audio's mean whose loss turns NaN at its third training call."""

    kind = "classifier"

    def __init__(self, num_classes: int = 2) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(1, num_classes)
        self.calls = 0

    def forward(self, batch):
        x = batch["audio"].mean(dim=-1, keepdim=True)
        logits = self.linear(x)
        loss = torch.nn.functional.cross_entropy(logits, batch["label"])
        if self.training:
            self.calls += 1
            if self.calls >= 3:
                loss = loss * float("nan")
        return ClassifierOutput(loss=loss, logits=logits)


@pytest.fixture
def nan_model():
    """``_NanAfterTwoSteps`` registered for one test, then removed from the shared registry."""
    register("model", "test_nan_after_two_steps")(_NanAfterTwoSteps)
    yield "test_nan_after_two_steps"
    unregister("model", "test_nan_after_two_steps")


def test_nan_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(tmp_path, nan_model):
    config = tiny_fusion(epochs=1, checkpoint_every_steps=1)
    config["model"] = {"name": nan_model}
    with pytest.raises(TrainingError, match=r"loss is nan at step 2 .*last good checkpoint is .*step-00000002"):
        train(load_config(config), tmp_path / "run", quiet=True)
    assert json.loads((tmp_path / "run" / "checkpoints" / "latest.json").read_text())["step"] == 2


def test_run_folder_guards(tmp_path):
    config = load_config(tiny_fusion(epochs=1, max_steps=1))
    with pytest.raises(ConfigError, match="no run to resume"):
        train(config, tmp_path / "nothing", resume=True, quiet=True)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty and holds no run"):
        train(config, tmp_path / "busy", quiet=True)
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
    train(config, tmp_path / "run", quiet=True)
    with pytest.raises(ConfigError, match="already holds a run.*--resume"):
        train(config, tmp_path / "run", quiet=True)
    other = load_config(tiny_fusion(epochs=1, max_steps=1, seed=5))
    with pytest.raises(ConfigError, match=r"another config \(sections \['train'\]"):
        train(other, tmp_path / "run", resume=True, quiet=True)
    wider = tiny_fusion(epochs=1, max_steps=1)
    wider["model"]["encoders"]["audio"]["dim"] = 24
    with pytest.raises(ConfigError, match=r"another config \(sections \['model'\]"):
        train(load_config(wider), tmp_path / "run", resume=True, quiet=True)


def test_no_validation_split_is_refused(tmp_path):
    config = tiny_fusion(epochs=1)
    config["data"]["fractions"] = [0.9, 0.0, 0.1]
    with pytest.raises(ConfigError, match="the data has no validation split"):
        train(load_config(config), tmp_path / "run", quiet=True)


def test_schedule_warmup_then_cosine():
    factor = lr_lambda(100, 10, "cosine", 0.1)
    assert factor(0) == pytest.approx(0.1) and factor(9) == pytest.approx(1.0)
    assert factor(10) == pytest.approx(1.0)
    assert factor(55) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5)))
    assert factor(100) == pytest.approx(0.1)
    assert lr_lambda(100, 0, "constant", 0.0)(50) == 1.0


def test_weight_decay_on_matrices_only():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4), torch.nn.Linear(4, 2))
    groups = parameter_groups(model, 0.05)
    decayed = {id(p) for g in groups if g["weight_decay"] == 0.05 for p in g["params"]}
    assert decayed == {id(model[0].weight), id(model[2].weight)}
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def test_epoch_order_is_seeded_and_shards_rebuild_the_global_batch():
    a = epoch_batches(50, 8, seed=1, epoch=0)
    assert a == epoch_batches(50, 8, seed=1, epoch=0) and a != epoch_batches(50, 8, seed=1, epoch=1)
    assert all(len(b) == 8 for b in a) and len(a) == 6  # the partial batch is dropped
    assert len({i for b in a for i in b}) == 48
    batch = a[0]
    assert shard(batch, 0, 2) + shard(batch, 1, 2) == batch
    assert epoch_batches(5, 8, seed=0, epoch=0, shuffle=False) == [[0, 1, 2, 3, 4]]
