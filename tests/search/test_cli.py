"""``polysense index`` / ``search`` over a real run folder (load_run), through the typer app."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from polysense.cli.main import app
from tests.search.conftest import REPO_SRC, write_run

runner = CliRunner()


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


def test_index_then_search_with_a_run_folder(run_dir, collection, tmp_path):
    idx = tmp_path / "idx"
    first = invoke("index", run_dir, collection, "-o", idx, "--window", 5, "--hop", 4, "--json")
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert (report["files"], report["vectors"], report["index_type"]) == (7, 9, "flat")
    assert [s["path"] for s in report["skipped"]] == ["broken.wav"]
    second = json.loads(invoke("index", run_dir, collection, "-o", idx, "--window", 5, "--hop", 4, "--json").stdout)
    assert (second["changed"], second["embedded"]) == (False, 0)

    hits = json.loads(invoke("search", idx, "a dog barking", "-k", 3, "--json").stdout)  # model from the index
    assert len(hits) == 3 and [h["rank"] for h in hits] == [1, 2, 3]
    assert hits[0]["score"] >= hits[1]["score"] >= hits[2]["score"]
    by_audio = json.loads(invoke("search", idx, "--audio", collection / "clip2.wav", "-k", 1, "--json").stdout)
    assert by_audio[0]["key"] == "clip2.wav" and by_audio[0]["score"] == pytest.approx(1.0, abs=1e-4)
    like = json.loads(invoke("search", idx, "--like", "clip2.wav", "-k", 2, "--json").stdout)
    assert all(h["key"] != "clip2.wav" for h in like)
    table = invoke("search", idx, "a dog barking", "-k", 2)
    assert table.exit_code == 0 and "score" in table.stdout


def test_cli_errors_are_one_line(run_dir, collection, tmp_path):
    idx = tmp_path / "idx"
    invoke("index", run_dir, collection, "-o", idx)
    other = write_run(tmp_path / "other", seed=1)
    wrong = invoke("search", idx, "a dog", "--run", other)
    assert wrong.exit_code == 1 and "not comparable" in wrong.output
    missing = invoke("search", tmp_path / "nothing", "a dog")
    assert missing.exit_code == 1 and "holds no index" in missing.output
    both = invoke("search", idx, "a dog", "--like", "clip0.wav")
    assert both.exit_code == 1 and "exactly one query" in both.output
    bad_run = invoke("index", tmp_path / "norun", collection, "-o", idx)
    assert bad_run.exit_code == 1 and "run folder not found" in bad_run.output
    bad_type = invoke("index", run_dir, collection, "-o", idx, "--index", "lsh")
    assert bad_type.exit_code == 1 and "--index" in bad_type.output


@pytest.mark.slow
def test_torchrun_shards_the_embedding(run_dir, collection, tmp_path):
    """2 processes (torchrun, gloo) build the same index as one process."""
    from polysense.search import Index

    env = {"PYTHONPATH": str(REPO_SRC), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "polysense", "index", str(run_dir), str(collection), "-o", str(tmp_path / "two"),
           "--window", "5", "--hop", "4", "--json"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["vectors"] == 9  # rank 0 alone prints the report
    invoke("index", run_dir, collection, "-o", tmp_path / "one", "--window", 5, "--hop", 4)
    with Index.open(tmp_path / "one") as one, Index.open(tmp_path / "two") as two:
        a = {h.item_id: h.score for h in one.search(text="a bell", k=20)}
        b = {h.item_id: h.score for h in two.search(text="a bell", k=20)}
        assert a.keys() == b.keys() and all(a[key] == pytest.approx(b[key], abs=1e-5) for key in a)


def test_serve_binds_loopback_by_default(run_dir, collection, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr("polysense.search.server.serve", lambda index, **kw: calls.append((index, kw)))
    idx = tmp_path / "idx"
    invoke("index", run_dir, collection, "-o", idx)
    assert invoke("serve", idx).exit_code == 0
    index, kwargs = calls[0]
    assert kwargs == {"host": "127.0.0.1", "port": 8000, "max_upload_bytes": None}  # None: polysense.limits
    assert index.embedder.source == str(run_dir.resolve())  # the model was loaded before serving
    wide = invoke("serve", idx, "--host", "0.0.0.0", "--max-upload-mb", 1)
    assert wide.exit_code == 0 and "warning" in wide.output and calls[1][1]["host"] == "0.0.0.0"
    missing = invoke("serve", tmp_path / "none")
    assert missing.exit_code == 1 and "holds no index" in missing.output and len(calls) == 2
