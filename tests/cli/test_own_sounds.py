"""The README's "Your own sounds" path, command by command, exactly as the README writes it, on a
generated folder with a corrupt and an unlabelled file; each step's result is checked."""

from __future__ import annotations

import csv
import json
import re
import shlex
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from polysense.cli.main import app
from polysense.data.manifest import read_manifest
from polysense.data.synthetic import write_sound_folder

README = Path(__file__).resolve().parents[2] / "README.md"
runner = CliRunner()


def readme_commands() -> list[list[str]]:
    text = README.read_text(encoding="utf-8")
    block = re.search(r"<!-- own-sounds:start -->(.*?)<!-- own-sounds:end -->", text, re.S)
    assert block, "README.md lost its <!-- own-sounds:start/end --> block"
    return [shlex.split(line)[1:] for line in block.group(1).splitlines() if line.startswith("polysense ")]


@pytest.fixture
def user_folder(tmp_path, monkeypatch):
    write_sound_folder(tmp_path / "my-sounds", num_files=36, sample_rate=8000, seed=0)
    (tmp_path / "my-sounds" / "tone" / "site9_broken.wav").write_bytes(b"RIFF....WAVEfmt truncated")
    chirps, tones = (sorted((tmp_path / "my-sounds" / kind).glob("*.wav")) for kind in ("chirp", "tone"))
    shutil.copy(chirps[0], tmp_path / "my-sounds" / "loose.wav")
    new = tmp_path / "new-recordings"
    new.mkdir()
    shutil.copy(chirps[1], new / "unknown.wav")
    shutil.copy(tones[0], new / "second.wav")
    (new / "empty.wav").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    return chirps[1].relative_to(tmp_path / "my-sounds").as_posix()


def test_the_readme_path_runs_end_to_end(user_folder):
    unknown_source = user_folder  # the file new-recordings/unknown.wav is a copy of
    commands = readme_commands()
    assert [c[0] for c in commands] == ["data", "config", "train", "predict", "evaluate", "index", "search", "export"]
    outputs = []
    for args in commands:
        result = runner.invoke(app, args)
        assert result.exit_code == 0, f"polysense {shlex.join(args)}\n{result.output}"
        outputs.append(" ".join(result.output.split()))
    folder_out, _, _, predict_out, evaluate_out, _, search_out, export_out = outputs

    manifest = read_manifest("my-sounds/manifest.csv")
    assert len(manifest) == 36 and manifest.classes == ("chirp", "harmonic", "tone")
    assert "loose.wav: no label" in folder_out and "site9_broken.wav: not a readable audio file" in folder_out
    splits_of_group = {}
    for row in manifest.rows:
        splits_of_group.setdefault(row.group, set()).add(row.split)
    assert all(len(s) == 1 for s in splits_of_group.values()) and {"train", "val", "test"} <= set().union(*splits_of_group.values())

    config = yaml.safe_load(Path("my.yaml").read_text())
    assert config["model"]["num_classes"] == 3 and config["data"]["path"] == "my-sounds/manifest.csv"
    assert Path("runs/mine/model.safetensors").is_file() and Path("runs/mine/report.md").is_file()
    assert "threads" in json.loads(Path("runs/mine/run.json").read_text())

    with open("predictions.csv", newline="") as handle:
        predicted = list(csv.DictReader(handle))
    assert sorted(Path(r["file"]).name for r in predicted) == ["second.wav", "unknown.wav"]
    assert all(r["label"] in manifest.classes and 0 < float(r["score"]) <= 1 and r["label_3"] for r in predicted)
    assert "empty.wav" in predict_out  # reported as skipped

    evaluated = json.loads(evaluate_out)
    assert evaluated["items"] == sum(r.split == "test" for r in manifest.rows) and evaluated["classes"] == list(manifest.classes)
    assert unknown_source in search_out.split("│ 2 │")[0]  # the copied file is the nearest neighbour of its copy
    assert "onnxruntime matches PyTorch" in export_out and Path("my-model.onnx").stat().st_size > 10_000
