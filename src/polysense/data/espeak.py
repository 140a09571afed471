"""Synthetic speakers from espeak-ng: the ten digit words in many voices, cached as wav files.

Four real speakers are too few to learn what a word sounds like apart from who says it. espeak-ng
(a Debian package, formant synthesis, no model weights) speaks English in 8 accents (``en-us``,
``en-gb``, Scottish, RP, Lancaster, West Midlands, Caribbean, New York) with ~25 voice variants
(``+m1`` … ``+f5``, ``+klatt`` …, each with its own formant scaling and pitch range), and takes a
base pitch (``-p``, 0-99) and a speed (``-s``, words per minute). A *voice* here is one such
combination, drawn reproducibly from a seed; :func:`generate_espeak_digits` speaks
``zero`` … ``nine`` in ``num_voices`` of them, trims the leading and trailing silence (FSDD's
recordings are trimmed), resamples to ``sample_rate`` and writes
``{digit}_{voice}_{take}.wav`` (FSDD's naming) plus ``voices.json`` into a cache folder. Files
already there are kept, so a second call costs only a directory listing.

:func:`espeak_available` says whether the program is installed; without it the generator
raises :class:`~polysense.errors.ParameterError` saying how to install it, and tests skip.

The ``fsdd_plus_tts`` dataset (registered here) is the ``fsdd`` split with these voices added
to its training split (group = the voice, so they never leak into validation or test).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from polysense._checks import check_positive_int, check_sample_rate
from polysense.data.builtin import _folder, append_train_rows, manifest_table_splits, with_generated_train_rows
from polysense.data.fsdd import fsdd_manifest
from polysense.data.registry import DataSplits, register_dataset
from polysense.errors import ParameterError
from polysense.signal.resample import resample

__all__ = [
    "ACCENTS",
    "VARIANTS",
    "EspeakVoice",
    "espeak_available",
    "espeak_voices",
    "fsdd_plus_tts_splits",
    "generate_espeak_digits",
    "synthesize",
    "trim_silence",
]

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
# Human-sounding variants (the robotic, whispered and novelty ones are left out).
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2",
            "klatt3", "klatt4", "adam", "Andy", "Annie", "Alex", "Alicia", "david", "edward", "john", "linda",
            "max", "paul", "steph", "travis")
_PROGRAM = "espeak-ng"


@dataclass(frozen=True)
class EspeakVoice:
    """One synthetic speaker: accent, variant, base pitch (0-99) and speed (words per minute)."""

    accent: str
    variant: str
    pitch: int
    speed_wpm: int

    @property
    def name(self) -> str:
        """A file-name-safe id, e.g. ``tts-en-gb-m3-p40-s150`` (no underscores: FSDD names split on them)."""
        return f"tts-{self.accent}-{self.variant}-p{self.pitch}-s{self.speed_wpm}".replace("_", "-")

    def arguments(self) -> list[str]:
        return ["-v", f"{self.accent}+{self.variant}", "-p", str(self.pitch), "-s", str(self.speed_wpm)]


def espeak_available() -> bool:
    """True when the ``espeak-ng`` program is on the PATH."""
    return shutil.which(_PROGRAM) is not None


def _require_espeak() -> str:
    path = shutil.which(_PROGRAM)
    if path is None:
        raise ParameterError(
            "espeak-ng is not installed, so no synthetic speakers can be made: install it "
            "(Debian/Ubuntu: apt-get install espeak-ng; macOS: brew install espeak-ng) or drop the synthetic voices "
            "from the data config (synthetic_voices: 0)"
        )
    return path


def espeak_voices(num_voices: int, *, seed: int = 0, pitch_range: Sequence[int] = (15, 85),
                  speed_range_wpm: Sequence[int] = (110, 200)) -> list[EspeakVoice]:
    """``num_voices`` distinct voices drawn reproducibly from ``seed``.

    Accents and variants are dealt round-robin over shuffled lists (so 8 voices cover all 8
    accents), pitch and speed uniformly from their ranges.
    """
    num_voices = check_positive_int("num_voices", num_voices, minimum=0)
    rng = random.Random(seed)
    accents, variants = list(ACCENTS), list(VARIANTS)
    rng.shuffle(accents)
    rng.shuffle(variants)
    voices: list[EspeakVoice] = []
    seen: set[str] = set()
    i = 0
    while len(voices) < num_voices:
        voice = EspeakVoice(accents[i % len(accents)], variants[i % len(variants)],
                            rng.randint(*pitch_range), rng.randint(*speed_range_wpm))
        i += 1
        if voice.name not in seen:
            seen.add(voice.name)
            voices.append(voice)
    return voices


def trim_silence(x: np.ndarray, *, sample_rate: float, threshold_db: float = -40.0, frame_s: float = 0.01,
                 margin_s: float = 0.02) -> np.ndarray:
    """Cut leading/trailing frames whose RMS is below ``threshold_db`` relative to the loudest frame,
    keeping ``margin_s`` seconds on each side."""
    frame = max(1, int(round(frame_s * sample_rate)))
    n = len(x) // frame
    if n == 0:
        return x
    rms = np.sqrt(np.mean(x[: n * frame].reshape(n, frame).astype(np.float64) ** 2, axis=1)) + 1e-12
    loud = np.nonzero(20 * np.log10(rms / rms.max()) > threshold_db)[0]
    margin = int(round(margin_s * sample_rate))
    start = max(0, loud[0] * frame - margin)
    stop = min(len(x), (loud[-1] + 1) * frame + margin)
    return x[start:stop]


def synthesize(text: str, voice: EspeakVoice, *, sample_rate: int = 8000, trim: bool = True) -> torch.Tensor:
    """``text`` spoken by ``voice``: a float32 waveform (T,) at ``sample_rate``, peak 0.5."""
    program = _require_espeak()
    sample_rate = int(check_sample_rate(sample_rate))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "out.wav"
        result = subprocess.run([program, *voice.arguments(), "-w", str(path), text], capture_output=True,
                                text=True, timeout=60, check=False)
        if result.returncode != 0 or not path.exists():
            raise ParameterError(f"espeak-ng failed for voice {voice.name!r} and text {text!r}: {result.stderr.strip()}")
        x, native_rate = sf.read(path, dtype="float32")
    if x.ndim > 1:
        x = x.mean(axis=1)
    if trim:
        x = trim_silence(x, sample_rate=native_rate)
    y = resample(torch.from_numpy(np.ascontiguousarray(x)), orig_sample_rate=native_rate, new_sample_rate=sample_rate)
    peak = float(y.abs().max())
    return (y * (0.5 / peak) if peak > 0 else y).to(torch.float32)


def generate_espeak_digits(folder: str | os.PathLike, *, num_voices: int = 100, seed: int = 0,
                           sample_rate: int = 8000) -> list[Path]:
    """Speak the ten digit words in ``num_voices`` voices into ``folder`` (cached); the wav paths.

    Files are ``{digit}_{voice.name}_0.wav``; ``voices.json`` lists the voices. Existing files are
    reused (their names encode everything that shapes them, except the sample rate, which is part
    of the folder's ``settings.json`` and checked).
    """
    folder = Path(folder)
    voices = espeak_voices(num_voices, seed=seed)
    folder.mkdir(parents=True, exist_ok=True)
    settings = folder / "settings.json"
    wanted = {"sample_rate": int(sample_rate), "espeak": _version_tag()}
    if settings.exists():
        if json.loads(settings.read_text()).get("sample_rate") != wanted["sample_rate"]:
            raise ParameterError(f"{folder} holds espeak-ng digits at another sample rate: use another cache folder")
    paths = []
    for voice in voices:
        for digit, word in enumerate(DIGIT_WORDS):
            path = folder / f"{digit}_{voice.name}_0.wav"
            if not path.exists():
                y = synthesize(word, voice, sample_rate=sample_rate)
                tmp = path.with_suffix(".tmp.wav")
                sf.write(tmp, y.numpy(), int(sample_rate), subtype="PCM_16")
                os.replace(tmp, path)  # atomic: an interrupted run never leaves a truncated file
            paths.append(path)
    settings.write_text(json.dumps(wanted))
    (folder / "voices.json").write_text(json.dumps([asdict(v) | {"name": v.name} for v in voices], indent=1))
    return paths


def _version_tag() -> str:
    program = shutil.which(_PROGRAM)
    if program is None:
        return "absent"
    out = subprocess.run([program, "--version"], capture_output=True, text=True, check=False).stdout
    return hashlib.sha1(out.encode()).hexdigest()[:8]


def default_tts_cache() -> Path:
    """``$POLYSENSE_CACHE/espeak-digits``, else ``~/.cache/polysense/espeak-digits``."""
    root = os.environ.get("POLYSENSE_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "polysense") / "espeak-digits"


@register_dataset("fsdd_plus_tts")
def fsdd_plus_tts_splits(
    *,
    seed: int,
    fsdd_folder: str | None = None,
    test_speakers: Sequence[str] | str = ("theo",),
    val_speakers: Sequence[str] | str = ("jackson",),
    sample_rate: int = 8000,
    synthetic_voices: int = 100,
    voice_seed: int = 0,
    tts_cache: str | None = None,
    cache: str | None = None,
    extra_train: Sequence[str] | str = (),
) -> DataSplits:
    """FSDD split by speaker, with ``synthetic_voices`` espeak-ng voices added to the training split.

    The voices depend on ``voice_seed`` only (not the run's seed), so every seed trains on the same
    synthetic speakers. ``tts_cache``: the folder of generated files (default :func:`default_tts_cache`).
    ``extra_train``: folders written by ``polysense generate`` whose clips also join the training
    split (:func:`polysense.data.builtin.with_generated_train_rows`).
    """

    table = fsdd_manifest(_folder(fsdd_folder), test_speakers=test_speakers, val_speakers=val_speakers)
    synthetic_voices = check_positive_int("synthetic_voices", synthetic_voices, minimum=0)
    if synthetic_voices:
        cache_dir = Path(tts_cache) if tts_cache else default_tts_cache()
        paths = generate_espeak_digits(cache_dir, num_voices=synthetic_voices, seed=voice_seed, sample_rate=sample_rate)
        rows = []
        for path in paths:
            digit, voice, _ = path.stem.split("_")
            rows.append((path.stem, path, int(digit), f"the digit {DIGIT_WORDS[int(digit)]} spoken by {voice}", voice,
                         {"speaker": voice}))
        table = append_train_rows(table, rows)
    table = with_generated_train_rows(table, extra_train)
    return manifest_table_splits(table, sample_rate=sample_rate, classes=DIGIT_WORDS,
                                 description=f"FSDD spoken digits + {synthetic_voices} espeak-ng voices at {sample_rate} Hz"
                                             + (f" + generated clips of {extra_train}" if extra_train else ""),
                                 cache=cache)


def read_espeak_folder(folder: str | os.PathLike, *, max_voices: int | None = None) -> list[tuple[torch.Tensor, int]]:
    """(waveform, digit) pairs of a generated folder, in voices.json order (the first ``max_voices``)."""
    folder = Path(folder)
    voices = json.loads((folder / "voices.json").read_text())
    if max_voices is not None:
        voices = voices[:max_voices]
    items = []
    for v in voices:
        for digit in range(10):
            x, _ = sf.read(folder / f"{digit}_{v['name']}_0.wav", dtype="float32")
            items.append((torch.from_numpy(x), digit))
    return items
