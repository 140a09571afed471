"""Time and frequency resolution of a short-time analysis, and wideband/narrowband presets.

The lecture's uncertainty principle for an analysis window of ``N`` samples at rate ``F_s``:

    Δt = N / F_s  [s]        Δf = F_s / N = f_max / (N/2)  [Hz]        f_max = F_s / 2  [Hz]

so ``Δt · Δf = 1``: a short window (wideband) places events precisely in time but smears
frequency; a long window (narrowband) separates close frequencies but smears time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from polysense._checks import check_choice, check_positive_int, check_sample_rate, check_size
from polysense.errors import ParameterError

__all__ = ["PRESETS", "Resolution", "preset", "resolution"]


@dataclass(frozen=True)
class Resolution:
    """What a (sample_rate, n_fft, hop_length) analysis can resolve. All times in s, frequencies in Hz.

    Attributes
    ----------
    sample_rate, n_fft, hop_length, win_length : the analysis parameters.
    delta_t_s : ``win_length / F_s`` (``= N / F_s`` with the default win_length = n_fft): the
        duration one frame sees, the time resolution.
    delta_f_hz : ``F_s / n_fft``: spacing of the frequency bins, the frequency resolution.
    f_max_hz : ``F_s / 2``: the Nyquist frequency, the highest bin.
    hop_s : ``hop_length / F_s``: time between frames.
    n_bins : ``n_fft // 2 + 1`` one-sided bins.
    bin_frequencies_hz : Tensor (n_bins,), ``k · Δf``.
    num_frames : number of frames for ``num_samples`` (None if not given).
    frame_times_s : Tensor (num_frames,) of frame centres, or None. With ``center=True`` frame
        ``m`` is centred on sample ``m·H`` (librosa/torch convention: ``1 + T // H`` frames);
        with ``center=False`` it starts at ``m·H`` and its centre is ``(m·H + N/2) / F_s``
        (``1 + (T − N) // H`` frames).
    """

    sample_rate: float
    n_fft: int
    hop_length: int
    win_length: int
    delta_t_s: float
    delta_f_hz: float
    f_max_hz: float
    hop_s: float
    n_bins: int
    bin_frequencies_hz: torch.Tensor = field(repr=False)
    num_frames: int | None = None
    frame_times_s: torch.Tensor | None = field(default=None, repr=False)

    def summary(self) -> dict[str, float | int | None]:
        """The scalar fields as a plain dict (for tables and JSON)."""
        return {
            "sample_rate": self.sample_rate,
            "n_fft": self.n_fft,
            "hop_length": self.hop_length,
            "win_length": self.win_length,
            "delta_t_s": self.delta_t_s,
            "delta_f_hz": self.delta_f_hz,
            "f_max_hz": self.f_max_hz,
            "hop_s": self.hop_s,
            "n_bins": self.n_bins,
            "num_frames": self.num_frames,
        }


def resolution(
    *,
    sample_rate: float,
    n_fft: int,
    hop_length: int,
    num_samples: int | None = None,
    win_length: int | None = None,
    center: bool = True,
) -> Resolution:
    """Time/frequency resolution and the frame and bin axes of an STFT.

    ``Δt = win_length / F_s`` (win_length defaults to n_fft, giving the lecture's ``N / F_s``),
    ``Δf = F_s / n_fft``, ``f_max = F_s / 2``, bins at ``k·Δf`` for ``k = 0 … n_fft//2``, and,
    when ``num_samples`` is given, the frame centre times (see :class:`Resolution`).

    Example: 16 kHz, n_fft = 512, hop 128 → Δt = 32 ms, Δf = 31.25 Hz, f_max = 8 kHz, hop 8 ms.
    """
    sr = check_sample_rate(sample_rate)
    n_fft = check_size("n_fft", n_fft, minimum=2, limit="max_fft", bytes_each=8, what="FFT length")
    hop_length = check_positive_int("hop_length", hop_length, what="samples between frames")
    if win_length is None:
        win_length = n_fft
    win_length = check_size("win_length", win_length, limit="max_fft", what="window length in samples")
    if win_length > n_fft:
        raise ParameterError(f"win_length={win_length} is invalid: expected 1 <= win_length <= n_fft={n_fft}")
    bins = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * (sr / n_fft)
    num_frames = None
    frame_times = None
    if num_samples is not None:
        num_samples = check_positive_int("num_samples", num_samples, what="signal length in samples")
        # frame_times holds one value per frame: bounded like a signal (a lying header claimed 2**36 samples)
        check_size("frames (num_samples / hop_length)", num_samples // hop_length + 1, limit="max_samples", bytes_each=8)
        if center:
            num_frames = 1 + num_samples // hop_length
            frame_times = torch.arange(num_frames, dtype=torch.float64) * (hop_length / sr)
        else:
            if num_samples < n_fft:
                raise ParameterError(
                    f"num_samples={num_samples} is shorter than n_fft={n_fft} with center=False: "
                    f"expected num_samples >= {n_fft} (or center=True)"
                )
            num_frames = 1 + (num_samples - n_fft) // hop_length
            frame_times = (torch.arange(num_frames, dtype=torch.float64) * hop_length + n_fft / 2) / sr
    return Resolution(
        sample_rate=sr,
        n_fft=n_fft,
        hop_length=hop_length,
        win_length=win_length,
        delta_t_s=win_length / sr,
        delta_f_hz=sr / n_fft,
        f_max_hz=sr / 2,
        hop_s=hop_length / sr,
        n_bins=n_fft // 2 + 1,
        bin_frequencies_hz=bins,
        num_frames=num_frames,
        frame_times_s=frame_times,
    )


# Window durations: target and the acceptable range, in seconds. Speech has a pitch period of
# ~2.5-10 ms. A wideband window (~4 ms, Δf ~250 Hz) is shorter than one period: it shows each
# glottal pulse as a vertical striation and the formants as broad bands. A narrowband window
# (~20-40 ms, Δf ~25-50 Hz) spans several periods: it resolves the individual harmonics of the
# pitch as horizontal lines but blurs fast events. The lecture sizes windows in powers of two,
# so the preset picks the power-of-two length (n_fft = win_length) whose duration falls in the
# range, closest (in log scale) to the target; if none falls in it, the one closest overall.
# Hop = n_fft // 4 (75 % overlap, enough for a Hann window to satisfy COLA/NOLA).
PRESETS: dict[str, dict[str, float]] = {
    "wideband": {"target_s": 0.004, "min_s": 0.003, "max_s": 0.005, "overlap": 0.75},
    "narrowband": {"target_s": 0.032, "min_s": 0.020, "max_s": 0.040, "overlap": 0.75},
}


def preset(name: str, sample_rate: float) -> dict[str, int]:
    """STFT parameters ``dict(n_fft=..., hop_length=..., win_length=...)`` for a named analysis.

    ``"wideband"``: window of 3-5 ms (target 4 ms); ``"narrowband"``: 20-40 ms (target 32 ms).
    The length is a power of two (see :data:`PRESETS`), hop = n_fft // 4. At 16 kHz:
    wideband n_fft = 64 (4 ms, Δf = 250 Hz), narrowband n_fft = 512 (32 ms, Δf = 31.25 Hz).
    """
    check_choice("name", name, PRESETS)
    sr = check_sample_rate(sample_rate)
    spec = PRESETS[name]
    # candidate powers of two from 2 up to well past the range
    candidates = [2**p for p in range(1, 31)]
    target = spec["target_s"] * sr

    def distance(n: int) -> float:
        return abs(math.log2(n) - math.log2(target))

    inside = [n for n in candidates if spec["min_s"] <= n / sr <= spec["max_s"]]
    n_fft = min(inside or candidates, key=distance)
    hop = max(1, int(round(n_fft * (1.0 - spec["overlap"]))))
    return {"n_fft": n_fft, "hop_length": hop, "win_length": n_fft}
