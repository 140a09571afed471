"""The ``info``, ``spectrogram``, ``explain`` and ``demo`` commands, through typer's CliRunner.

Each command that draws must write a valid PNG (signature and non-trivial size); each error
must exit non-zero with a one-line message naming the problem and no traceback.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from polysense.cli.main import app
from polysense.explain import TOPICS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
runner = CliRunner()


def assert_png(path: Path) -> None:
    assert path.is_file(), f"{path} was not written"
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 10_000  # a drawn figure, not an empty canvas


def assert_clean_error(result, *needles: str) -> None:
    assert result.exit_code == 1, result.output
    text = result.output
    assert "Error:" in text
    assert "Traceback" not in text
    for needle in needles:
        assert needle in text, text


@pytest.fixture
def wav(tmp_path: Path) -> Path:
    """1 s of 440 Hz + a 1-3 kHz chirp at 16 kHz, 16-bit PCM."""
    sr = 16000
    t = np.arange(sr) / sr
    x = 0.4 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * (1000 * t + 1000 * t**2))
    path = tmp_path / "tone.wav"
    sf.write(path, x.astype(np.float32), sr, subtype="PCM_16")
    return path


@pytest.fixture
def stereo_flac(tmp_path: Path) -> Path:
    sr = 22050
    x = np.random.default_rng(0).uniform(-0.5, 0.5, size=(sr // 2, 2)).astype(np.float32)
    path = tmp_path / "noise.flac"
    sf.write(path, x, sr, subtype="PCM_24")
    return path


@pytest.fixture
def not_audio(tmp_path: Path) -> Path:
    path = tmp_path / "notes.wav"
    path.write_text("this is not a RIFF file")
    return path


def test_info(wav: Path):
    result = runner.invoke(app, ["info", str(wav)])
    assert result.exit_code == 0, result.output
    for needle in ("16,000 Hz", "1.000 s", "PCM_16", "16-bit", "8,000 Hz", "32 ms", "31.25 Hz", "8 ms", "257"):
        assert needle in result.output, (needle, result.output)


def test_info_options_and_stereo(stereo_flac: Path):
    result = runner.invoke(app, ["info", str(stereo_flac), "--n-fft", "1024", "--hop", "256"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "22,050 Hz" in out and "11,025 Hz" in out  # rate and Nyquist
    assert "FLAC" in out and "24-bit" in out
    assert "21.5332 Hz" in out  # 22050 / 1024
    assert "46.44 ms" in out  # 1024 / 22050


def test_info_bad_file(not_audio: Path, tmp_path: Path):
    assert_clean_error(runner.invoke(app, ["info", str(not_audio)]), "notes.wav")
    assert_clean_error(runner.invoke(app, ["info", str(tmp_path / "missing.wav")]), "missing.wav")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    assert_clean_error(runner.invoke(app, ["info", str(empty)]), "empty.wav")


def test_info_bad_parameters(wav: Path):
    assert_clean_error(runner.invoke(app, ["info", str(wav), "--n-fft", "1"]), "n_fft=1", ">= 2")
    assert_clean_error(runner.invoke(app, ["info", str(wav), "--hop", "0"]), "hop_length=0", ">= 1")


@pytest.mark.parametrize("scale", ["linear", "log", "mel"])
def test_spectrogram_scales(wav: Path, tmp_path: Path, scale: str):
    out = tmp_path / f"spec-{scale}.png"
    result = runner.invoke(app, ["spectrogram", str(wav), "-o", str(out), "--scale", scale, "--n-fft", "512",
                                 "--hop", "128"])
    assert result.exit_code == 0, result.output
    assert_png(out)


@pytest.mark.parametrize(
    "extra",
    [["--no-db"], ["--convention", "torchaudio"], ["--convention", "scipy"], ["--window", "hamming"],
     ["--win-length", "400", "--n-fft", "512"], ["--sample-rate", "8000"]],
)
def test_spectrogram_options(stereo_flac: Path, tmp_path: Path, extra: list[str]):
    out = tmp_path / "sub" / "spec.png"  # parent folder created on demand
    result = runner.invoke(app, ["spectrogram", str(stereo_flac), "-o", str(out), *extra])
    assert result.exit_code == 0, result.output
    assert_png(out)


def test_spectrogram_errors(wav: Path, not_audio: Path, tmp_path: Path):
    out = str(tmp_path / "x.png")
    assert_clean_error(runner.invoke(app, ["spectrogram", str(not_audio), "-o", out]), "notes.wav")
    assert_clean_error(runner.invoke(app, ["spectrogram", str(wav), "-o", out, "--scale", "bark"]),
                       "scale='bark'", "'linear', 'log', 'mel'")
    assert_clean_error(runner.invoke(app, ["spectrogram", str(wav), "-o", out, "--window", "kaiser"]),
                       "window='kaiser' is not supported")
    assert_clean_error(runner.invoke(app, ["spectrogram", str(wav), "-o", out, "--hop", "0"]), "hop_length=0")
    assert_clean_error(runner.invoke(app, ["spectrogram", str(wav), "-o", out, "--convention", "matlab"]),
                       "convention='matlab'")
    assert_clean_error(runner.invoke(app, ["spectrogram", str(wav), "-o", str(tmp_path / "x.jpeg")]),
                       "'.jpeg'", ".png")
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("topic", TOPICS)
def test_explain_topics(tmp_path: Path, topic: str):
    out = tmp_path / f"{topic}.png"
    result = runner.invoke(app, ["explain", topic, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert_png(out)


def test_explain_unknown_topic(tmp_path: Path):
    result = runner.invoke(app, ["explain", "wavelets", "-o", str(tmp_path / "w.png")])
    assert_clean_error(result, "topic='wavelets'", "'aliasing'", "'stft'")


def test_demo(tmp_path: Path, monkeypatch):
    # the full demo is tested on tiny data in tests/evaluate/test_runner.py; here the command's
    # output: progress lines, the table with a row per model and the ensemble, the files
    import polysense.demo as demo

    monkeypatch.setattr(demo, "DEMO_CONFIGS", demo.DEMO_CONFIGS[:2])
    out = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--out", str(out), "--quick"])
    assert result.exit_code == 0, result.output
    assert "[1/3] training audio-only" in result.output and "stacking ensemble" in result.output
    for name in ("audio-only", "image-only", "stacking-ensemble"):
        assert name in result.output
    assert_png(out / "comparison.png")
    assert (out / "audio-only" / "report.md").is_file() and (out / "comparison.md").is_file()
