"""``polysense transcribe`` through typer's CliRunner, with the packaged Whisper base weights.

Checks what a user sees: one line per file, the JSON schema, 30-s windows of a long file with
their times, the closed vocabulary from a file, and one-line errors without a traceback.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from polysense.cli.main import app

runner = CliRunner()
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _clean_error(result, *needles: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Error:" in result.output and "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output, result.output


def test_one_line_per_file_restricted_to_digit_words(whisper_files, fsdd_dir, tmp_path):
    words = tmp_path / "digits.txt"
    words.write_text("# the ten digits\n" + "\n".join(DIGITS) + "\n", encoding="utf-8")
    files = [fsdd_dir / "4_yweweler_27.wav", fsdd_dir / "6_theo_12.wav"]
    result = runner.invoke(app, ["transcribe", *map(str, files), "--words", str(words)])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(f) for f in files]
    assert [re.sub(r"[.,?!]", "", line.split("\t")[1]).strip().lower() for line in lines] == ["four", "six"]


def test_long_file_in_30_s_windows_as_json(whisper_files, fsdd_dir, tmp_path):
    rate = 8000
    audio = np.zeros(65 * rate, dtype=np.float32)
    for start_s, name in ((5, "7_jackson_13"), (40, "3_theo_7"), (62, "9_jackson_48")):
        clip, _ = sf.read(fsdd_dir / f"{name}.wav", dtype="float32")
        audio[start_s * rate : start_s * rate + len(clip)] = clip
    path = tmp_path / "long.wav"
    sf.write(path, audio, rate)
    result = runner.invoke(app, ["transcribe", str(path), "--json", "--words", ",".join(DIGITS)])
    assert result.exit_code == 0, result.output
    (item,) = json.loads(result.output)
    assert item["file"] == str(path) and item["duration"] == pytest.approx(65.0, abs=1e-3)
    times = [(s["start"], s["end"]) for s in item["segments"]]
    assert times == [(0.0, 30.0), (30.0, 60.0), (60.0, 65.0)]
    words = [re.sub(r"[.,?!]", "", s["text"]).strip().lower() for s in item["segments"]]
    assert words == ["seven", "three", "nine"]
    assert item["text"] == " ".join(s["text"] for s in item["segments"])
    assert all(s["avg_logprob"] <= 0 and 0 <= s["no_speech_prob"] <= 1 for s in item["segments"])


def test_silence_gives_an_empty_transcript(whisper_files, tmp_path):
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(3 * 16000, dtype=np.float32), 16000)
    result = runner.invoke(app, ["transcribe", str(path), "--json"])
    assert result.exit_code == 0, result.output
    (item,) = json.loads(result.output)
    assert item["text"] == "" and item["segments"] == []


def test_errors_are_one_line(whisper_files, fsdd_dir, tmp_path):
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), 16000)
    _clean_error(runner.invoke(app, ["transcribe", str(empty)]), "contains no audio frames")
    _clean_error(runner.invoke(app, ["transcribe", str(tmp_path / "missing.wav")]), "missing.wav")
    _clean_error(runner.invoke(app, ["transcribe", str(fsdd_dir / "0_jackson_0.wav"), "--weights", str(tmp_path)]),
                 "holds no model.bin")
    _clean_error(runner.invoke(app, ["transcribe", str(fsdd_dir / "0_jackson_0.wav"), "--words", " , "]),
                 "the word list is empty")
    _clean_error(runner.invoke(app, ["transcribe", str(fsdd_dir / "0_jackson_0.wav"), "--words", "lists/digits.txt"]),
                 "looks like a file but does not exist")
    bad = tmp_path / "model.bin"
    bad.write_bytes(b"\x06\x00\x00\x00\x0c\x00WhisperSpec\x00\x03\x00")  # ends inside the header
    _clean_error(runner.invoke(app, ["transcribe", str(fsdd_dir / "0_jackson_0.wav"), "--weights", str(bad)]),
                 "is truncated")


def test_manifest_scored_with_wer_per_group_and_a_bad_file_skipped(whisper_files, fsdd_dir, tmp_path):
    import shutil

    rows = [("a", "7_theo_1", "seven", "theo"), ("b", "3_theo_7", "three", "theo"),
            ("c", "9_jackson_48", "nine", "jackson")]
    for _, name, _, _ in rows:
        shutil.copy(fsdd_dir / f"{name}.wav", tmp_path / f"{name}.wav")
    (tmp_path / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    lines = ["id,audio,text,group,split"] + [f"{i},{n}.wav,{t},{g},test" for i, n, t, g in rows]
    lines += ["d,broken.wav,four,theo,test", "e,3_theo_7.wav,three,theo,train"]
    manifest = tmp_path / "m.csv"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["transcribe", "--manifest", str(manifest), "--split", "test", "--json",
                                 "--words", ",".join(DIGITS)])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert [r["id"] for r in out["rows"]] == ["a", "b", "c"]  # the train row left out, the broken one skipped
    assert [s["id"] for s in out["skipped"]] == ["d"] and "broken.wav" in out["skipped"][0]["reason"]
    rates = out["error_rates"]
    assert rates["all"]["wer"] == 0.0 and rates["all"]["utterances"] == 3
    assert rates["jackson"]["utterances"] == 1 and rates["theo"]["utterances"] == 2
    # without the restriction Whisper writes "7" for the first: a non-zero WER on the same rows
    free = json.loads(runner.invoke(app, ["transcribe", "--manifest", str(manifest), "--split", "test", "--json"]).output)
    assert free["error_rates"]["all"]["wer"] > 0
    _clean_error(runner.invoke(app, ["transcribe"]), "give audio files or --manifest")
