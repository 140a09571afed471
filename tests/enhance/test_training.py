"""The enhancement configs through the one trainer, end to end on a few real FSDD recordings: train,
pick the best validation epoch, evaluate the run, and run the command-line tools on the result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from polysense.cli.main import app
from polysense.evaluate.runner import evaluate_run
from polysense.train.config import load_config
from polysense.train.trainer import train

TINY = {
    "fsdd-denoise": ["model.channels=[4,8]", "data.repeats=1"],
    "fsdd-separate": ["model.channels=[4,8]", "model.rnn_hidden=4", "data.synthetic_voices=0"],
}


@pytest.mark.parametrize("name", sorted(TINY))
def test_config_trains_evaluates_and_serves_the_command_line(name, fsdd_dir, tmp_path: Path):
    overrides = [f"data.fsdd_folder={fsdd_dir}", "data.max_per_speaker=4", "data.val_fraction=0.25",
                 "train.epochs=2", "train.max_batches_per_epoch=2", "train.batch_size=4", *TINY[name]]
    result = train(load_config(name, overrides), tmp_path / "run", quiet=True)
    assert result.steps == 4 and result.best_metric == "val/si_sdri" and np.isfinite(result.best_value)
    assert [h["epoch"] for h in result.history] == [1, 2]
    metrics = evaluate_run(tmp_path / "run")
    flat = {k: v for k, v in _flatten(metrics).items() if isinstance(v, float)}
    assert any(k.endswith("si_sdri") for k in flat) and all(np.isfinite(v) for v in flat.values())
    sf.write(tmp_path / "in.wav", (0.1 * np.random.default_rng(0).standard_normal(12_000)).astype(np.float32), 16_000)
    command = (["denoise", str(tmp_path / "run"), str(tmp_path / "in.wav"), "-o", str(tmp_path / "out.wav")]
               if name == "fsdd-denoise" else
               ["separate", str(tmp_path / "run"), str(tmp_path / "in.wav"), "-o", str(tmp_path / "out")])
    outcome = CliRunner().invoke(app, command)
    assert outcome.exit_code == 0, outcome.output
    written = [tmp_path / "out.wav"] if name == "fsdd-denoise" else sorted((tmp_path / "out").glob("source*.wav"))
    assert len(written) == (1 if name == "fsdd-denoise" else 2)
    assert all(sf.info(p).samplerate == 16_000 and sf.info(p).frames == 12_000 for p in written)  # input rate kept


def _flatten(value, prefix: str = "") -> dict:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}{k}/"))
        return out
    return {prefix.rstrip("/"): value}
