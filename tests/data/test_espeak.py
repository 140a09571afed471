"""espeak-ng synthetic speakers: voices, cached generation, the fsdd_plus_tts dataset (skips without espeak-ng)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from polysense.data import espeak
from polysense.data.espeak import espeak_available, espeak_voices, generate_espeak_digits, trim_silence
from polysense.data.registry import build_data
from polysense.errors import ParameterError

needs_espeak = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed (apt-get install espeak-ng)")


def test_voices_are_distinct_reproducible_and_cover_the_accents():
    voices = espeak_voices(16, seed=3)
    assert voices == espeak_voices(16, seed=3) and voices != espeak_voices(16, seed=4)
    assert len({v.name for v in voices}) == 16
    assert {v.accent for v in voices[:8]} == set(espeak.ACCENTS)
    assert all("_" not in v.name and 15 <= v.pitch <= 85 and 110 <= v.speed_wpm <= 200 for v in voices)


def test_trim_silence_cuts_quiet_edges_and_keeps_a_margin():
    sr = 8000
    x = np.zeros(sr, dtype=np.float32)
    x[3000:5000] = np.sin(np.arange(2000) * 0.3)
    y = trim_silence(x, sample_rate=sr, margin_s=0.02)
    assert 2000 <= len(y) <= 2000 + 2 * 160 + 160
    assert np.abs(y).max() == np.abs(x).max()


def test_missing_espeak_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(espeak.shutil, "which", lambda name: None)
    assert not espeak_available()
    with pytest.raises(ParameterError, match="apt-get install espeak-ng"):
        generate_espeak_digits(tmp_path, num_voices=1)


@needs_espeak
def test_generation_writes_ten_digits_per_voice_and_reuses_the_cache(tmp_path):
    paths = generate_espeak_digits(tmp_path, num_voices=2, seed=0, sample_rate=8000)
    assert len(paths) == 20 and all(p.exists() for p in paths)
    assert sorted(int(p.name.split("_")[0]) for p in paths) == sorted(list(range(10)) * 2)
    x, sr = sf.read(paths[0])
    assert sr == 8000 and 0.15 < len(x) / sr < 1.5 and 0.4 < np.abs(x).max() <= 0.51
    stamps = [p.stat().st_mtime_ns for p in paths]
    assert generate_espeak_digits(tmp_path, num_voices=2, seed=0) == paths
    assert [p.stat().st_mtime_ns for p in paths] == stamps  # cached: nothing rewritten
    assert len(json.loads((tmp_path / "voices.json").read_text())) == 2
    with pytest.raises(ParameterError, match="sample rate"):
        generate_espeak_digits(tmp_path, num_voices=2, sample_rate=16000)


@needs_espeak
def test_fsdd_plus_tts_adds_voices_to_the_training_split_only(fsdd_dir, tmp_path):
    data = build_data({"name": "fsdd_plus_tts", "fsdd_folder": str(fsdd_dir), "test_speakers": ["theo"],
                       "val_speakers": ["jackson"], "synthetic_voices": 2, "tts_cache": str(tmp_path)}, seed=0)
    plain = build_data({"name": "fsdd", "fsdd_folder": str(fsdd_dir), "test_speakers": ["theo"],
                        "val_speakers": ["jackson"]}, seed=0)
    assert len(data.train) == len(plain.train) + 20
    assert len(data.val) == len(plain.val) and len(data.test) == len(plain.test)
    item = data.train[len(data.train) - 1]
    assert item["id"].split("_")[1].startswith("tts-") and item["label"] == int(item["id"][0])
    assert item["audio"].ndim == 1 and item["sample_rate"] == 8000
    assert data.classes[int(item["id"][0])] in item["text"]
