"""`polysense train | evaluate | compare | config | data fsdd`: what a person types and sees."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from polysense.cli.main import app
from tests.train.helpers import tiny_fusion

runner = CliRunner()


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    config = folder / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_fusion(epochs=1)))
    run = folder / "run"
    result = runner.invoke(app, ["train", str(config), "--out", str(run), "--quiet"])
    assert result.exit_code == 0, result.output
    return config, run


def test_train_writes_a_report_with_figures(trained_run):
    _, run = trained_run
    report = (run / "report.md").read_text()
    assert "## Metrics" in report and "![Training curves](figures/curves.png)" in report
    assert "![Confusion matrix](figures/confusion.png)" in report
    assert (run / "figures" / "curves.png").stat().st_size > 1000
    evaluation = json.loads((run / "evaluation-test.json").read_text())
    # the accuracy is the confusion matrix's diagonal share, and the robustness table starts from it
    confusion = evaluation["confusion"]
    correct = sum(row[i] for i, row in enumerate(confusion))
    assert evaluation["accuracy"] == pytest.approx(correct / sum(map(sum, confusion)), abs=1e-12)
    assert set(evaluation["robustness"]) == {"all", "without audio", "without image"}
    assert evaluation["robustness"]["all"] == pytest.approx(evaluation["accuracy"], abs=1e-12)


def test_evaluate_json_prints_one_object(trained_run):
    _, run = trained_run
    result = runner.invoke(app, ["evaluate", str(run), "--json", "--no-report"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    assert {"accuracy", "macro_f1", "per_group", "confusion"} <= set(metrics)
    assert metrics["split"] == "test"
    val = json.loads(runner.invoke(app, ["evaluate", str(run), "--json", "--split", "val", "--no-report"]).output)
    assert val["split"] == "val" and val["items"] > 0


def test_train_refuses_a_folder_holding_a_run(trained_run):
    config, run = trained_run
    result = runner.invoke(app, ["train", str(config), "--out", str(run), "--quiet"])
    assert result.exit_code == 1
    assert "already holds a run" in result.output and "Traceback" not in result.output


def test_unknown_key_is_one_line_and_exit_1(tmp_path):
    config = tiny_fusion()
    config["train"]["epoch"] = 3
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    result = runner.invoke(app, ["train", str(path), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1
    assert "train.epoch: unknown key" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "run").exists()


def test_corrupt_or_foreign_weights_are_named(trained_run, tmp_path):
    _, run = trained_run
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    (copy / "model.safetensors").write_bytes(b"not safetensors")
    result = runner.invoke(app, ["evaluate", str(copy), "--json"])
    assert result.exit_code == 1 and "corrupt" in result.output and "model.safetensors" in result.output
    # weights of another model: change the config's encoder width
    shutil.copy(run / "model.safetensors", copy / "model.safetensors")
    saved = yaml.safe_load((copy / "config.yaml").read_text())
    saved["model"]["encoders"]["audio"]["dim"] = 24
    (copy / "config.yaml").write_text(yaml.safe_dump(saved))
    result = runner.invoke(app, ["evaluate", str(copy), "--json"])
    assert result.exit_code == 1 and "belong to another model" in result.output


def test_evaluate_a_folder_that_is_no_run(tmp_path):
    result = runner.invoke(app, ["evaluate", str(tmp_path)])
    assert result.exit_code == 1 and "not a run folder" in result.output


def test_config_list_and_show():
    listed = runner.invoke(app, ["config", "list"])
    assert listed.exit_code == 0 and "synthetic-early" in listed.output and "synthetic-clip" in listed.output
    shown = runner.invoke(app, ["config", "show", "synthetic-late"])
    assert shown.exit_code == 0 and "base: synthetic-early" in shown.output
    resolved = runner.invoke(app, ["config", "show", "synthetic-late", "--resolved"])
    assert resolved.exit_code == 0 and yaml.safe_load(resolved.output)["model"]["name"] == "late_fusion"
    missing = runner.invoke(app, ["config", "show", "no-such-config"])
    assert missing.exit_code == 1 and "no built-in config named" in missing.output


def test_data_fsdd_writes_a_speaker_independent_manifest(fsdd_dir, tmp_path):
    out = tmp_path / "fsdd.csv"
    result = runner.invoke(app, ["data", "fsdd", str(fsdd_dir), "-o", str(out), "--test-speakers", "nicolas",
                                 "--val-speakers", "theo"])
    assert result.exit_code == 0, result.output
    import csv

    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2000
    by_split = {}
    for row in rows:
        by_split.setdefault(row["split"], set()).add(row["group"])
    assert by_split["test"] == {"nicolas"} and by_split["val"] == {"theo"}
    assert not by_split["train"] & {"nicolas", "theo"}
    bad = runner.invoke(app, ["data", "fsdd", str(fsdd_dir), "-o", str(out), "--test-speakers", "george"])
    assert bad.exit_code == 1 and "george" in bad.output
