"""The waveform and spectrogram of any mono signal (``polysense spectrogram``), from computed data."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure

from polysense._checks import check_choice, check_positive_int, check_sample_rate, check_signal, check_size
from polysense.errors import ParameterError
from polysense.explain.drawing import TONE_COLOUR, draw_spectrogram, power_to_display_db, to_numpy
from polysense.signal.conventions import get_convention
from polysense.signal.dft import fft_frequencies
from polysense.signal.filterbanks import mel_frequencies
from polysense.signal.plan import frame_times
from polysense.signal.resolution import resolution
from polysense.signal.spectrogram import mel_spectrogram, spectrogram

__all__ = ["SCALES", "spectrogram_figure"]

SCALES = ("linear", "log", "mel")


def spectrogram_figure(
    waveform: torch.Tensor,
    *,
    sample_rate: float,
    n_fft: int = 1024,
    hop_length: int | None = None,
    win_length: int | None = None,
    window: str = "hann",
    scale: str = "linear",
    db: bool = True,
    convention: str | None = None,
    n_mels: int = 128,
    top_db: float | None = 80.0,
    title: str | None = None,
) -> Figure:
    """Waveform and spectrogram of a mono signal with labelled axes (s, Hz) and a colour bar.

    Parameters
    ----------
    waveform : Tensor (time,)
    scale : "linear" (STFT bins on a linear Hz axis), "log" (STFT bins on a logarithmic Hz axis,
        DC dropped) or "mel" (``mel_spectrogram`` with ``n_mels`` bands, Hz axis in mel spacing).
    db : power in dB relative to the loudest bin (floored ``top_db`` below it) or linear power.
    convention : "librosa" (default), "torchaudio" or "scipy" (see polysense.signal.conventions).
    """
    x = check_signal("waveform", waveform)
    if x.ndim != 1:
        raise ParameterError(f"waveform has shape {tuple(x.shape)}: expected a mono signal of shape (time,)")
    sr = check_sample_rate(sample_rate)
    check_choice("scale", scale, SCALES)
    n_fft = check_positive_int("n_fft", n_fft, minimum=2, what="FFT length")
    # checked whatever the scale: a bad value given for a scale that ignores it is still a mistake
    n_mels = check_size("n_mels", n_mels, limit="max_fft", what="number of mel bands")
    win = win_length if win_length is not None else n_fft
    hop = hop_length if hop_length is not None else max(1, win // 4)
    res = resolution(sample_rate=sr, n_fft=n_fft, hop_length=hop, win_length=win)

    if scale == "mel":
        power = mel_spectrogram(x, sample_rate=sr, n_fft=n_fft, hop_length=hop, win_length=win, window=window,
                                n_mels=n_mels, power=2.0, convention=convention)
        htk = get_convention(convention).mel_scale == "htk"
        freqs = to_numpy(mel_frequencies(n_mels + 2, f_min_hz=0.0, f_max_hz=sr / 2, htk=htk))[1:-1]
    else:
        power = spectrogram(x, n_fft=n_fft, hop_length=hop, win_length=win, window=window, power=2.0,
                            convention=convention)
        freqs = to_numpy(fft_frequencies(n_fft=n_fft, sample_rate=sr))
    values = power_to_display_db(power, top_db) if db else power
    values = to_numpy(values)
    if scale == "log":
        values, freqs = values[1:], freqs[1:]
    times = to_numpy(frame_times(x.shape[-1], sample_rate=sr, n_fft=n_fft, hop_length=hop, win_length=win,
                                convention=convention, window=window))

    fig = Figure(figsize=(10, 6.2), layout="constrained")
    grid = fig.add_gridspec(2, 2, height_ratios=(1, 3.2), width_ratios=(1, 0.025))
    ax_wave = fig.add_subplot(grid[0, 0])
    ax_spec = fig.add_subplot(grid[1, 0], sharex=ax_wave)
    cax = fig.add_subplot(grid[1, 1])
    t = np.arange(x.shape[-1]) / sr
    ax_wave.plot(t, to_numpy(x), color=TONE_COLOUR, linewidth=0.6)
    ax_wave.set_xlim(0, x.shape[-1] / sr)
    ax_wave.set_ylabel("Amplitude")
    ax_wave.tick_params(labelbottom=False)
    ax_wave.grid(alpha=0.3)
    kind = {"linear": "linear frequency", "log": "log frequency", "mel": f"{n_mels} mel bands"}[scale]
    draw_spectrogram(fig, ax_spec, values, times_s=times, freqs_hz=freqs, db=db, yscale=scale, cax=cax,
                     f_max_hz=sr / 2)
    ax_spec.set_xlim(0, x.shape[-1] / sr)
    ax_spec.set_title(
        f"{window} window, n_fft={n_fft} (Δt={res.delta_t_s * 1000:.4g} ms, Δf={res.delta_f_hz:.4g} Hz), "
        f"hop={hop} ({res.hop_s * 1000:.4g} ms), {kind}",
        fontsize=10,
    )
    fig.suptitle(title or f"Spectrogram ({sr:g} Hz, {x.shape[-1] / sr:.2f} s)")
    return fig
