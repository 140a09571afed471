"""Serving a trained CTC recogniser: transcripts, word times from the alignment, LMs, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile as sf
import torch
import yaml
from typer.testing import CliRunner

from polysense.cli.main import app
from polysense.data.collate import collate
from polysense.errors import AudioError, ParameterError
from polysense.models.registry import build_model
from polysense.recognize.ctc_beam import Grammar
from polysense.recognize.ctc_transcribe import CTCTranscriber
from polysense.recognize.ngram import train_ngram
from polysense.train.checkpoint import save_weights
from tests.models.test_ctc import ENCODER
from tests.recognize.test_sequences import WORDS, _data

runner = CliRunner()


@pytest.fixture(scope="module")
def tone_run(tmp_path_factory) -> tuple[Path, list[dict]]:
    """A run folder holding a recogniser overfitted to 4 tone-word utterances (convolutions only, fast)."""
    torch.manual_seed(0)
    data = _data(num_utterances=4, max_digits=2, pause_s=(0.1, 0.15))
    items = [data[i] for i in range(4)]
    batch = collate(items)
    config = {"name": "ctc_recognizer", "encoder": {**ENCODER, "rnn": "none"}, "hidden": 0, "dropout": 0.0,
              "decoder": {"beam": 4}}
    model = build_model(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(400):
        out = model(batch)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        if float(out.metrics["wer"]) == 0 and float(out.loss.detach()) < 0.05:
            break
    with torch.no_grad():
        for _ in range(30):
            model(batch)
    run = tmp_path_factory.mktemp("run")
    save_weights(run / "model.safetensors", model)
    (run / "config.yaml").write_text(yaml.safe_dump({"data": {"name": "none"}, "model": config}))
    (run / "run.json").write_text(json.dumps({"sample_rate": 8000}))
    for i, item in enumerate(items):
        sf.write(run / f"utt{i}.wav", item["audio"].numpy(), 8000, subtype="FLOAT")
    return run, items


def test_transcribes_with_word_times_from_the_alignment(tone_run):
    """Word times are the forced alignment's frames in seconds. (Where a CTC model fires is its own choice:
    overfitted on 4 utterances it may fire before or after the word, so the times are checked against the
    alignment of the model's posteriors, and ``ctc_align`` against a brute-force best path elsewhere.)"""
    from polysense.models.ctc import ctc_align

    run, items = tone_run
    transcriber = CTCTranscriber(run)
    for i, item in enumerate(items):
        transcript = transcriber.transcribe_file(run / f"utt{i}.wav")
        assert transcript.text == item["text"]
        assert [w.word for w in transcript.words] == item["text"].split()
        log_probs, frame_s = transcriber.posteriors(item["audio"])
        assert frame_s == pytest.approx(0.04, rel=0.1)
        spans = ctc_align(log_probs, transcriber.table.encode(item["text"]))
        for word, (first, last) in zip(transcript.words, spans):
            assert word.start == pytest.approx(first * frame_s) and word.end == pytest.approx(
                min((last + 1) * frame_s, transcript.duration))
        assert transcript.duration == pytest.approx(item["audio"].numel() / 8000)
        d = transcript.to_dict()
        assert d["words"][0]["word"] == item["text"].split()[0] and d["segments"][0]["text"] == item["text"]


def test_decoding_options_lm_and_grammar(tone_run, tmp_path):
    run, items = tone_run
    lm_path = train_ngram([it["text"] for it in items], order=2, vocabulary=WORDS).write_arpa(tmp_path / "lm.arpa")
    with_lm = CTCTranscriber(run, lm=lm_path, beam=8, alpha=0.3, beta=0.5)
    assert with_lm.transcribe(items[0]["audio"]).text == items[0]["text"]
    # a grammar of exactly 3 words forces a third word where the audio has fewer
    forced = CTCTranscriber(run, grammar=Grammar.exactly(3))
    assert len(forced.transcribe(items[0]["audio"]).text.split()) == 3
    greedy = CTCTranscriber(run, beam=1)
    assert greedy.transcribe(items[1]["audio"]).text == items[1]["text"]


def test_bad_input_is_named(tone_run, tmp_path):
    run, _ = tone_run
    transcriber = CTCTranscriber(run)
    with pytest.raises(AudioError, match="holds no audio samples"):
        transcriber.transcribe(torch.zeros(0))
    bad = train_ngram(["one eleven"]).write_arpa(tmp_path / "bad.arpa")
    with pytest.raises(ParameterError, match=r"word\(s\) \['eleven'\] that the recogniser cannot spell"):
        CTCTranscriber(run, lm=bad)
    with pytest.raises(ParameterError, match="not found"):
        CTCTranscriber(run, lm=tmp_path / "missing.arpa")
    with pytest.raises(ParameterError, match="not a run folder"):
        CTCTranscriber(tmp_path)


def test_cli_json_and_option_checks(tone_run):
    run, items = tone_run
    result = runner.invoke(app, ["transcribe", str(run / "utt0.wav"), str(run / "utt1.wav"), "--run", str(run), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert [o["text"] for o in out] == [items[0]["text"], items[1]["text"]]
    assert set(out[0]) == {"file", "text", "duration", "segments", "words"}
    result = runner.invoke(app, ["transcribe", str(run / "utt0.wav"), "--run", str(run), "--beam", "1"])
    assert result.exit_code == 0 and result.output.strip().endswith(items[0]["text"])
    result = runner.invoke(app, ["transcribe", str(run / "utt0.wav"), "--run", str(run), "--prompt", "x"])
    assert result.exit_code == 1 and "--prompt are Whisper options" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["transcribe", str(run / "utt0.wav"), "--beam", "4"])
    assert result.exit_code == 1 and "--beam need --run RUN_DIR" in result.output


def test_train_then_transcribe_with_the_runs_own_lm(fsdd_dir, tmp_path):
    """`polysense train fsdd-sequences-ctc` then `polysense transcribe --run`: the LM is trained from the
    run's training transcripts on first use and saved as lm.arpa."""
    out = tmp_path / "run"
    sets = ["data.num_train=16", "data.num_val=4", "data.num_test=4", "data.synthetic_voices=0", "train.epochs=1",
            "train.batch_size=8", f"data.fsdd_folder={fsdd_dir}"]
    result = runner.invoke(app, ["train", "fsdd-sequences-ctc", "--out", str(out), *sum((["--set", s] for s in sets), [])])
    assert result.exit_code == 0, result.output
    wav = fsdd_dir / "4_theo_0.wav"
    result = runner.invoke(app, ["transcribe", str(wav), "--run", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert (out / "lm.arpa").is_file()
    from polysense.recognize.ngram import read_arpa

    assert read_arpa(out / "lm.arpa").order == 3
    assert json.loads(result.output)[0]["file"] == str(wav)
