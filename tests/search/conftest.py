"""Tiny models and collections for the search tests (seeded, built in memory, a few KB)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from polysense import audio as audio_io
from polysense.models.encoders.text import train_tokenizer
from polysense.models.registry import build_model
from polysense.search import EmbedderBundle

SAMPLE_RATE = 8000
REPO_SRC = Path(__file__).resolve().parents[2] / "src"
CAPTIONS = ["a low hum", "a high whistle", "a dog barking", "rain on a roof", "a bell ringing"]


def tiny_tokenizer():
    return train_tokenizer(CAPTIONS * 4 + ["one two three four five six seven eight nine zero"], vocab_size=300)


def make_bundle(pair: str = "audio", *, seed: int = 0, embed_dim: int = 16) -> EmbedderBundle:
    """A CLIP of ``pair`` (audio or image) + text with small random encoders."""
    torch.manual_seed(seed)
    tokenizer = tiny_tokenizer()
    config = {"name": "clip", "embed_dim": embed_dim,
              "text": {"name": "text_transformer", "vocab_size": tokenizer.vocab_size, "dim": 16, "depth": 1,
                       "heads": 2, "dropout": 0.0}}
    if pair == "audio":
        config["audio"] = {"name": "audio_cnn", "sample_rate": SAMPLE_RATE, "n_fft": 256, "hop_length": 128,
                           "n_mels": 16, "channels": [8, 8], "dim": 16}
    else:
        config["image"] = {"name": "image_cnn", "channels": [8, 8], "dim": 16}
    model = build_model(config)
    return EmbedderBundle(model=model, sample_rate=SAMPLE_RATE, tokenizer=tokenizer, image_size=(32, 32),
                          config=config)


def tone(freq_hz: float, seconds: float, *, sample_rate: int = SAMPLE_RATE, seed: int = 0) -> torch.Tensor:
    t = torch.arange(int(seconds * sample_rate)) / sample_rate
    noise = torch.randn(t.shape, generator=torch.Generator().manual_seed(seed)) * 0.01
    return (0.5 * torch.sin(2 * math.pi * freq_hz * t) + noise).float()


def write_png(path: Path, color: tuple[int, int, int], size: int = 40) -> Path:
    from PIL import Image

    rng = np.random.default_rng(sum(color))
    array = np.clip(np.array(color)[None, None] + rng.integers(-20, 20, (size, size, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(array).save(path)
    return path


@pytest.fixture
def audio_bundle() -> EmbedderBundle:
    return make_bundle("audio")


@pytest.fixture
def image_bundle() -> EmbedderBundle:
    return make_bundle("image")


@pytest.fixture
def collection(tmp_path: Path) -> Path:
    return make_collection(tmp_path / "collection")


def make_collection(root: Path) -> Path:
    """5 short tones with captions, one 12 s file (3 windows with window 5 s, hop 4 s), a lone
    text, a corrupt .wav, an image and an unrelated file, in nested folders."""
    (root / "sub" / "deeper").mkdir(parents=True)
    for i, (freq, caption) in enumerate(zip((200, 3000, 700, 1500, 2400), CAPTIONS, strict=True)):
        folder = root if i % 2 == 0 else root / "sub"
        audio_io.save(folder / f"clip{i}.wav", tone(freq, 0.5 + 0.1 * i, seed=i), SAMPLE_RATE)
        (folder / f"clip{i}.txt").write_text(caption + "\n")
    audio_io.save(root / "sub" / "deeper" / "long.wav", torch.cat([tone(300, 6.0), tone(2800, 6.0)]), SAMPLE_RATE)
    (root / "note.txt").write_text("a bell ringing at noon")
    (root / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt not really audio")
    write_png(root / "red.png", (220, 30, 30))
    (root / "readme.md").write_text("not indexed")
    return root


def write_run(run_dir: Path, *, pair: str = "audio", seed: int = 0) -> Path:
    """A run folder as `polysense train` writes one (config.yaml, run.json, weights, tokenizer)."""
    import yaml

    from polysense.train.checkpoint import save_weights

    bundle = make_bundle(pair, seed=seed)
    run_dir.mkdir(parents=True)
    bundle.tokenizer.save(run_dir / "tokenizer.json")
    config = {k: v for k, v in bundle.config.items()}
    config["text"] = {k: v for k, v in config["text"].items() if k != "vocab_size"} | {"tokenizer": "tokenizer.json"}
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"model": config, "data": {"name": "synthetic", "image_size": 32}}))
    (run_dir / "run.json").write_text('{"sample_rate": %d}' % SAMPLE_RATE)
    save_weights(run_dir / "model.safetensors", bundle.model)
    return run_dir


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return write_run(tmp_path / "run")


@pytest.fixture
def indexed(audio_bundle, collection, tmp_path):
    """(index folder, collection root, bundle): the collection indexed with 5 s windows, 4 s hop."""
    from polysense.search import build_index

    build_index(audio_bundle, collection, tmp_path / "idx", window_s=5.0, hop_s=4.0)
    return tmp_path / "idx", collection, audio_bundle
