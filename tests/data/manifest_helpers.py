"""Small on-disk manifests for the data tests: real WAV/PNG files written into a temporary folder."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from polysense import audio

COLUMNS = ["id", "audio", "image", "text", "label", "split", "group"]


def write_wav(path: Path, *, num_samples: int = 800, sample_rate: int = 8000, channels: int = 1, seed: int = 0) -> Path:
    g = torch.Generator().manual_seed(seed)
    x = 0.3 * torch.randn(channels, num_samples, generator=g, dtype=torch.float64).clamp(-3, 3) / 3
    path.parent.mkdir(parents=True, exist_ok=True)
    return audio.save(path, x[0] if channels == 1 else x, sample_rate)


def write_png(path: Path, *, size: tuple[int, int] = (12, 10), seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def write_csv(path: Path, rows: list[dict], columns: list[str] | None = None) -> Path:
    columns = columns or list(rows[0])
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({c: r.get(c, "") for c in columns})
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def make_rows(folder: Path, n: int = 12, *, classes: int = 3, groups: int = 6, lengths=None) -> list[dict]:
    """``n`` rows with distinct audio/image files; labels cycle over ``classes``.

    Splits keep every group on one side: groups 0..groups-3 train, then one group each for val, test.
    """
    rows = []
    for i in range(n):
        group = i % groups
        split = "train" if group < groups - 2 else ("val" if group == groups - 2 else "test")
        num = lengths[i] if lengths is not None else 400 + 37 * i
        write_wav(folder / "audio" / f"a{i}.wav", num_samples=num, seed=i)
        write_png(folder / "images" / f"i{i}.png", seed=i)
        rows.append({
            "id": f"s{i}", "audio": f"audio/a{i}.wav", "image": f"images/i{i}.png",
            "text": f"sample number {i}", "label": i % classes, "split": split, "group": f"g{group}",
        })
    return rows


def make_manifest(folder: Path, n: int = 12, *, fmt: str = "csv", **kwargs) -> Path:
    rows = make_rows(folder, n, **kwargs)
    if fmt == "csv":
        return write_csv(folder / "manifest.csv", rows, COLUMNS)
    return write_jsonl(folder / "manifest.jsonl", rows)
