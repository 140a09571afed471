"""fsdd-detect / fsdd-vad through the one trainer on a few real FSDD words, evaluated with the detection
metrics, then served by ``polysense detect`` (JSON, CSV, figure, bad input)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from polysense.cli.main import app
from polysense.data.registry import build_data
from polysense.deploy.prediction import Predictor
from polysense.evaluate.report import write_report
from polysense.evaluate.runner import evaluate_run
from polysense.train.config import load_config
from polysense.train.run import load_run
from polysense.train.trainer import train

from tests.train.helpers import TINY_AUDIO, TINY_DATA


@pytest.fixture(scope="module")
def vad_run(fsdd_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("vad") / "run"
    overrides = [f"data.fsdd_folder={fsdd_dir}", "data.max_per_speaker=10", "data.num_scenes=4", "data.val_scenes=1",
                 "data.test_scenes=2", "data.scene_s=4.0", "train.epochs=2", "train.batch_size=2",
                 "model.channels=[4,4]", "model.rnn_hidden=4", "model.n_mels=16"]
    result = train(load_config("fsdd-vad", overrides), out, quiet=True)
    assert result.best_metric == "val/event_f1" and [h["epoch"] for h in result.history] == [1, 2]
    return out


def test_evaluate_reports_event_and_segment_scores(vad_run):
    metrics = evaluate_run(vad_run)
    detection = metrics["detection"]
    assert detection["recordings"] == 2 and detection["seconds"] == pytest.approx(8.0)
    assert detection["event_based"]["collar_s"] == 0.2 and detection["event_based"]["n_ref"] > 0
    assert 0 < detection["segment_based"]["n_ref"] <= 2 * 4  # one class, 1-s segments, two 4-s scenes
    assert "### Detection" in write_report(vad_run).read_text(encoding="utf-8")
    shown = CliRunner().invoke(app, ["evaluate", str(vad_run)])
    assert shown.exit_code == 0 and "event-based (0.2 s): F1" in shown.output, shown.output


@pytest.fixture(scope="module")
def recording(vad_run, fsdd_dir, tmp_path_factory) -> Path:
    data = build_data({"name": "fsdd_scenes", "fsdd_folder": str(fsdd_dir), "max_per_speaker": 10,
                       "labels": "speech", "test_scenes": 1, "test_scene_s": 12.0}, seed=5)
    audio, _ = data.test.scene(0)
    path = tmp_path_factory.mktemp("rec") / "scene.wav"
    sf.write(path, audio.numpy(), 8000)
    return path


def test_detect_prints_json_writes_csv_and_a_figure(vad_run, recording, tmp_path):
    runner = CliRunner()
    printed = runner.invoke(app, ["detect", str(vad_run), str(recording), "--json", "--threshold", "0.1"])
    assert printed.exit_code == 0, printed.output
    events = json.loads(printed.output)
    assert isinstance(events, list) and events, "a threshold of 0.1 should find something in 12 s of speech and noise"
    assert all(set(e) == {"onset", "offset", "label", "score"} and 0 <= e["onset"] < e["offset"] <= 12.0
               and e["label"] == "speech" for e in events)
    written = runner.invoke(app, ["detect", str(vad_run), str(recording), "-o", str(tmp_path / "ev.csv"),
                                  "--threshold", "0.1", "--plot", str(tmp_path / "fig.png")])
    assert written.exit_code == 0, written.output
    rows = list(csv.DictReader(open(tmp_path / "ev.csv", encoding="utf-8")))
    assert [(float(r["onset"]), r["label"]) for r in rows] == [(round(e["onset"], 4), e["label"]) for e in events]
    assert (tmp_path / "fig.png").stat().st_size > 10_000


@pytest.mark.parametrize("args, message", [
    (["--threshold", "1.5"], "threshold=1.5 is invalid: expected a probability in [0, 1]"),
    (["--json", "-o", "x.csv"], "give --json (print) or -o FILE (write), not both"),
    (["-o", "events.txt"], "--output='events.txt' has suffix '.txt': expected one of .csv, .json"),
    (["--plot", "fig.bmp"], "--plot='fig.bmp' has suffix '.bmp'"),
])
def test_detect_bad_arguments_give_one_line(vad_run, recording, args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    outcome = CliRunner().invoke(app, ["detect", str(vad_run), str(recording), *args])
    assert outcome.exit_code == 1 and message in outcome.output
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_detect_refuses_a_recording_shorter_than_one_window(vad_run, tmp_path):
    sf.write(tmp_path / "short.wav", np.zeros(50, dtype=np.float32), 8000)
    outcome = CliRunner().invoke(app, ["detect", str(vad_run), str(tmp_path / "short.wav")])
    assert outcome.exit_code == 1 and "is shorter than the detector's analysis window" in outcome.output


@pytest.fixture(scope="module")
def speaker_run(fsdd_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("spk") / "run"
    overrides = [f"data.fsdd_folder={fsdd_dir}", "data.max_per_speaker=12", "data.synthetic_voices=0", "data.val_voices=0",
                 "data.val_fraction=0.25", "model.num_speakers=2", "model.encoder.channels=[4,8]",
                 "model.encoder.dim=16", "model.embed_dim=16", "train.epochs=1", "train.batch_size=8"]
    train(load_config("fsdd-speakers", overrides), out, quiet=True)
    return out


def test_detect_labels_who_speaks_with_a_speaker_run(vad_run, speaker_run, recording, tmp_path):
    outcome = CliRunner().invoke(app, ["detect", str(vad_run), str(recording), "--threshold", "0.1", "--speakers",
                                       str(speaker_run), "-o", str(tmp_path / "ev.csv")])
    assert outcome.exit_code == 0, outcome.output
    rows = list(csv.DictReader(open(tmp_path / "ev.csv", encoding="utf-8")))
    # (the two-voice case is tested in test_diarize; this tiny VAD may merge the scene into few events)
    assert rows and all(r["speaker"].startswith("speaker") for r in rows) and rows[0]["speaker"] == "speaker1"
    refused = CliRunner().invoke(app, ["detect", str(vad_run), str(recording), "--speakers", str(vad_run)])
    assert refused.exit_code == 1 and "not speaker embeddings" in refused.output
    alone = CliRunner().invoke(app, ["detect", str(vad_run), str(recording), "--num-speakers", "2"])
    assert alone.exit_code == 1 and "--num-speakers needs --speakers RUN" in alone.output


@pytest.fixture(scope="module")
def classifier_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("clf") / "run"
    config = {"name": "tiny-clips", "data": dict(TINY_DATA, task="audio"),
              "model": {"name": "classifier", "modality": "audio", "num_classes": 5, "encoder": dict(TINY_AUDIO)},
              "train": {"epochs": 1, "batch_size": 16, "seed": 0}}
    train(load_config(config), out, quiet=True)
    return out


def test_detect_then_classify_names_each_event_as_predict_would(vad_run, classifier_run, recording):
    runner = CliRunner()
    detected = json.loads(runner.invoke(app, ["detect", str(vad_run), str(recording), "--json", "--threshold",
                                              "0.1"]).output)
    outcome = runner.invoke(app, ["detect", str(vad_run), str(recording), "--json", "--threshold", "0.1",
                                  "--classify", str(classifier_run), "--classify-pad-s", "0.05"])
    assert outcome.exit_code == 0, outcome.output
    named = json.loads(outcome.output)
    assert [(e["onset"], e["offset"]) for e in named] == [(e["onset"], e["offset"]) for e in detected]
    # reference: each event's samples cut from the file by hand and given to `polysense predict`'s Predictor
    predictor = Predictor(load_run(classifier_run))
    whole, rate = sf.read(recording, dtype="float32")
    pieces = []
    for e in detected:
        begin = round(max(0.0, e["onset"] - 0.05) * rate)
        pieces.append(torch.from_numpy(whole[begin:begin + round((e["offset"] + 0.05) * rate) - begin]))
    probabilities = predictor.predict_waveforms(pieces)
    classes = load_run(classifier_run).classes
    assert [e["label"] for e in named] == [classes[int(k)] for k in probabilities.argmax(dim=1)]
    expected = [round(d["score"] * float(p), 4) for d, p in zip(detected, probabilities.max(dim=1).values)]
    assert [e["score"] for e in named] == pytest.approx(expected, abs=2e-4)


@pytest.mark.parametrize("args, message", [
    (["--classify", "VAD"], "the run's model gives a detector: give the run folder of a clip classifier"),
    (["--classify-pad-s", "0.3"], "--classify-pad-s needs --classify RUN"),
    (["--classify", "CLF", "--classify-pad-s", "-1"], "pad_s=-1.0 is invalid: expected a finite number >= 0"),
])
def test_detect_then_classify_refuses_bad_arguments(vad_run, classifier_run, recording, args, message):
    args = [{"VAD": str(vad_run), "CLF": str(classifier_run)}.get(a, a) for a in args]
    outcome = CliRunner().invoke(app, ["detect", str(vad_run), str(recording), *args])
    assert outcome.exit_code == 1 and message in outcome.output, outcome.output
