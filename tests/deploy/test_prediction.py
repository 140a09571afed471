"""Predictor on new files: the same probabilities as evaluation on the same audio, windows of long
files, vectors of an embedding model, unreadable files skipped; the CLI's outputs."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from polysense import audio as audio_io
from polysense.cli.main import app
from polysense.data.collate import collate
from polysense.deploy import Predictor
from polysense.errors import ParameterError
from polysense.evaluate.runner import evaluate_run
from polysense.train.run import load_run

runner = CliRunner()


def _reference_probabilities(run, waveform):
    # the model on one item alone, as training and evaluation batch it
    batch = collate([{"id": "x", "audio": waveform, "sample_rate": run.sample_rate}])
    with torch.no_grad():
        return torch.softmax(run.model(batch).logits.float(), dim=-1)[0]


def test_probabilities_equal_the_model_on_each_file_and_unreadable_files_are_skipped(classifier_run, audio_folder):
    run = load_run(classifier_run)
    result = Predictor(run, top_k=3, batch_size=2).predict_files([audio_folder])
    assert [p.file.rsplit("/", 1)[1] for p in result.items] == ["a_tone.wav", "b_noise.wav", "c_chirp.wav", "d_16k.wav"]
    assert [(f.rsplit("/", 1)[1], "not a readable audio file" in reason) for f, reason in result.skipped] == [
        ("e_corrupt.wav", True)]
    for item in result.items:
        waveform, _ = audio_io.load(item.file, sample_rate=run.sample_rate)
        expected = _reference_probabilities(run, waveform)
        top = expected.topk(3)
        assert item.label == run.classes[int(top.indices[0])]
        assert [k for k, _ in item.top] == [run.classes[int(i)] for i in top.indices]
        np.testing.assert_allclose([s for _, s in item.top], top.values.numpy(), atol=1e-5)  # padding in a batch of 2
        assert item.end_s == pytest.approx(waveform.shape[-1] / run.sample_rate)


def test_predict_agrees_with_evaluate_on_the_same_files(classifier_run, audio_folder):
    names = ["a_tone.wav", "b_noise.wav", "c_chirp.wav"]
    manifest = audio_folder / "new.csv"
    manifest.write_text("audio,label\n" + "".join(f"{n},tone\n" for n in names))
    evaluated = evaluate_run(classifier_run, data=str(manifest), keep=True, batch_size=3)  # no split column, no train rows
    logits = evaluated["_predictions"].cat_logits()
    predicted = Predictor(load_run(classifier_run), batch_size=3).predict_files([audio_folder / n for n in names])
    scores = torch.tensor([s for item in predicted.items for _, s in sorted(item.top, key=lambda t: t[0])]).view(3, -1)
    classes = sorted(load_run(classifier_run).classes)
    order = [classes.index(c) for c in load_run(classifier_run).classes]
    np.testing.assert_allclose(scores[:, order].numpy(), torch.softmax(logits, -1).numpy(), atol=1e-6)
    assert evaluated["items"] == 3 and evaluated["classes"] == list(load_run(classifier_run).classes)


def test_long_files_are_predicted_per_window_with_times(classifier_run, tmp_path):
    run = load_run(classifier_run)
    rng = np.random.default_rng(1)
    signal = (0.1 * rng.standard_normal(8000 * 5 + 1234)).astype("float32")
    sf.write(tmp_path / "long.wav", signal, 8000)
    result = Predictor(run, long_s=2.0, window_s=1.0, hop_s=0.5).predict_files([tmp_path / "long.wav"])
    starts = [p.start_s for p in result.items]
    assert starts[:-1] == pytest.approx([0.5 * i for i in range(9)]) and result.items[-1].end_s == pytest.approx(len(signal) / 8000)
    assert all(p.windowed and p.end_s - p.start_s == pytest.approx(1.0) for p in result.items)
    for item in (result.items[3], result.items[-1]):
        start = round(item.start_s * 8000)
        expected = _reference_probabilities(run, torch.from_numpy(signal[start:start + 8000]))
        assert item.score == pytest.approx(float(expected.max()), abs=1e-5)


def test_an_embedding_model_gives_its_audio_vectors(clip_run, audio_folder):
    run = load_run(clip_run)
    result = Predictor(run).predict_files([audio_folder / "a_tone.wav", audio_folder / "b_noise.wav"])
    assert result.kind == "embedder" and result.vectors.shape == (2, 16)
    waveform, _ = audio_io.load(audio_folder / "a_tone.wav", sample_rate=run.sample_rate)
    with torch.no_grad():
        expected = run.model.encode("audio", collate([{"id": "a", "audio": waveform, "sample_rate": run.sample_rate}]))
    torch.testing.assert_close(result.vectors[0], expected[0], atol=1e-5, rtol=0)


def test_cli_json_csv_and_vectors(classifier_run, clip_run, audio_folder, tmp_path):
    result = runner.invoke(app, ["predict", str(classifier_run), str(audio_folder), "--json", "--top-k", "2",
                                 "--threads", "1"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [set(o) for o in listed[:4]] == [{"file", "label", "score", "top_k"}] * 4
    assert listed[4]["file"].endswith("e_corrupt.wav") and "not a readable audio file" in listed[4]["skipped"]
    assert [len(o["top_k"]) for o in listed[:4]] == [2] * 4 and listed[0]["label"] == listed[0]["top_k"][0]["label"]
    out = tmp_path / "predictions.csv"
    assert runner.invoke(app, ["predict", str(classifier_run), str(audio_folder), "-o", str(out)]).exit_code == 0
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["label"] for r in rows] == [o["label"] for o in listed[:4]]
    vectors = tmp_path / "vectors.npy"
    assert runner.invoke(app, ["predict", str(clip_run), str(audio_folder), "-o", str(vectors)]).exit_code == 0
    assert np.load(vectors).shape == (4, 16) and (tmp_path / "vectors.csv").read_text().count("\n") == 5


@pytest.mark.parametrize(("args", "message"), [
    (["--threads", "0"], "--threads 0: give a whole number of CPU threads"),
    (["-o", "out.txt"], "name it .csv (predicted labels) or .npy"),
    (["--window", "-1"], "window_s=-1.0 is invalid"),
])
def test_cli_bad_options_are_one_line(classifier_run, audio_folder, args, message):
    result = runner.invoke(app, ["predict", str(classifier_run), str(audio_folder / "a_tone.wav"), *args])
    assert result.exit_code == 1 and message in result.output


def test_a_folder_that_is_not_a_run_and_nothing_readable(tmp_path, audio_folder):
    result = runner.invoke(app, ["predict", str(tmp_path), str(audio_folder)])
    assert result.exit_code == 1 and "not a run folder" in result.output


def test_nothing_readable_is_an_error(classifier_run, audio_folder):
    with pytest.raises(ParameterError, match="no file could be predicted"):
        from polysense.cli.predict_cmds import predict

        predict(classifier_run, [audio_folder / "e_corrupt.wav"], as_json=False, out=None, top_k=1, window=5.0, hop=None,
                long_s=60.0, batch_size=8)
