"""Noise for on-the-fly mixtures: coloured noise, babble, hum, clicks and bursts.

Every generator is a pure function of its arguments and a ``numpy.random.Generator``, returns a
float64 tensor of ``num_samples`` and has unit mean power (RMS 1), so mixing at an SNR is one
scale factor (:func:`scale_to_snr`).

==========  ==========================================================================
kind        how it is made
==========  ==========================================================================
white       i.i.d. Gaussian samples (flat power spectrum)
pink        white noise shaped by 1/√f in the DFT domain (power ∝ 1/f, −3 dB/octave)
brown       white noise shaped by 1/f (power ∝ 1/f², −6 dB/octave); DC bin zeroed
babble      3–6 utterances of other speakers at random offsets, each at unit power
hum         a fundamental in [50, 120] Hz and its harmonics below 0.45·sr, amplitudes 1/k
clicks      the synthetic generator's click train (Hann-gated tone pulses, 10–16 per second)
bursts      2–4 of the synthetic generator's third-octave noise bursts (0.15–0.3 s) per second
==========  ==========================================================================
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from polysense._checks import check_choice
from polysense.data.synthetic import _event
from polysense.errors import ParameterError

__all__ = ["NOISE_TYPES", "make_noise", "scale_to_snr"]

NOISE_TYPES = ("white", "pink", "brown", "babble", "hum", "clicks", "bursts")


def _coloured(num_samples: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """White noise with its amplitude spectrum multiplied by f^(−exponent/2) (power ∝ f^−exponent)."""
    spectrum = np.fft.rfft(rng.standard_normal(num_samples))
    f = np.arange(spectrum.size, dtype=np.float64)
    f[0] = 1.0
    shaped = spectrum / f ** (exponent / 2)
    shaped[0] = 0.0
    return np.fft.irfft(shaped, n=num_samples)


def _place(segment: np.ndarray, num_samples: int, rng: np.random.Generator) -> np.ndarray:
    """``segment`` at a random offset in ``num_samples`` (cropped at a random start if longer)."""
    out = np.zeros(num_samples)
    if segment.size >= num_samples:
        start = int(rng.integers(0, segment.size - num_samples + 1))
        return segment[start : start + num_samples].copy()
    start = int(rng.integers(0, num_samples - segment.size + 1))
    out[start : start + segment.size] = segment
    return out


def _babble(num_samples: int, rng: np.random.Generator, pool: Sequence[torch.Tensor] | None) -> np.ndarray:
    if not pool:
        raise ParameterError("noise kind 'babble' needs a pool of other speakers' utterances: "
                             "give babble_pool=[...] (the mixture datasets pass their other speakers)")
    out = np.zeros(num_samples)
    for _ in range(int(rng.integers(3, 7))):
        utt = pool[int(rng.integers(0, len(pool)))].double().numpy()
        power = np.mean(utt**2)
        if power > 0:
            # tile short utterances so the babble covers the whole segment
            reps = -(-num_samples // utt.size)
            seg = np.tile(utt, reps) if reps > 1 else utt
            out += _place(seg / np.sqrt(power), num_samples, rng)
    return out


def _hum(num_samples: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    f0 = rng.uniform(50.0, 120.0)
    t = np.arange(num_samples) / sample_rate
    out = np.zeros(num_samples)
    k = 1
    while k * f0 < 0.45 * sample_rate and k <= 40:
        out += np.sin(2 * np.pi * (k * f0 * t + rng.uniform())) / k
        k += 1
    return out


def _synthetic_event(kind: str, duration_s: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    # the synthetic dataset's event generator (one definition of clicks and noise bursts)

    attrs = {"kind": kind, "direction": "steady", "event_duration_s": duration_s,
             "f0_hz": float(rng.uniform(200.0, min(1200.0, 0.3 * sample_rate)))}
    return _event(attrs, sample_rate, rng).numpy()


def make_noise(kind: str, num_samples: int, *, sample_rate: int, rng: np.random.Generator,
               babble_pool: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
    """Noise of ``kind`` (see the module table), ``num_samples`` long, float64 with RMS 1."""
    check_choice("noise kind", kind, NOISE_TYPES)
    n = int(num_samples)
    if kind == "white":
        x = rng.standard_normal(n)
    elif kind == "pink":
        x = _coloured(n, 1.0, rng)
    elif kind == "brown":
        x = _coloured(n, 2.0, rng)
    elif kind == "babble":
        x = _babble(n, rng, babble_pool)
    elif kind == "hum":
        x = _hum(n, sample_rate, rng)
    elif kind == "clicks":
        x = _synthetic_event("clicks", n / sample_rate, sample_rate, rng)
    else:  # bursts
        x = np.zeros(n)
        for _ in range(max(1, int(round(rng.uniform(2, 4) * n / sample_rate)))):
            x += _place(_synthetic_event("noise", rng.uniform(0.15, 0.3), sample_rate, rng), n, rng)
    power = float(np.mean(x**2))
    if power <= 0:  # a burst placement can miss nothing but a tiny segment; fall back to white
        x, power = rng.standard_normal(n), 1.0
    return torch.from_numpy(x / np.sqrt(power))


def scale_to_snr(speech: torch.Tensor, noise: torch.Tensor, *, snr_db: float, speech_power: float | None = None) -> torch.Tensor:
    """``noise`` scaled so that ``10·log10(P_speech / P_noise) = snr_db``.

    ``P_speech`` is ``speech_power`` when given (e.g. the power over the utterance's own samples,
    not its zero padding), else the mean square of ``speech``; ``P_noise`` the mean square of noise.
    """
    p_speech = float(speech.double().square().mean()) if speech_power is None else float(speech_power)
    p_noise = float(noise.double().square().mean())
    if p_speech <= 0:
        raise ParameterError("the speech segment is silent: an SNR needs speech power > 0; choose another segment")
    if p_noise <= 0:
        raise ParameterError("the noise is silent: an SNR needs noise power > 0")
    return noise * np.sqrt(p_speech / (p_noise * 10 ** (snr_db / 10)))
