"""RunFolder owns a run's files: their names, reads and atomic writes; one `polysense train`
builds its dataset once."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

from polysense.cli.main import app
from polysense.data.registry import build_data, register_dataset, unregister_dataset
from polysense.errors import ParameterError
from polysense.train.run import RunFolder, load_run
from tests.train.helpers import TINY_DATA, tiny_clip


@pytest.fixture
def counted_data():
    """The tiny synthetic data under a test-only name that counts its builds (removed after)."""
    builds = []

    @register_dataset("test-counted-synthetic")
    def counted(*, seed, **options):
        builds.append(seed)
        return build_data(dict(TINY_DATA, **options), seed=seed)

    yield builds
    unregister_dataset("test-counted-synthetic")


def test_one_train_command_builds_its_data_once_and_writes_every_file_by_its_name(counted_data, tmp_path):
    config = tiny_clip(epochs=1)
    config["data"] = {"name": "test-counted-synthetic"}
    path = tmp_path / "clip.yaml"
    path.write_text(yaml.safe_dump(config))
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", str(path), "--out", str(run), "--quiet"])
    assert result.exit_code == 0, result.output
    # trainer, the test-split probe, the evaluation and the report's retrieval figure each built it before
    assert counted_data == [0]
    folder = RunFolder(run)
    for name in (folder.CONFIG, folder.INFO, folder.WEIGHTS, folder.TOKENIZER, folder.METRICS, folder.RESULT,
                 folder.REPORT, "evaluation-test.json"):
        assert (run / name).is_file(), name
    assert (folder.figures_dir / "retrieval.png").is_file() and folder.checkpoints_dir.is_dir()
    assert folder.finished() and folder.read_result()["epochs_run"] == 1
    assert folder.read_evaluation("test")["items"] == len(folder.build_data().test)
    assert folder.read_config()["data"] == {"name": "test-counted-synthetic"}
    assert [row for row in folder.read_metrics() if row.get("split") == "val"]
    assert load_run(run).tokenizer is not None  # the run's tokenizer.json, found through the folder


def test_reads_say_what_is_missing(tmp_path):
    with pytest.raises(ParameterError, match="run folder not found"):
        RunFolder(tmp_path / "absent").read_config()
    with pytest.raises(ParameterError, match=r"not a run folder \(no config.yaml\)"):
        RunFolder(tmp_path).read_config()
    (tmp_path / "config.yaml").write_text("data: {}\n")
    with pytest.raises(ParameterError, match="no model section"):
        RunFolder(tmp_path).read_config()
    assert RunFolder(tmp_path).read_info() == {} and RunFolder(tmp_path).read_result() == {}
    assert not RunFolder(tmp_path).finished() and RunFolder(tmp_path).read_metrics() == []


def test_writes_are_atomic_and_read_back(tmp_path):
    folder = RunFolder(tmp_path / "new")
    folder.write_config({"model": {"name": "clip"}, "data": {"name": "synthetic"}})
    folder.write_info({"sample_rate": 8000})
    folder.write_result({"best_epoch": 2})
    folder.write_evaluation("val", {"accuracy": 0.5})
    assert folder.read_config()["model"] == {"name": "clip"}
    assert folder.read_info() == {"sample_rate": 8000} and folder.read_result() == {"best_epoch": 2}
    assert folder.read_evaluation("val") == {"accuracy": 0.5} and folder.finished()
    assert sorted(p.name for p in folder.path.iterdir()) == ["config.yaml", "evaluation-val.json", "result.json",
                                                              "run.json"]  # no temporary file left behind
