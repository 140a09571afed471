"""Files of any length through a denoiser or separator, in bounded memory.

The input is read block by block (:func:`polysense.audio.blocks`, resampled on the fly to the
model's rate), cut into windows of ``block_s`` seconds that overlap by ``overlap_s``, each window
processed on its own, and the outputs cross-faded over the overlap with complementary raised-cosine
weights (``w_in(t) + w_out(t) = 1``, so a model that returns its input returns the file unchanged).
Memory holds one window and the pending overlap, never the file.

A separator's outputs are unordered per window, so each window's sources are permuted to best match
the previous window's over the overlap (highest summed correlation) before the cross-fade.

Output is written at the input file's rate (resampled back by a streaming soxr resampler when the
model's rate differs), as 16-bit PCM unless ``subtype`` says otherwise.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
import torch

from polysense._checks import check_positive_float
from polysense.audio import blocks, info
from polysense.errors import ParameterError

__all__ = ["denoise_file", "overlap_add", "separate_file"]

PathLike = str | os.PathLike
_MAX_RATE_RATIO = 8  # the model's rate may be at most 8× above or below the file's (soxr quality)


def _fade(n: int, dtype: torch.dtype) -> torch.Tensor:
    """Rising raised-cosine of n samples: sin²(π/2·(k+½)/n); its reverse complements it to 1."""
    k = torch.arange(n, dtype=torch.float64)
    return torch.sin(0.5 * math.pi * (k + 0.5) / n).square().to(dtype)


def _align(current: torch.Tensor, previous_tail: torch.Tensor, overlap: int) -> torch.Tensor:
    """Permute current (S, T)'s sources to best match previous_tail (S, overlap) over the overlap."""
    head = current[:, :overlap].double()
    prev = previous_tail.double()
    best, best_score = None, -math.inf
    for perm in itertools.permutations(range(current.shape[0])):
        score = float(sum((head[p] * prev[s]).sum() / (head[p].norm() * prev[s].norm() + 1e-12)
                          for s, p in enumerate(perm)))
        if score > best_score:
            best, best_score = perm, score
    return current[list(best)]


def overlap_add(blocks: Iterable[torch.Tensor], process: Callable[[torch.Tensor], torch.Tensor], *,
                block_samples: int, overlap_samples: int, align_sources: bool = False) -> Iterator[torch.Tensor]:
    """Yield ``process`` applied to a stream of (time,) blocks, window by window, cross-faded.

    ``process`` maps a window (T,) to (T,) or (S, T); yielded chunks are (time,) or (S, time) and
    concatenate to the processed stream (same length as the input).
    """
    if overlap_samples < 0 or overlap_samples * 2 > block_samples:
        raise ParameterError(f"overlap of {overlap_samples} samples is invalid for windows of {block_samples}: "
                             "give 0 <= overlap <= half the window")
    hop = block_samples - overlap_samples
    buffer = torch.zeros(0)
    tail: torch.Tensor | None = None  # processed overlap of the previous window, not yet emitted
    fade_in: torch.Tensor | None = None
    exhausted = False
    source = iter(blocks)
    while True:
        while not exhausted and buffer.shape[-1] < block_samples:
            nxt = next(source, None)
            if nxt is None:
                exhausted = True
            else:
                buffer = torch.cat([buffer.to(nxt.dtype), nxt])
        if buffer.shape[-1] == 0:
            break
        if tail is not None and exhausted and buffer.shape[-1] <= overlap_samples:
            yield tail[..., : buffer.shape[-1]]  # the file ended inside the last overlap: already processed
            break
        window = buffer[:block_samples]
        out = process(window)
        if tail is not None and overlap_samples > 0:
            if align_sources and out.ndim == 2:
                out = _align(out, tail, min(overlap_samples, out.shape[-1]))
            n = min(overlap_samples, out.shape[-1])
            if fade_in is None:
                fade_in = _fade(overlap_samples, out.dtype)
            out = out.clone()
            out[..., :n] = tail[..., :n] * (1 - fade_in[:n]) + out[..., :n] * fade_in[:n]
        last = exhausted and buffer.shape[-1] <= block_samples
        if last:
            yield out
            break
        yield out[..., :hop]
        tail = out[..., hop:]
        buffer = buffer[hop:]


def _model_call(model: torch.nn.Module, method: str) -> Callable[[torch.Tensor], torch.Tensor]:
    fn = getattr(model, method, None)
    if fn is None:
        raise ParameterError(f"the model {type(model).__name__} has no {method}(): give the run folder of a "
                             f"{'denoiser (mask_unet)' if method == 'enhance' else 'separator (mask_unet_separator or conv_tasnet)'}")
    min_samples = int(getattr(model, "min_samples", 1))

    @torch.no_grad()
    def call(window: torch.Tensor) -> torch.Tensor:
        n = window.shape[-1]
        x = window.float()
        if n < min_samples:  # a short file (or a short last window): pad, process, trim
            x = torch.nn.functional.pad(x, (0, min_samples - n))
        return fn(x)[..., :n]

    return call


def _check_rates(path: Path, model_rate: int) -> int:
    file_rate = int(info(path).sample_rate)
    ratio = max(file_rate, model_rate) / min(file_rate, model_rate)
    if ratio > _MAX_RATE_RATIO:
        raise ParameterError(
            f"{path}: sample rate {file_rate} Hz is too far from the model's {model_rate} Hz (ratio {ratio:.1f} > "
            f"{_MAX_RATE_RATIO}): resample the file to between {model_rate // _MAX_RATE_RATIO} and "
            f"{model_rate * _MAX_RATE_RATIO} Hz first, or use a model trained at a closer rate")
    return file_rate


def _run(model: torch.nn.Module, method: str, in_path: PathLike, writers: list[sf.SoundFile], *, sample_rate: int,
         file_rate: int, block_s: float, overlap_s: float) -> int:
    block = int(round(check_positive_float("block_s", block_s, what="seconds") * sample_rate))
    overlap = int(round(check_positive_float("overlap_s", overlap_s, allow_zero=True, what="seconds") * sample_rate))
    back = None if file_rate == sample_rate else [
        soxr.ResampleStream(sample_rate, file_rate, 1, dtype="float64", quality="HQ") for _ in writers]
    source = blocks(in_path, block_size=block, sample_rate=sample_rate, mono=True)
    chunks = overlap_add(source, _model_call(model, method), block_samples=block, overlap_samples=overlap,
                         align_sources=method == "separate")
    written = 0

    def emit(chunk: torch.Tensor, last: bool) -> None:
        nonlocal written
        rows = chunk.reshape(len(writers), -1).double().numpy()
        for s, writer in enumerate(writers):
            data = rows[s] if back is None else back[s].resample_chunk(rows[s], last=last)
            writer.write(np.clip(data, -1.0, 1.0))
            if s == 0:
                written += data.shape[0]

    pending = next(chunks, None)
    while pending is not None:
        nxt = next(chunks, None)
        emit(pending, last=nxt is None)
        pending = nxt
    return written


def denoise_file(model: torch.nn.Module, in_path: PathLike, out_path: PathLike, *, sample_rate: int,
                 block_s: float = 4.0, overlap_s: float = 0.5, subtype: str = "PCM_16") -> Path:
    """Denoise ``in_path`` with ``model.enhance`` (at ``sample_rate``) into ``out_path`` at the file's rate."""
    in_path, out_path = Path(in_path), Path(out_path)
    _model_call(model, "enhance")
    file_rate = _check_rates(in_path, int(sample_rate))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with sf.SoundFile(out_path, "w", samplerate=file_rate, channels=1, subtype=subtype) as writer:
        _run(model, "enhance", in_path, [writer], sample_rate=int(sample_rate), file_rate=file_rate,
             block_s=block_s, overlap_s=overlap_s)
    return out_path


def separate_file(model: torch.nn.Module, in_path: PathLike, out_dir: PathLike, *, sample_rate: int,
                  block_s: float = 4.0, overlap_s: float = 0.5, subtype: str = "PCM_16") -> list[Path]:
    """Separate ``in_path`` with ``model.separate`` into ``out_dir/source1.wav``, ``source2.wav``, …"""
    in_path, out_dir = Path(in_path), Path(out_dir)
    _model_call(model, "separate")
    file_rate = _check_rates(in_path, int(sample_rate))
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"source{s + 1}.wav" for s in range(int(getattr(model, "num_sources", 2)))]
    writers = [sf.SoundFile(p, "w", samplerate=file_rate, channels=1, subtype=subtype) for p in paths]
    try:
        _run(model, "separate", in_path, writers, sample_rate=int(sample_rate), file_rate=file_rate,
             block_s=block_s, overlap_s=overlap_s)
    finally:
        for w in writers:
            w.close()
    return paths
