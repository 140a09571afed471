"""`polysense generate`: clips at the run's rate with a manifest of what was asked, reproducible by
seed; bad input (label, speaker, n, output folder) is a clear error and leaves nothing behind."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
import torch
import soundfile as sf
import yaml
from typer.testing import CliRunner

from polysense.cli.main import app

runner = CliRunner()

TINY_GAN = {"name": "specgan", "n_fft": 64, "hop_length": 32, "frames": 16, "latent_dim": 8, "embed_dim": 4,
            "channels": [8, 4], "discriminator_channels": [4, 8], "feature_mels": 8, "griffin_lim_iters": 2}


def _train(folder, data: dict, model: dict):
    config = folder / "gan.yaml"
    select = {"select_metric": "fd", "select_mode": "min"} if model["name"] == "specgan" else {}
    config.write_text(yaml.safe_dump({
        "name": "tiny-gan", "data": data, "model": model,
        "train": {"epochs": 1, "batch_size": 8, "max_batches_per_epoch": 2, "eval_batch_size": 16, **select}}))
    run = folder / "run"
    result = runner.invoke(app, ["train", str(config), "--out", str(run), "--quiet", "--no-report"])
    assert result.exit_code == 0, result.output
    return run


@pytest.fixture(scope="module")
def label_run(tmp_path_factory):
    """A generator conditioned on the synthetic data's labels only."""
    folder = tmp_path_factory.mktemp("gen")
    return _train(folder, {"name": "synthetic", "num_samples": 48, "sample_rate": 8000, "task": "both"},
                  {**TINY_GAN, "num_classes": 2})


@pytest.fixture(scope="module")
def speaker_run(tmp_path_factory, fsdd_dir):
    """A generator conditioned on digit and speaker (FSDD takes 0-1 of two speakers)."""
    folder = tmp_path_factory.mktemp("gen_speakers")
    recordings = folder / "recordings"
    recordings.mkdir()
    for speaker in ("jackson", "theo"):
        for digit in range(10):
            for take in (0, 1):
                shutil.copyfile(fsdd_dir / f"{digit}_{speaker}_{take}.wav", recordings / f"{digit}_{speaker}_{take}.wav")
    return _train(folder, {"name": "fsdd_takes", "fsdd_folder": str(recordings), "clip_samples": 480,
                           "test_takes": [], "val_takes": [1]},
                  {**TINY_GAN, "num_classes": 10, "num_speakers": 2})


def _rows(folder):
    with open(folder / "manifest.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_generate_writes_clips_and_a_manifest_reproducible_by_seed(label_run, tmp_path):
    classes = json.loads((label_run / "run.json").read_text())["classes"]
    result = runner.invoke(app, ["generate", str(label_run), "--label", "1", "-n", "3", "-o", str(tmp_path / "a"),
                                 "--seed", "5", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert [c["seed"] for c in listed["clips"]] == [5, 6, 7] and listed["sample_rate"] == 8000
    rows = _rows(tmp_path / "a")
    assert [(r["label"], r["speaker"], r["seed"]) for r in rows] == [(classes[1], "", "5"), (classes[1], "", "6"),
                                                                     (classes[1], "", "7")]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted([r["file"] for r in rows] + ["manifest.csv"])
    for row in rows:
        info = sf.info(tmp_path / "a" / row["file"])
        assert info.samplerate == 8000 and info.frames == 32 * 15
    # clip i is seed S+i: asking for seed 6 alone (by class name) makes clip 1 again, byte for byte
    again = runner.invoke(app, ["generate", str(label_run), "--label", classes[1], "-n", "1", "-o", str(tmp_path / "b"),
                                "--seed", "6"])
    assert again.exit_code == 0, again.output
    assert (tmp_path / "b" / rows[1]["file"]).read_bytes() == (tmp_path / "a" / rows[1]["file"]).read_bytes()
    assert (tmp_path / "a" / rows[0]["file"]).read_bytes() != (tmp_path / "a" / rows[1]["file"]).read_bytes()


@pytest.mark.parametrize("args, message", [
    (["--label", "7", "-n", "2"], "is not a label of this run: choose one of 0 ("),
    (["--label", "1", "-n", "2", "--speaker", "theo"], "not conditioned on speakers"),
    (["--label", "1", "-n", "0"], "-n"),
    (["--label", "1", "-n", "6"], "POLYSENSE_MAX_GENERATED_CLIPS"),
])
def test_bad_input_is_a_clear_error_and_writes_nothing(label_run, tmp_path, monkeypatch, args, message):
    monkeypatch.setenv("POLYSENSE_MAX_GENERATED_CLIPS", "5")
    result = runner.invoke(app, ["generate", str(label_run), *args, "-o", str(tmp_path / "out")])
    assert result.exit_code == 1, result.output
    assert message in result.output and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_a_folder_holding_files_is_refused_and_left_alone(label_run, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    result = runner.invoke(app, ["generate", str(label_run), "--label", "0", "-n", "2", "-o", str(out)])
    assert result.exit_code == 1 and "already holds files" in result.output
    assert [p.name for p in out.iterdir()] == ["mine.txt"] and sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_failure_midway_leaves_nothing_half_written(label_run, tmp_path, monkeypatch):
    import polysense.audio
    from polysense.synthesis import generate_to_folder

    original, calls = polysense.audio.save, []

    def fail_on_second(path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        return original(path, *args, **kwargs)

    monkeypatch.setattr(polysense.audio, "save", fail_on_second)
    with pytest.raises(OSError, match="disk full"):
        generate_to_folder(label_run, label=0, n=3, out_dir=tmp_path / "out")
    assert list(tmp_path.iterdir()) == []  # neither the folder nor its temporary twin


def test_a_speaker_conditioned_run_knows_its_speakers(speaker_run, tmp_path):
    bad = runner.invoke(app, ["generate", str(speaker_run), "--label", "7", "--speaker", "nicolas", "-o",
                              str(tmp_path / "x")])
    assert bad.exit_code == 1 and "choose one of jackson, theo" in bad.output and not (tmp_path / "x").exists()
    good = runner.invoke(app, ["generate", str(speaker_run), "--label", "7", "--speaker", "theo", "-n", "2", "-o",
                               str(tmp_path / "y")])
    assert good.exit_code == 0, good.output
    assert [(r["label"], r["speaker"]) for r in _rows(tmp_path / "y")] == [("seven", "theo")] * 2


def test_evaluate_generated_measures_a_folder_with_an_independent_classifier(label_run, tmp_path):
    from tests.train.helpers import TINY_AUDIO

    classifier = _train(tmp_path, {"name": "synthetic", "num_samples": 48, "sample_rate": 8000, "task": "both"},
                        {"name": "classifier", "modality": "audio", "encoder": dict(TINY_AUDIO), "num_classes": 2})
    for label, folder in (("0", "a"), ("1", "b")):
        made = runner.invoke(app, ["generate", str(label_run), "--label", label, "-n", "3", "-o", str(tmp_path / folder)])
        assert made.exit_code == 0, made.output
    result = runner.invoke(app, ["evaluate-generated", str(tmp_path / "a"), "--classifier", str(classifier),
                                 "--reference", str(tmp_path / "a"), "--json"])
    assert result.exit_code == 0, result.output
    measures = json.loads(result.output)
    # the same clips as reference: the same accuracy, no distance
    assert measures["generated"]["clips"] == 3 and measures["generated"]["accuracy"] == measures["reference"]["accuracy"]
    assert measures["generated"]["fd"] == pytest.approx(0.0, abs=1e-9)
    other = json.loads(runner.invoke(app, ["evaluate-generated", str(tmp_path / "b"), "--classifier", str(classifier),
                                           "--reference", str(tmp_path / "a"), "--json"]).output)
    assert other["generated"]["fd"] > 0
    missing = runner.invoke(app, ["evaluate-generated", str(tmp_path), "--classifier", str(classifier)])
    assert missing.exit_code == 1 and "no manifest.csv" in missing.output


def test_explain_synthesis_draws_griffin_lim_and_a_generator_grid(label_run, tmp_path, fsdd_dir, monkeypatch):
    from polysense.explain.synthesis import spectral_convergence, synthesis_figure

    result = runner.invoke(app, ["explain", "synthesis", "--run", str(label_run), "-o", str(tmp_path / "s.png")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "s.png").stat().st_size > 10_000
    figure = synthesis_figure(run_dir=label_run)
    titles = [ax.get_title() for ax in figure.axes]
    assert sum(t.startswith("generated ") for t in titles) == 2 and sum(t.startswith("real ") for t in titles) == 2
    # Griffin-Lim's spectral convergence falls with the iterations (titles "... (SC x.xx)")
    convergence = [float(t.split("SC ")[1].rstrip(")")) for t in titles if "Griffin-Lim" in t]
    assert len(convergence) == 3 and convergence[0] > convergence[1] > convergence[2]
    tone = torch.sin(torch.arange(4000) * 0.3).double()
    exact = torch.stft(tone, 256, 64, window=torch.hann_window(256, dtype=torch.float64), pad_mode="constant",
                       return_complex=True).abs()  # polysense's librosa convention: centred, zero-padded
    assert spectral_convergence(exact, tone, n_fft=256, hop_length=64) == pytest.approx(0.0, abs=1e-6)
    empty = tmp_path / "no-fsdd"
    empty.mkdir()
    monkeypatch.setenv("POLYSENSE_FSDD", str(empty))  # no real clips to set beside the generated ones: said, not dropped
    alone = runner.invoke(app, ["explain", "synthesis", "--run", str(label_run), "-o", str(tmp_path / "n.png")])
    assert alone.exit_code == 1 and "holds 0 of them: set POLYSENSE_FSDD" in alone.output, alone.output
    assert not (tmp_path / "n.png").exists()
    wrong = runner.invoke(app, ["explain", "aliasing", "--run", str(label_run), "-o", str(tmp_path / "a.png")])
    assert wrong.exit_code == 1 and "draws no trained model" in wrong.output


def test_train_report_of_a_generator_shows_generated_beside_real(tmp_path):
    config = tmp_path / "gan.yaml"
    config.write_text(yaml.safe_dump({
        "name": "tiny-gan", "data": {"name": "synthetic", "num_samples": 48, "sample_rate": 8000, "task": "both"},
        "model": {**TINY_GAN, "num_classes": 2},
        "train": {"epochs": 1, "batch_size": 8, "max_batches_per_epoch": 2, "select_metric": "fd", "select_mode": "min"}}))
    result = runner.invoke(app, ["train", str(config), "--out", str(tmp_path / "run"), "--quiet"])
    assert result.exit_code == 0, result.output
    report = (tmp_path / "run" / "report.md").read_text()
    assert "![Generated vs real, per class](figures/generation.png)" in report
    samples = sorted((tmp_path / "run" / "samples").iterdir())
    assert len(samples) == 2 and all(sf.info(p).samplerate == 8000 for p in samples)
    assert all(f"(samples/{p.name})" in report for p in samples)
