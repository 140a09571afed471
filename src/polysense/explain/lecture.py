"""The lecture's explanatory figures, each computed with :mod:`polysense.signal` and returned as a
``matplotlib.figure.Figure``: aliasing, quantization, the DFT, windows, time/frequency resolution
and why the STFT.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from polysense._checks import check_positive_int, check_sample_rate
from polysense.data.examples import fade, vowel
from polysense.explain.drawing import (
    ALIAS_COLOUR,
    SAMPLES_COLOUR,
    TONE_COLOUR,
    draw_spectrogram,
    format_hz,
    power_to_display_db,
    to_numpy,
)
from polysense.signal.dft import amplitude_spectrum, dft_matrix, fft_frequencies
from polysense.signal.plan import frame_times
from polysense.signal.quantization import quantization_step, quantize_bits, sqnr_db
from polysense.signal.resolution import preset, resolution
from polysense.signal.sampling import alias_frequency, check_band, nyquist_frequency, sample_times, sinusoid
from polysense.signal.spectrogram import spectrogram
from polysense.signal.windows import get_window

__all__ = [
    "aliasing_figure",
    "dft_figure",
    "quantization_figure",
    "resolution_figure",
    "stft_figure",
    "windows_figure",
]


def aliasing_figure(*, freq_hz: float = 7000.0, sample_rate: float = 8000.0, duration_s: float = 0.004) -> Figure:
    """A tone above Nyquist, its samples, and the lower-frequency alias that passes through them.

    Top: the continuous tone (drawn at 64× the sample rate), the samples ``x(n) = f(n/F_s)`` and
    the alias ``f_alias = |f − F_s·round(f/F_s)|`` (:func:`alias_frequency`) through the same
    samples. Bottom: the amplitude spectrum of the samples (1 s), whose only peak sits at the
    alias, below the Nyquist frequency.
    """
    sr = check_sample_rate(sample_rate)
    f = float(freq_hz)
    fa = alias_frequency(f, sr)
    folded = f - sr * round(f / sr)  # signed: a negative value flips the alias's sign
    fine_rate = sr * 64
    n_fine = int(round(duration_s * fine_rate)) + 1
    t_fine = to_numpy(sample_times(sample_rate=fine_rate, num_samples=n_fine))
    tone = to_numpy(sinusoid(freq_hz=f, sample_rate=fine_rate, num_samples=n_fine))
    n = int(round(duration_s * sr)) + 1
    t_n = to_numpy(sample_times(sample_rate=sr, num_samples=n))
    samples = to_numpy(sinusoid(freq_hz=f, sample_rate=sr, num_samples=n))
    alias = math.copysign(1.0, folded) * to_numpy(sinusoid(freq_hz=fa, sample_rate=fine_rate, num_samples=n_fine))

    fig = Figure(figsize=(10, 6.5), layout="constrained")
    ax, ax_spec = fig.subplots(2, 1, height_ratios=(1.6, 1))
    ax.plot(t_fine * 1000, tone, color=TONE_COLOUR, linewidth=0.8, label=f"tone f = {f:g} Hz (continuous)")
    ax.plot(t_fine * 1000, alias, color=ALIAS_COLOUR, linewidth=2.0, linestyle="--",
            label=f"alias through the samples: {fa:g} Hz")
    ax.plot(t_n * 1000, samples, "o", color=SAMPLES_COLOUR, markersize=6, label=f"samples at F_s = {sr:g} Hz", zorder=3)
    ax.set_xlabel("Time (ms)")
    ax.set_ylabel("Amplitude")
    ax.set_xlim(0, t_fine[-1] * 1000)
    ax.set_ylim(-1.25, 1.6)
    ax.legend(loc="upper right", ncols=3, fontsize=9)
    ax.grid(alpha=0.3)
    ax.set_title(f"Undersampling: {f:g} Hz > Nyquist {nyquist_frequency(sr):g} Hz appears at {fa:g} Hz")

    long = sinusoid(freq_hz=f, sample_rate=sr, duration_s=1.0, phase=0.05)
    spectrum = to_numpy(amplitude_spectrum(long))
    freqs = to_numpy(fft_frequencies(n_fft=long.shape[-1], sample_rate=sr))
    ax_spec.plot(freqs, spectrum, color=SAMPLES_COLOUR)
    ax_spec.axvline(nyquist_frequency(sr), color="k", linestyle=":", label=f"Nyquist F_s/2 = {sr / 2:g} Hz")
    ax_spec.annotate(f"peak at {fa:g} Hz\n(the tone is at {f:g} Hz)", xy=(fa, 1.0),
                     xytext=(fa + sr * 0.08, 0.65), arrowprops={"arrowstyle": "->"}, fontsize=9)
    ax_spec.set_xlim(0, sr / 2 * 1.02)
    ax_spec.set_ylim(0, 1.15)
    ax_spec.xaxis.set_major_formatter(FuncFormatter(format_hz))
    ax_spec.set_xlabel("Frequency (Hz)")
    ax_spec.set_ylabel("Amplitude")
    ax_spec.set_title("Amplitude spectrum of the sampled tone (1 s)", fontsize=10)
    ax_spec.legend(loc="upper right", fontsize=9)
    ax_spec.grid(alpha=0.3)
    return fig


def quantization_figure(*, bits: int = 3, freq_hz: float = 2.0, amplitude: float | None = None) -> Figure:
    """The staircase ``Q(a)`` of a ``bits``-bit quantizer, its error bounded by ±Δ/2, and SQNR vs bits.

    ``amplitude`` defaults to ``1 − 0.55·Δ``, just inside ``1 − Δ/2``, the largest sine that does not
    overload the quantizer (a larger one is clipped at the top level and its error there exceeds
    Δ/2); staying off the exact half-step keeps the picture free of rounding ties.
    """
    bits = check_positive_int("bits", bits, what="bits per sample")
    if amplitude is None:
        amplitude = 1.0 - 0.55 * quantization_step(bits)
    rate = 2000.0
    x = sinusoid(freq_hz=freq_hz, sample_rate=rate, duration_s=1.0 / freq_hz, amplitude=amplitude)
    t = to_numpy(sample_times(sample_rate=rate, num_samples=x.shape[-1]))
    q = quantize_bits(x, bits)
    delta = quantization_step(bits)
    err = to_numpy(x - q)

    fig = Figure(figsize=(11, 6.5), layout="constrained")
    grid = fig.add_gridspec(2, 2, width_ratios=(2.2, 1), height_ratios=(1.6, 1))
    ax = fig.add_subplot(grid[0, 0])
    ax_err = fig.add_subplot(grid[1, 0], sharex=ax)
    ax_sqnr = fig.add_subplot(grid[:, 1])

    levels = np.arange(-(2 ** (bits - 1)), 2 ** (bits - 1)) * delta
    if len(levels) <= 32:
        for level in levels:
            ax.axhline(level, color="0.85", linewidth=0.6, zorder=0)
    ax.plot(t, to_numpy(x), color=TONE_COLOUR, label="analog amplitude a")
    ax.step(t, to_numpy(q), where="mid", color=SAMPLES_COLOUR,
            label=f"Q(a), {bits} bits ({2 ** bits} levels, Δ = {delta:g})")
    ax.set_ylabel("Amplitude")
    ax.legend(loc="upper right", fontsize=9)
    ax.set_title("Q(a) = sgn(a)·Δ·⌊|a|/Δ + 1/2⌋", fontsize=11)
    ax.tick_params(labelbottom=False)
    ax.grid(alpha=0.2)

    ax_err.plot(t, err, color=ALIAS_COLOUR, linewidth=1.0, label="error n = a − Q(a)")
    for sign in (-1, 1):
        ax_err.axhline(sign * delta / 2, color="k", linestyle=":", linewidth=1)
    ax_err.set_yticks([-delta / 2, 0.0, delta / 2], [f"−Δ/2 = −{delta / 2:g}", "0", f"+Δ/2 = {delta / 2:g}"])
    ax_err.set_ylim(-delta * 0.8, delta * 0.8)
    ax_err.set_xlabel("Time (s)")
    ax_err.set_ylabel("Error")
    ax_err.legend(loc="upper right", fontsize=9)
    ax_err.grid(alpha=0.2)

    all_bits = np.arange(2, 17)
    tone = sinusoid(freq_hz=997.0, sample_rate=48000, duration_s=0.5)
    measured = []
    for b in all_bits:
        a = 1.0 - quantization_step(int(b)) / 2  # the largest sine that never overloads
        measured.append(float(sqnr_db(tone * a, quantize_bits(tone * a, int(b)))))
    ax_sqnr.plot(all_bits, 6.02 * all_bits + 1.76, color="k", linestyle="--", label="6.02·b + 1.76 dB")
    ax_sqnr.plot(all_bits, measured, "o", color=SAMPLES_COLOUR, label="measured (full-scale sine)")
    ax_sqnr.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_sqnr.set_xlabel("Bits b")
    ax_sqnr.set_ylabel("SQNR (dB)")
    ax_sqnr.set_title("Each bit adds ≈ 6 dB", fontsize=11)
    ax_sqnr.legend(loc="upper left", fontsize=9)
    ax_sqnr.grid(alpha=0.3)
    fig.suptitle(f"Quantization with {bits} bits: SQNR of this signal {float(sqnr_db(x, q)):.1f} dB")
    return fig


def dft_figure(*, sample_rate: float = 2000.0, duration_s: float = 1.0, matrix_size: int = 16) -> Figure:
    """The lecture's ``sin(2π·50t) + sin(2π·100t) + sin(2π·400t)``, its amplitude spectrum (three
    peaks of height 1, computed by :func:`~polysense.signal.dft.amplitude_spectrum`), and the real
    part of the DFT matrix ``W_N^{nk}`` (row k: a cosine of k cycles per N samples)."""
    sr = check_sample_rate(sample_rate)
    freqs_in = [50.0, 100.0, 400.0]
    check_band(max(freqs_in), sr, name="400 Hz component")
    matrix_size = check_positive_int("matrix_size", matrix_size, minimum=2)
    x = sinusoid(freq_hz=freqs_in, sample_rate=sr, duration_s=duration_s)
    t = to_numpy(sample_times(sample_rate=sr, num_samples=x.shape[-1]))
    a = to_numpy(amplitude_spectrum(x))
    f = to_numpy(fft_frequencies(n_fft=x.shape[-1], sample_rate=sr))
    show_s = 0.05
    fine_rate = sr * 16
    n_fine = int(round(show_s * fine_rate)) + 1
    t_fine = to_numpy(sample_times(sample_rate=fine_rate, num_samples=n_fine))
    analog = to_numpy(sinusoid(freq_hz=freqs_in, sample_rate=fine_rate, num_samples=n_fine))

    fig = Figure(figsize=(12, 6.5), layout="constrained")
    grid = fig.add_gridspec(2, 2, width_ratios=(2, 1))
    ax_wave = fig.add_subplot(grid[0, 0])
    ax_spec = fig.add_subplot(grid[1, 0])
    ax_mat = fig.add_subplot(grid[:, 1])
    show = t <= show_s + 1e-12
    ax_wave.plot(t_fine * 1000, analog, color=TONE_COLOUR, linewidth=1, label="f(t)")
    ax_wave.plot(t[show] * 1000, to_numpy(x)[show], "o", color=SAMPLES_COLOUR, markersize=2.5,
                 label=f"samples x(n), F_s = {sr:g} Hz")
    ax_wave.set_xlim(0, show_s * 1000)
    ax_wave.set_xlabel("Time (ms)")
    ax_wave.set_ylabel("Amplitude")
    ax_wave.set_title(f"(a) f(t) = sin(2π·50t) + sin(2π·100t) + sin(2π·400t), first {show_s * 1000:g} ms",
                      fontsize=11)
    ax_wave.set_ylim(-3.3, 4.4)
    ax_wave.legend(loc="upper right", fontsize=8, ncols=2)
    ax_wave.grid(alpha=0.3)

    ax_spec.vlines(f, 0, a, color=SAMPLES_COLOUR, linewidth=1.2)
    for i, f0 in enumerate(freqs_in):
        k = int(np.argmin(np.abs(f - f0)))
        ax_spec.annotate(f"{f[k]:g} Hz: {a[k]:.3f}", xy=(f[k], a[k]), xytext=(f[k] + sr * 0.006, 1.04 + 0.1 * i),
                         fontsize=9)
    ax_spec.set_xlim(0, sr / 2)
    ax_spec.set_ylim(0, 1.4)
    ax_spec.set_xlabel("Frequency (Hz)")
    ax_spec.set_ylabel("Amplitude")
    ax_spec.set_title(f"(b) amplitude spectrum, N = {x.shape[-1]} (Δf = {sr / x.shape[-1]:g} Hz, one-sided "
                      f"⌊N/2⌋+1 = {x.shape[-1] // 2 + 1} bins up to F_s/2)", fontsize=11)
    ax_spec.grid(alpha=0.3)

    w = dft_matrix(matrix_size)
    image = ax_mat.imshow(to_numpy(w.real), cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    ax_mat.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_mat.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax_mat.set_xlabel("sample n")
    ax_mat.set_ylabel("frequency bin k")
    ax_mat.set_title(f"(c) Re W_N^(nk) = cos(2πnk/N), N = {matrix_size}\nrow k: k cycles per N samples",
                     fontsize=11)
    fig.colorbar(image, ax=ax_mat, shrink=0.6, label="Re W_N^(nk)")
    fig.suptitle("DFT: X[k] = Σ_n x[n]·W_N^(nk), W_N = e^(−2πi/N)")
    return fig


_WINDOW_PARAMS: dict[str, dict[str, float]] = {"gaussian": {"std": 0.4 * 31.5}, "tukey": {"alpha": 0.5}}


def _side_lobe_db(db: np.ndarray) -> float:
    """Highest level outside the main lobe of a centred (fftshifted) window spectrum in dB."""
    centre = db.shape[0] // 2
    j = centre
    while j + 1 < db.shape[0] and db[j + 1] <= db[j]:
        j += 1
    return float(db[j:].max())


def windows_figure(*, length: int = 64, n_fft: int = 4096) -> Figure:
    """The eight window shapes (symmetric form) and their spectra in dB (zero-padded DFT).

    Gaussian std = 0.4·(length−1)/2 samples, Tukey alpha = 0.5. The spectrum axis is in bins of
    the unpadded length (mainlobe widths: rectangular ±1, Hann ±2, Blackman ±3 bins).
    """
    length = check_positive_int("length", length, minimum=4)
    names = ["hann", "hamming", "gaussian", "blackman", "cosine", "bartlett", "tukey", "rectangular"]
    fig = Figure(figsize=(14, 10), layout="constrained")
    axes = fig.subplots(4, 4)
    for i, name in enumerate(names):
        params = dict(_WINDOW_PARAMS.get(name, {}))
        if name == "gaussian":
            params["std"] = 0.4 * (length - 1) / 2
        w = get_window(name, length, periodic=False, **params)
        spectrum = torch.fft.fftshift(torch.abs(torch.fft.fft(w, n=n_fft)))
        db = 20 * torch.log10(torch.clamp(spectrum / spectrum.max(), min=1e-12))
        bins = (np.arange(n_fft) - n_fft // 2) * length / n_fft
        ax_w = axes[i // 2, (i % 2) * 2]
        ax_s = axes[i // 2, (i % 2) * 2 + 1]
        ax_w.plot(np.arange(length), to_numpy(w), color=TONE_COLOUR)
        ax_w.fill_between(np.arange(length), 0, to_numpy(w), color=TONE_COLOUR, alpha=0.15)
        ax_w.set_ylim(-0.05, 1.1)
        ax_w.set_xlim(0, length - 1)
        label = name + "".join(f", {k}={v:g}" for k, v in params.items())
        ax_w.set_title(label, fontsize=10)
        ax_w.set_xlabel("n (samples)", fontsize=8)
        ax_w.set_ylabel("w(n)", fontsize=8)
        ax_w.grid(alpha=0.3)
        ax_s.plot(bins, to_numpy(db), color=SAMPLES_COLOUR, linewidth=0.9)
        ax_s.set_xlim(-12, 12)
        ax_s.set_ylim(-120, 5)
        ax_s.set_title(f"{name}: spectrum, highest side lobe {_side_lobe_db(to_numpy(db)):.0f} dB", fontsize=10)
        ax_s.set_xlabel("frequency (bins)", fontsize=8)
        ax_s.set_ylabel("dB", fontsize=8)
        ax_s.grid(alpha=0.3)
    fig.suptitle(f"Window functions (M = {length}) and their spectra: mainlobe width vs side-lobe level")
    return fig


def resolution_figure(*, sample_rate: float = 16000.0, duration_s: float = 0.6) -> Figure:
    """The same vowel-like sound as a wideband (≈4 ms) and a narrowband (≈32 ms) spectrogram.

    Wideband: few wide bins, each pitch pulse a vertical striation, formants as broad bands.
    Narrowband: many narrow bins, the individual harmonics of the pitch as rising lines.
    """
    sr = check_sample_rate(sample_rate)
    x = vowel(sr, duration_s)
    fig = Figure(figsize=(12, 5.6), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, name in zip(axes, ("wideband", "narrowband")):
        p = preset(name, sr)
        res = resolution(sample_rate=sr, n_fft=p["n_fft"], hop_length=p["hop_length"], num_samples=x.shape[-1])
        power = spectrogram(x, n_fft=p["n_fft"], hop_length=p["hop_length"], win_length=p["win_length"],
                            window="hann", power=2.0)
        values = to_numpy(power_to_display_db(power, 70.0))
        times = to_numpy(res.frame_times_s)
        draw_spectrogram(fig, ax, values, times_s=times, freqs_hz=to_numpy(res.bin_frequencies_hz), db=True,
                          colorbar=ax is axes[-1])
        ax.set_ylim(0, 4000)
        ax.set_xlim(0, x.shape[-1] / sr)
        ax.set_title(
            f"{name}: N = {p['n_fft']} → Δt = {res.delta_t_s * 1000:.3g} ms, Δf = {res.delta_f_hz:.4g} Hz",
            fontsize=11,
        )
    axes[1].set_ylabel("")
    fig.suptitle("Time vs frequency resolution (Δt·Δf = 1): a vowel with pitch gliding 110 → 150 Hz")
    return fig


def stft_figure(*, sample_rate: float = 8000.0, segment_s: float = 0.25,
                freqs_hz: tuple[float, ...] = (500.0, 1000.0, 2000.0)) -> Figure:
    """Why the STFT: two sounds with the same tones in opposite order.

    The DFT of each whole signal has the same magnitude (time reversal only changes the phase),
    so it cannot tell them apart; the spectrogram shows when each frequency occurs.
    """
    sr = check_sample_rate(sample_rate)
    n_seg = int(round(segment_s * sr))
    ramp = fade(n_seg, int(0.01 * sr))  # 10 ms fades: no clicks at the joins
    parts = [sinusoid(freq_hz=f, sample_rate=sr, num_samples=n_seg, amplitude=0.8) * ramp for f in freqs_hz]
    rising = torch.cat(parts)
    falling = torch.flip(rising, dims=(-1,))
    spectra = [amplitude_spectrum(s) for s in (rising, falling)]
    difference = float((spectra[0] - spectra[1]).abs().max())
    f = to_numpy(fft_frequencies(n_fft=rising.shape[-1], sample_rate=sr))
    t = np.arange(rising.shape[-1]) / sr
    n_fft, hop = 256, 64

    fig = Figure(figsize=(12, 9), layout="constrained")
    axes = fig.subplots(3, 2)
    order = " → ".join(f"{v:g}" for v in freqs_hz)
    reverse = " → ".join(f"{v:g}" for v in reversed(freqs_hz))
    for col, (signal, spectrum, name) in enumerate(
        zip((rising, falling), spectra, (f"A: {order} Hz", f"B: {reverse} Hz (A reversed)"))
    ):
        ax_w, ax_f, ax_s = axes[:, col]
        ax_w.plot(t, to_numpy(signal), color=TONE_COLOUR, linewidth=0.4)
        seg_freqs = freqs_hz if col == 0 else tuple(reversed(freqs_hz))
        for i, fseg in enumerate(seg_freqs):
            ax_w.text((i + 0.5) * segment_s, 0.9, f"{fseg:g} Hz", ha="center", va="bottom", fontsize=10,
                      bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8})
        ax_w.set_ylim(-1.0, 1.15)
        ax_w.set_title(f"{name}", fontsize=11)
        ax_w.set_xlabel("Time (s)")
        ax_w.set_ylabel("Amplitude")
        ax_w.set_xlim(0, t[-1])
        ax_f.plot(f, to_numpy(spectrum), color=SAMPLES_COLOUR)
        ax_f.set_xlim(0, sr / 2)
        ax_f.xaxis.set_major_formatter(FuncFormatter(format_hz))
        ax_f.set_xlabel("Frequency (Hz)")
        ax_f.set_ylabel("Amplitude")
        ax_f.set_title("Amplitude spectrum of the whole signal: which frequencies, not when\n"
                       f"(each tone fills 1/{len(freqs_hz)} of the signal, so it peaks near 0.8/{len(freqs_hz)})",
                       fontsize=10)
        ax_f.grid(alpha=0.3)
        power = spectrogram(signal, n_fft=n_fft, hop_length=hop, window="hann", power=2.0)
        values = to_numpy(power_to_display_db(power, 80.0))
        times = to_numpy(frame_times(signal.shape[-1], sample_rate=sr, n_fft=n_fft, hop_length=hop))
        bins_hz = to_numpy(fft_frequencies(n_fft=n_fft, sample_rate=sr))
        draw_spectrogram(fig, ax_s, values, times_s=times, freqs_hz=bins_hz, db=True)
        ax_s.set_xlim(0, t[-1])
        ax_s.set_title(f"Spectrogram (STFT, Hann, N = {n_fft}, H = {hop}): when each frequency occurs",
                       fontsize=10)
    fig.suptitle(
        "Same DFT magnitude for both signals (largest difference "
        f"{difference:.1e}), different spectrograms"
    )
    return fig
