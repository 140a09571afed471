"""`polysense data check` and `polysense data split`: output, bad rows named, exit status."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from polysense.cli.main import app
from polysense.data.manifest import read_manifest
from tests.data.manifest_helpers import COLUMNS, make_manifest, make_rows, write_csv

runner = CliRunner()


def test_check_clean_manifest_exits_0_with_tables(tmp_path):
    path = make_manifest(tmp_path, 12)
    result = runner.invoke(app, ["data", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert "usable" in result.output and "NOT usable" not in result.output
    assert "Class balance per split" in result.output and "8000 Hz (12)" in result.output


def test_check_bad_manifest_exits_1_and_names_each_bad_row(tmp_path):
    make_manifest(tmp_path, 6)
    (tmp_path / "audio" / "a2.wav").write_bytes(b"RIFF")
    (tmp_path / "images" / "i4.png").unlink()
    result = runner.invoke(app, ["data", "check", str(tmp_path / "manifest.csv")])
    assert result.exit_code == 1
    out = " ".join(result.output.split())  # rich wraps long cells
    assert "NOT usable" in out
    assert "row 3 (line 4), id 's2'" in out and "row 5 (line 6), id 's4'" in out
    json_out = json.loads(runner.invoke(app, ["data", "check", str(tmp_path / "manifest.csv"), "--json"]).output)
    assert [(e["row"], e["column"]) for e in json_out["errors"]] == [(3, "audio"), (5, "image")]
    assert json_out["errors"][1]["message"] == "image images/i4.png: file not found"


def test_check_json_output(tmp_path):
    rows = make_rows(tmp_path, 4)
    rows[1]["label"] = "-x"
    path = write_csv(tmp_path / "m.csv", rows, COLUMNS)
    result = runner.invoke(app, ["data", "check", str(path), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["usable"] is False and [e["row"] for e in report["errors"]] == [2]
    assert "neither an integer class id" in report["errors"][0]["message"]


def test_check_outside_paths_need_the_flag(tmp_path):
    folder = tmp_path / "d"
    make_rows(tmp_path, 2)  # files in tmp_path/audio, outside d/
    folder.mkdir()
    path = write_csv(folder / "m.csv", [{"id": "a", "audio": "../audio/a0.wav"}])
    assert runner.invoke(app, ["data", "check", str(path)]).exit_code == 1
    assert runner.invoke(app, ["data", "check", str(path), "--allow-outside"]).exit_code == 0


def test_split_writes_a_group_aware_split_column(tmp_path):
    rows = make_rows(tmp_path, 24, groups=8)
    path = write_csv(tmp_path / "m.csv", rows, ["id", "audio", "label", "group"])
    out = tmp_path / "split.csv"
    result = runner.invoke(app, ["data", "split", str(path), "-o", str(out), "--fractions", "0.5,0.25,0.25", "--seed", "3"])
    assert result.exit_code == 0, result.output
    m = read_manifest(out)
    where = {}
    for r in m:
        assert where.setdefault(r.group, r.split) == r.split
    assert {r.split for r in m} == {"train", "val", "test"}
    again = tmp_path / "again.csv"
    runner.invoke(app, ["data", "split", str(path), "-o", str(again), "--fractions", "0.5,0.25,0.25", "--seed", "3"])
    assert again.read_text() == out.read_text()  # reproducible


def test_split_reports_errors(tmp_path):
    rows = make_rows(tmp_path, 3, groups=1)
    path = write_csv(tmp_path / "m.csv", rows, ["id", "audio", "label", "group"])
    result = runner.invoke(app, ["data", "split", str(path), "-o", str(tmp_path / "o.csv")])
    assert result.exit_code == 1 and "group" in result.output
