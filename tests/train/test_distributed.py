"""Two processes (DDP on gloo) follow the same trajectory as one process on the same global batch."""

from __future__ import annotations

import json

import torch
from safetensors.torch import load_file

from polysense.train.config import load_config
from polysense.train.trainer import train

from tests._multiprocess import run_in_processes
from tests.train.helpers import tiny_clip


def _train_in_group(rank: int, config: dict, out: str) -> None:
    train(load_config(config), out, quiet=True)


def test_two_processes_equal_one_on_the_global_batch(tmp_path):
    # CLIP: the contrastive loss gathers embeddings across processes; no BatchNorm, no dropout
    config = tiny_clip(max_steps=3, batch_size=16)
    train(load_config(config), tmp_path / "one", quiet=True)
    run_in_processes(_train_in_group, world_size=2, store=tmp_path / "store", args=(config, str(tmp_path / "two")),
                     deadline_s=300, name="two-process training")
    one = load_file(str(tmp_path / "one" / "model.safetensors"))
    two = load_file(str(tmp_path / "two" / "model.safetensors"))
    assert one.keys() == two.keys()
    # tolerance: float32 sums in another order over 3 AdamW steps (measured max difference ~1e-7)
    worst = max(float((one[k] - two[k]).abs().max()) for k in one)
    assert worst < 1e-4, f"parameters differ by {worst}"
    loss = lambda run: [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()  # noqa: E731
                        if json.loads(x)["split"] == "train"]
    for a, b in zip(loss(tmp_path / "one"), loss(tmp_path / "two")):
        assert abs(a["loss"] - b["loss"]) < 1e-4, (a, b)
    info = json.loads((tmp_path / "two" / "run.json").read_text())
    assert info["world_size"] == 2
    # the runs moved away from the initial weights (same seed, same builder), so the equality is of trained models
    import yaml

    from polysense.models.registry import build_model
    from polysense.train.run import resolve_model_paths
    from polysense.train.trainer import seed_everything

    seed_everything(0)
    saved = yaml.safe_load((tmp_path / "one" / "config.yaml").read_text())
    initial = build_model(resolve_model_paths(saved["model"], tmp_path / "one")).state_dict()
    moved = max(float((one[k] - initial[k]).abs().max()) for k in one)
    assert moved > 1e-3
