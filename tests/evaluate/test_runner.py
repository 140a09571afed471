"""evaluate_run on trained runs: the main demo end to end, compare, and refusals of bad data."""

from __future__ import annotations

import json

import pytest

from polysense.errors import ParameterError
from polysense.evaluate.compare import compare_configs
from polysense.evaluate.runner import evaluate_run
from polysense.train.config import load_config
from polysense.train.trainer import train

from tests.train.helpers import tiny_fusion

TINY = ("data.num_samples=96", "train.epochs=1", "train.batch_size=16")


def test_demo_trains_evaluates_and_compares_every_model(tmp_path):
    from polysense.demo import DEMO_CONFIGS, run_demo

    lines: list[str] = []
    rows = run_demo(tmp_path, overrides=TINY, say=lines.append)
    assert [r["run"] for r in rows] == [name for name, _, _ in DEMO_CONFIGS] + ["stacking-ensemble"]
    table = (tmp_path / "comparison.md").read_text()
    for row in rows:
        assert row["score"] == ("R@1" if row["run"] in ("clip", "vsepp") else "accuracy")
        assert f"| {row['run']} |" in table and f"| {row['value']:.3f} |" in table, row
        if row["run"] == "stacking-ensemble":
            continue
        # the row reports the run's own test evaluation: its accuracy, or R@1 averaged over both directions
        evaluation = json.loads((tmp_path / row["run"] / "evaluation-test.json").read_text())
        if row["score"] == "accuracy":
            assert row["value"] == evaluation["accuracy"], row
        else:
            directions = evaluation["retrieval"]
            assert set(directions) == {"audio_to_text", "text_to_audio"}
            assert row["value"] == pytest.approx(sum(d["r@1"] for d in directions.values()) / 2, abs=1e-12), row
    assert "| hybrid-fusion |" in table and (tmp_path / "comparison.png").stat().st_size > 1000
    clip = json.loads((tmp_path / "clip" / "evaluation-test.json").read_text())
    assert {"audio_to_text", "text_to_audio"} <= set(clip["retrieval"]) and "audio" in clip["zero_shot"]
    report = (tmp_path / "clip" / "report.md").read_text()
    assert "Similarity matrix" in report and "Retrieval examples" in report
    assert (tmp_path / "clip" / "figures" / "retrieval.png").is_file()
    assert any("stacking" in line for line in lines)


def test_compare_refuses_different_data_and_writes_one_table(tmp_path):
    with pytest.raises(ParameterError, match="other data or another seed"):
        compare_configs([_tiny(tmp_path, 0), _tiny(tmp_path, 1)], tmp_path / "x")
    table = compare_configs([_tiny(tmp_path, 0), "synthetic-late"], tmp_path / "cmp",
                            overrides=["data.num_samples=96", "train.epochs=1", "train.batch_size=16"], quiet=True)
    assert "| tiny0 |" in table and "| synthetic-late |" in table
    assert (tmp_path / "cmp" / "comparison.png").is_file()


def _tiny(folder, seed):
    import yaml

    path = folder / f"tiny{seed}.yaml"
    path.write_text(yaml.safe_dump(tiny_fusion(epochs=1, seed=seed)))
    return str(path)


def test_evaluate_refuses_other_classes_and_other_rates(tmp_path):
    run = tmp_path / "run"
    train(load_config(tiny_fusion(epochs=1, max_steps=1)), run, quiet=True)
    other_task = dict(tiny_fusion()["data"], task="audio")
    with pytest.raises(ParameterError, match="differ from the classes the model was trained on"):
        evaluate_run(run, data=other_task)
    other_rate = dict(tiny_fusion()["data"], sample_rate=16000)
    with pytest.raises(ParameterError, match="16000 Hz but the model was trained at 8000 Hz"):
        evaluate_run(run, data=other_rate)
    with pytest.raises(ParameterError, match="split='dev' is invalid"):
        evaluate_run(run, split="dev")
