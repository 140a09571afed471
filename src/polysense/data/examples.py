"""The built-in example sounds: synthesised in code, passed through the A/D path, nothing downloaded.

:func:`example_sound` is the demo's test sound (``polysense demo``); :func:`vowel` is the
speech-like vowel of the lecture's resolution figure; :func:`fade` the click-free envelope both use.
"""

from __future__ import annotations

import math

import torch

from polysense.signal.quantization import quantize_bits
from polysense.signal.resample import resample
from polysense.signal.sampling import chirp, sinusoid

__all__ = ["example_sound", "fade", "vowel"]


def fade(n: int, ramp: int) -> torch.Tensor:
    """Envelope rising linearly over ``ramp`` samples, flat, then falling over the last ``ramp``."""
    edge = torch.minimum(torch.arange(n), torch.arange(n).flip(0)).to(torch.float64)
    return torch.clamp(edge / max(ramp, 1), max=1.0)


def vowel(sample_rate: float, duration_s: float, *, f0_start: float = 110.0, f0_end: float = 150.0,
           formants: tuple[tuple[float, float], ...] = ((700.0, 110.0), (1220.0, 120.0), (2600.0, 160.0)),
           max_hz: float | None = None) -> torch.Tensor:
    """A speech-like vowel: harmonics of a gliding pitch f0(t), shaped by formant resonances.

    ``x(t) = Σ_k A(k·f0(t)) · cos(2π·k·Φ(t))`` with ``Φ = ∫f0`` (zero-phase harmonics, so each
    pitch period is a sharp pulse) and ``A(f) = Σ_i 1 / (1 + ((f − F_i)/B_i)²) + 0.02`` per
    formant (centre F_i, half-width B_i), harmonics up to ``max_hz`` (default Nyquist).
    Normalised to a 0.5 peak.
    """
    sr = float(sample_rate)
    top = sr / 2 if max_hz is None else min(float(max_hz), sr / 2)
    n = int(round(duration_s * sr))
    t = torch.arange(n, dtype=torch.float64) / sr
    f0 = f0_start + (f0_end - f0_start) * t / duration_s
    cycles = f0_start * t + 0.5 * (f0_end - f0_start) / duration_s * t**2
    k_max = max(1, int(top // min(f0_start, f0_end)))
    k = torch.arange(1, k_max + 1, dtype=torch.float64)[:, None]
    fk = k * f0[None, :]
    envelope = torch.full_like(fk, 0.02)
    for centre, width in formants:
        envelope = envelope + 1.0 / (1.0 + ((fk - centre) / width) ** 2)
    phase = torch.remainder(k * cycles[None, :], 1.0)
    x = (envelope * torch.cos(2 * math.pi * phase) * (fk < top)).sum(0)
    return 0.5 * x / x.abs().max()


def example_sound(*, sample_rate: int = 16000, duration_s: float = 2.0, bits: int = 16,
                  analog_rate: int = 48000) -> tuple[torch.Tensor, int]:
    """A built-in test sound, synthesised in code and passed through the A/D path.

    "Analog" signal at ``analog_rate`` (a fine stand-in for continuous time): a 440 Hz tone with
    its octave, a linear chirp 200 Hz → 6 kHz, a vowel with gliding pitch (second half) and a
    10 kHz tone that lies above the target Nyquist. The A/D path then resamples to
    ``sample_rate`` with soxr (HQ, the anti-aliasing low-pass removes the 10 kHz tone instead of
    letting it alias to 6 kHz) and quantizes to ``bits`` bits (PCM levels, Δ = 2/2^bits).

    Returns ``(waveform (time,) float32, sample_rate)``.
    """
    sr_in = float(analog_rate)
    n = int(round(duration_s * sr_in))
    tone = sinusoid(freq_hz=[440.0, 880.0], amplitude=[0.15, 0.06], sample_rate=sr_in, num_samples=n)
    sweep = chirp(f0_hz=200.0, f1_hz=6000.0, sample_rate=sr_in, num_samples=n, amplitude=0.2)
    half = n // 2
    speech = torch.zeros(n, dtype=torch.float64)
    speech[half:] = 0.8 * vowel(sr_in, (n - half) / sr_in, max_hz=7500.0) * fade(n - half, int(0.05 * sr_in))
    above = sinusoid(freq_hz=10000.0, sample_rate=sr_in, num_samples=n, amplitude=0.1)
    analog = (tone + sweep + above) * fade(n, int(0.05 * sr_in)) + speech
    digital = resample(analog, orig_sample_rate=sr_in, new_sample_rate=sample_rate, quality="HQ")
    digital = quantize_bits(digital, bits)
    return digital.to(torch.float32), int(sample_rate)
