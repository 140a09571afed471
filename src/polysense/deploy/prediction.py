"""A trained run applied to new, unlabelled audio files: labels with probabilities, or vectors.

``Predictor(run)`` serves both kinds of audio model a run folder can hold:

- a **classifier** (its output carries class scores ``logits`` (B, K)): each file (or window)
  gets the label of the highest probability ``softmax(logits)``, its probability and the top k;
- an **embedding model** (it has ``encode("audio", batch)``): each file (or window) gets its
  vector (unit length, as the model's shared space defines it).

Files are read at the run's sample rate (:func:`polysense.audio.load`, resampled with soxr). A
file longer than ``long_s`` seconds is read block by block (memory bounded by one window) and
predicted per window of ``window_s`` seconds every ``hop_s`` seconds, each with its times. A file
that cannot be read (corrupt, empty, not audio) is reported in ``skipped`` with the reason and the
others go on (a long file that fails midway gives no windows at all). Items are batched by
similar length, the model runs without gradients in eval mode: one forward per batch, the same
forward as training and evaluation.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from polysense import audio as audio_io
from polysense._checks import check_positive_float, check_positive_int
from polysense.audio import AUDIO_SUFFIXES
from polysense.data.collate import collate
from polysense.data.folder import walk_files
from polysense.errors import AudioError, ParameterError
from polysense.models.output import ClassifierOutput
from polysense.signal.streaming import stream_windows

__all__ = ["FilePrediction", "Prediction", "Predictor", "audio_files"]

# items gathered before they are sorted by length and batched: at most this many batches, or samples
# (2**24 float32 samples: 64 MB, e.g. 17 minutes at 16 kHz)
_POOL_BATCHES = 8
_POOL_SAMPLES = 1 << 24


@dataclass
class FilePrediction:
    """What the model says of one file, or of one window ``[start_s, end_s)`` of a long file."""

    file: str
    start_s: float
    end_s: float
    label: str | None = None
    score: float | None = None
    top: list[tuple[str, float]] = field(default_factory=list)
    windowed: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"file": self.file}
        if self.windowed:
            out.update(start_s=round(self.start_s, 4), end_s=round(self.end_s, 4))
        if self.label is not None:
            out.update(label=self.label, score=self.score, top_k=[{"label": k, "score": s} for k, s in self.top])
        return out


@dataclass
class Prediction:
    """The result of :meth:`Predictor.predict_files`: one entry per file or window, the vectors
    (rows aligned with ``items``) of an embedding model, and the files skipped with the reason."""

    kind: str
    items: list[FilePrediction]
    vectors: torch.Tensor | None
    skipped: list[tuple[str, str]]


def audio_files(paths: Iterable[str | os.PathLike]) -> tuple[list[Path], list[tuple[str, str]]]:
    """The audio files named by ``paths``: a file as given, a folder walked recursively for audio
    suffixes (:data:`polysense.audio.AUDIO_SUFFIXES`; hidden entries skipped), sorted. A path that
    does not exist is returned in the second list with the reason."""
    found: list[Path] = []
    missing: list[tuple[str, str]] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            # every file the user's folder holds, links included: predict reads what it is pointed at
            found.extend(p for p, _ in walk_files(path) if p.suffix.lower() in AUDIO_SUFFIXES)
        elif path.is_file():
            found.append(path)
        else:
            missing.append((str(path), "not found"))
    return found, missing


class Predictor:
    """Apply the model of a loaded run (:func:`polysense.train.run.load_run`) to audio files.

    Args:
        run: the loaded run.
        top_k: how many (label, probability) pairs each classifier prediction lists.
        batch_size: items per forward pass.
        long_s: files longer than this (seconds) are predicted per window.
        window_s, hop_s: the window length and step (seconds) for long files (hop defaults to
            half the window).
    """

    def __init__(self, run: Any, *, top_k: int = 5, batch_size: int = 64, long_s: float = 60.0,
                 window_s: float = 5.0, hop_s: float | None = None) -> None:
        self.run = run
        self.model = run.model.eval()
        if not run.sample_rate or "audio" not in (self.model.modalities or ("audio",)):
            raise ParameterError(f"{run.run_dir}: this run's model does not take audio alone, so it cannot predict "
                                 "on audio files; evaluate it on a manifest with `polysense evaluate RUN --data`")
        self.sample_rate = int(run.sample_rate)
        self.top_k = check_positive_int("top_k", top_k)
        self.batch_size = check_positive_int("batch_size", batch_size)
        self.long_s = check_positive_float("long_s", long_s)
        self.window_s = check_positive_float("window_s", window_s)
        self.hop_s = check_positive_float("hop_s", hop_s if hop_s is not None else window_s / 2)
        self.kind = self._kind()

    def _kind(self) -> str:
        modalities = self.model.modalities
        if self.model.shared_space:
            return "embedder"  # CLIP, VSE++: audio vectors in the space the other modalities share
        if len(modalities) > 1:
            raise ParameterError(f"{self.run.run_dir}: this run's model takes {' and '.join(modalities)} together, so "
                                 "it cannot predict from audio files alone; evaluate it on a manifest with "
                                 "`polysense evaluate RUN --data`")
        if self.run.classes:
            return "classifier"
        raise ParameterError(f"{self.run.run_dir}: this run's model neither classifies nor embeds audio "
                             "(a denoiser or separator?): use `polysense denoise` or `polysense separate`")

    # ------------------------------------------------------------------------------------------
    def predict_files(self, paths: Iterable[str | os.PathLike]) -> Prediction:
        """Predict every audio file of ``paths`` (files or folders); see the module docstring."""
        files, skipped = audio_files(paths)
        items: list[FilePrediction] = []
        rows: list[torch.Tensor] = []
        pool: list[tuple[FilePrediction, torch.Tensor]] = []
        pooled_samples = 0
        failed: set[str] = set()
        for path in files:
            try:
                for item in self._items(path):
                    pool.append(item)
                    pooled_samples += item[1].numel()
                    if len(pool) >= self.batch_size * _POOL_BATCHES or pooled_samples >= _POOL_SAMPLES:
                        rows.extend(self._run_pool(pool))
                        items.extend(p for p, _ in pool)
                        pool, pooled_samples = [], 0
            except AudioError as error:
                skipped.append((str(path), str(error)))
                failed.add(str(path))  # a long file that fails midway gives no windows at all
        if pool:
            rows.extend(self._run_pool(pool))
            items.extend(p for p, _ in pool)
        if failed:
            kept = [i for i, item in enumerate(items) if item.file not in failed]
            items, rows = [items[i] for i in kept], [rows[i] for i in kept]
        vectors = torch.stack(rows) if self.kind == "embedder" and rows else None
        if self.kind == "classifier":
            for item, probabilities in zip(items, rows, strict=True):
                self._label(item, probabilities)
        return Prediction(kind=self.kind, items=items, vectors=vectors, skipped=skipped)

    def _run_pool(self, pool: list[tuple[FilePrediction, torch.Tensor]]) -> list[torch.Tensor]:
        """The model's rows for ``pool``, in its order, computed in batches of similar lengths
        (less padding: 1.6-2x faster on FSDD's 0.2-2 s clips, benchmarks/RESULTS.md)."""
        order = sorted(range(len(pool)), key=lambda i: pool[i][1].shape[-1])
        out: list[torch.Tensor | None] = [None] * len(pool)
        for begin in range(0, len(order), self.batch_size):
            chosen = order[begin:begin + self.batch_size]
            for index, row in zip(chosen, self._run_batch([pool[i] for i in chosen]), strict=True):
                out[index] = row
        return out

    def predict_waveforms(self, waveforms: Sequence[torch.Tensor]) -> torch.Tensor:
        """Class probabilities (N, K) or vectors (N, D) of waveforms at the run's sample rate."""
        out: list[torch.Tensor] = []
        for start in range(0, len(waveforms), self.batch_size):
            chunk = [(FilePrediction("", 0.0, 0.0), w) for w in waveforms[start:start + self.batch_size]]
            out.extend(self._run_pool(chunk))
        return torch.stack(out)

    # ------------------------------------------------------------------------------------------
    def _items(self, path: Path) -> Iterator[tuple[FilePrediction, torch.Tensor]]:
        name = str(path)
        info = audio_io.info(path)
        if info.frames == 0:
            raise AudioError(f"{path}: holds no audio samples")
        if info.duration_s <= self.long_s:
            waveform, _ = audio_io.load(path, sample_rate=self.sample_rate)
            _check_finite(waveform, name)
            yield FilePrediction(name, 0.0, waveform.shape[-1] / self.sample_rate), waveform
            return
        window = round(self.window_s * self.sample_rate)
        hop = max(1, round(self.hop_s * self.sample_rate))
        for start, segment in stream_windows(audio_io.blocks(path, block_size=max(window, 4096),
                                                             sample_rate=self.sample_rate), window=window, hop=hop):
            _check_finite(segment, name)
            begin = start / self.sample_rate
            yield FilePrediction(name, begin, begin + segment.shape[-1] / self.sample_rate, windowed=True), segment

    @torch.no_grad()
    def _run_batch(self, pending: list[tuple[FilePrediction, torch.Tensor]]) -> list[torch.Tensor]:
        batch = collate([{"id": str(i), "audio": w.float(), "sample_rate": self.sample_rate}
                         for i, (_, w) in enumerate(pending)])
        if self.kind == "embedder":
            return list(self.model.encode("audio", batch).float())
        out = self.model(batch)
        logits = out.logits if isinstance(out, ClassifierOutput) else None
        if logits is None or logits.ndim != 2 or logits.shape[1] != len(self.run.classes):
            raise ParameterError(f"{self.run.run_dir}: the model gave no class scores for {len(self.run.classes)} "
                                 "classes on audio alone; evaluate it on a manifest with `polysense evaluate RUN --data`")
        return list(torch.softmax(logits.float(), dim=-1))

    def _label(self, item: FilePrediction, probabilities: torch.Tensor) -> None:
        k = min(self.top_k, probabilities.numel())
        scores, indices = probabilities.topk(k)
        item.top = [(self.run.classes[int(i)], float(s)) for s, i in zip(scores, indices, strict=True)]
        item.label, item.score = item.top[0]


def _check_finite(waveform: torch.Tensor, name: str) -> None:
    if not bool(torch.isfinite(waveform).all()):
        raise AudioError(f"{name}: holds NaN or infinite samples")
