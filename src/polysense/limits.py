"""The size limits polysense enforces on input, each configurable by an environment variable.

A limit exists so that a hostile or mistaken value (an FFT of 2**31 points, a 100 kB file whose
header claims 2**36 frames, a manifest of ten million rows) is refused up front with a message
saying how much memory it would have needed, instead of exhausting memory or hanging. The defaults
are far above what real audio work needs; raise one by setting its variable, e.g.
``POLYSENSE_MAX_FFT=4194304``. The environment is read at each check, so a change applies at once.

Limits (environment variable: default, what it bounds):

- ``POLYSENSE_MAX_FFT``: 2**20 = 1,048,576; n_fft, win_length, frame_length, n_mels.
- ``POLYSENSE_MAX_SAMPLES``: 2**29 = 536,870,912 (2 GiB as float32); samples in one signal: a
  file's frames x channels, the output length of istft and resample.
- ``POLYSENSE_MAX_SPECTROGRAM_VALUES``: 2**30; signals x bins x frames of one STFT, and
  signals x mel bands x frames of a mel spectrogram.
- ``POLYSENSE_MAX_FILTERBANK_VALUES``: 2**23 = 8,388,608; bands x frequency bins of a filter
  bank (mel, linear, log) and coefficients x bands of a DCT matrix: the work of building one
  (about a second at the limit on one core; 128 mel bands at an FFT of 2**17 fit).
- ``POLYSENSE_MIN_SAMPLE_RATE`` / ``POLYSENSE_MAX_SAMPLE_RATE``: 0.001 Hz / 10 MHz; any sample
  rate, given as an argument or read from a file header.
- ``POLYSENSE_MAX_SAMPLE_VALUE``: 10,000; the magnitude of a floating-point file's samples (full
  scale is 1; 10,000 is 80 dB above it).
- ``POLYSENSE_MAX_MANIFEST_BYTES``: 256 MiB; ``POLYSENSE_MAX_MANIFEST_ROWS``: 10,000,000.
- ``POLYSENSE_MAX_UPLOAD_BYTES``: 100 MiB; one upload to the search service.
- ``POLYSENSE_MAX_MODEL_DIM``: 2**20; any size in a model config (a width, a vocabulary).
- ``POLYSENSE_MAX_MODEL_DEPTH``: 1,024; layers, blocks or heads in a model config.
- ``POLYSENSE_MAX_MODEL_BYTES``: 16 GiB; the parameter memory of a built model.
- ``POLYSENSE_MAX_GENERATED_CLIPS``: 10,000; clips one ``polysense generate`` call makes (about
  two hours of 0.75 s digits, 120 MB of 16-bit WAV at 8 kHz).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

from polysense.errors import ParameterError

__all__ = ["Limits", "current", "format_bytes"]


@dataclass(frozen=True)
class Limits:
    """The limits in force (see the module docstring); :func:`current` reads them from the environment."""

    max_fft: int = 1 << 20
    max_samples: int = 1 << 29
    max_spectrogram_values: int = 1 << 30
    max_filterbank_values: int = 1 << 23
    max_sample_rate: float = 10_000_000.0
    min_sample_rate: float = 0.001
    max_sample_value: float = 10_000.0
    max_manifest_bytes: int = 256 << 20
    max_manifest_rows: int = 10_000_000
    max_upload_bytes: int = 100 << 20
    max_model_dim: int = 1 << 20
    max_model_depth: int = 1024
    max_model_bytes: int = 16 << 30
    max_generated_clips: int = 10_000


def env_name(field: str) -> str:
    """The environment variable that sets ``field``, e.g. ``POLYSENSE_MAX_FFT``."""
    return f"POLYSENSE_{field.upper()}"


def current() -> Limits:
    """The limits in force: the defaults, overridden by any ``POLYSENSE_*`` variable that is set."""
    values = {}
    for f in fields(Limits):
        text = os.environ.get(env_name(f.name))
        if text is None or not text.strip():
            continue
        kind = int if f.type in ("int", int) else float
        try:
            value = kind(text.strip().replace("_", ""))
        except ValueError:
            raise ParameterError(
                f"environment variable {env_name(f.name)}={text!r} is invalid: expected a positive "
                f"{'integer' if kind is int else 'number'} (the default is {getattr(Limits, f.name)})"
            ) from None
        if not value > 0 or value != value or value == float("inf"):
            raise ParameterError(f"environment variable {env_name(f.name)}={text!r} is invalid: expected a value > 0")
        values[f.name] = value
    return Limits(**values)


def format_bytes(n: float) -> str:
    """``17179869184`` -> ``'16.0 GiB'``: memory sizes in messages."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"  # pragma: no cover
