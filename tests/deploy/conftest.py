"""A tiny trained audio classifier and embedding model, and audio files to apply them to."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from polysense.train.config import load_config
from polysense.train.trainer import train

from tests.train.helpers import TINY_AUDIO, TINY_DATA, tiny_clip


@pytest.fixture(scope="package")
def classifier_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("deploy") / "classifier"
    config = {"name": "tiny-audio", "data": dict(TINY_DATA, task="audio"),
              "model": {"name": "classifier", "modality": "audio", "num_classes": 5, "encoder": dict(TINY_AUDIO)},
              "optim": {"lr": 0.003}, "train": {"epochs": 1, "batch_size": 16, "seed": 0}}
    train(load_config(config), run, quiet=True)
    return run


@pytest.fixture(scope="package")
def clip_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("deploy") / "clip"
    config = tiny_clip()
    config["model"]["audio"] = dict(TINY_AUDIO)  # a CNN tower (the AST tower's export does not yet match: README)
    train(load_config(config), run, quiet=True)
    return run


@pytest.fixture(scope="package")
def audio_folder(tmp_path_factory):
    """Three clips of different lengths at 8 kHz, one at 16 kHz (resampled on reading), and a corrupt file."""
    folder = tmp_path_factory.mktemp("files")
    rng = np.random.default_rng(0)
    t = np.arange(16000) / 8000
    sf.write(folder / "a_tone.wav", (0.3 * np.sin(2 * np.pi * 440 * t[:8000])).astype("float32"), 8000)
    sf.write(folder / "b_noise.wav", (0.1 * rng.standard_normal(12000)).astype("float32"), 8000)
    sf.write(folder / "c_chirp.wav", (0.3 * np.sin(2 * np.pi * (200 + 300 * t) * t)).astype("float32"), 8000)
    sf.write(folder / "d_16k.wav", (0.2 * rng.standard_normal(16000)).astype("float32"), 16000)
    (folder / "e_corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot audio at all")
    return folder
