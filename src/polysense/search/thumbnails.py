"""Spectrogram thumbnails of indexed audio (PNG bytes), for the web page.

A log-mel spectrogram (:func:`polysense.signal.spectrogram.log_mel_spectrogram`, librosa
convention: dB re 1, 80 dB range) of the hit's window, at most :data:`MAX_SECONDS` read from the
file, coloured with matplotlib's ``magma`` map, low frequencies at the bottom.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from polysense.signal.spectrogram import log_mel_spectrogram

__all__ = ["spectrogram_png"]

MAX_SECONDS = 30.0


def spectrogram_png(path: Path, *, start_s: float = 0.0, end_s: float | None = None,
                    width: int = 240, height: int = 64, n_mels: int = 48) -> bytes:
    """PNG bytes of the log-mel spectrogram of ``path`` between ``start_s`` and ``end_s`` seconds."""
    from matplotlib import colormaps
    from PIL import Image

    with sf.SoundFile(path) as f:
        rate = f.samplerate
        start = max(0, int(start_s * rate))
        stop = f.frames if end_s is None else min(f.frames, int(end_s * rate))
        stop = min(stop, start + int(MAX_SECONDS * rate))
        f.seek(start)
        block = f.read(max(stop - start, 0), dtype="float32", always_2d=True)
    wave = torch.from_numpy(block.mean(axis=1))
    n_fft = 512 if rate >= 16000 else 256
    if wave.numel() < n_fft:
        wave = torch.nn.functional.pad(wave, (0, n_fft - wave.numel()))
    hop = max(wave.numel() // (2 * width), n_fft // 4)
    db = log_mel_spectrogram(wave, sample_rate=rate, n_fft=n_fft, hop_length=hop, n_mels=n_mels,
                             convention="librosa").numpy()
    lo, hi = float(db.min()), float(db.max())
    scaled = (db - lo) / (hi - lo) if hi > lo else np.zeros_like(db)
    rgb = (colormaps["magma"](scaled[::-1])[..., :3] * 255).astype(np.uint8)
    image = Image.fromarray(rgb).resize((width, height), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
