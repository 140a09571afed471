"""``polysense explain denoising``: noisy, mask, denoised and clean spectrograms from computed data.

A speech sound (the first FSDD recording found, else the synthetic vowel of
:func:`polysense.data.examples.vowel`) is mixed with pink noise at ``snr_db``; the noisy STFT, the gain
a denoiser applies to it, the denoised result and the clean speech are drawn on one dB scale, and the
ideal ratio mask beside the estimated one. The denoiser is the decision-directed Wiener filter, or a
trained ``mask_unet`` when ``run_dir`` is given. Each panel's title carries its measured SI-SDR.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from polysense.enhance.classical import DEFAULT_STFT, ideal_ratio_mask, wiener_filter
from polysense.enhance.noise import make_noise, scale_to_snr
from polysense.metrics.enhancement import si_sdr
from polysense.explain.drawing import draw_spectrogram, example_speech, power_to_display_db
from polysense.train.run import load_run

__all__ = ["denoising_figure"]


def denoising_figure(*, sample_rate: int = 8000, snr_db: float = 0.0, seed: int = 0,
                     run_dir: str | os.PathLike | None = None) -> Figure:
    """Noisy / gain (mask) / denoised / clean spectrograms and the IRM, computed here (see module)."""
    clean, source = example_speech(sample_rate)
    rng = np.random.default_rng(seed)
    pad = torch.zeros(int(0.15 * sample_rate), dtype=torch.float64)
    clean = torch.cat([pad, clean, pad])
    noise = scale_to_snr(clean, make_noise("pink", clean.numel(), sample_rate=sample_rate, rng=rng), snr_db=snr_db)
    noisy = clean + noise
    X = DEFAULT_STFT.analyse(noisy)
    if run_dir is not None:
        model = load_run(run_dir).model
        with torch.no_grad():
            gain = torch.sigmoid(model.mask_logits(X.to(torch.complex64)[None]))[0].double()
        name = f"U-Net mask ({run_dir})"
        denoised = DEFAULT_STFT.synthesise(gain * X, noisy.numel())
    else:
        denoised = wiener_filter(noisy)
        name = "Wiener gain (decision-directed)"
        D = DEFAULT_STFT.analyse(denoised)
        gain = (D.abs() / X.abs().clamp_min(1e-12)).clamp(0, 1)
    irm = ideal_ratio_mask(noisy, clean)
    frames = X.shape[-1]
    times = np.arange(frames) * DEFAULT_STFT.hop_length / sample_rate
    freqs = np.arange(X.shape[-2]) * sample_rate / DEFAULT_STFT.n_fft
    fig = Figure(figsize=(13, 7), layout="constrained")
    axes = fig.subplots(2, 3)
    panels: list[tuple[Any, torch.Tensor, str, bool]] = [
        (axes[0, 0], noisy, f"noisy: pink noise at {snr_db:g} dB (SI-SDR {float(si_sdr(noisy, clean)):.1f} dB)", True),
        (axes[0, 1], denoised, f"denoised (SI-SDR {float(si_sdr(denoised, clean)):.1f} dB)", True),
        (axes[0, 2], clean, f"clean: {source}", True),
    ]
    for ax, signal, title, _ in panels:
        power = DEFAULT_STFT.analyse(signal).abs().square()
        db = power_to_display_db(power, top_db=80.0)  # dB re each panel's own maximum
        draw_spectrogram(fig, ax, db.numpy(), times_s=times, freqs_hz=freqs, db=True, vmin=-80.0)
        ax.set_title(title, fontsize=9)
    for ax, mask, title in ((axes[1, 0], gain, name), (axes[1, 1], irm, "ideal ratio mask (oracle, from the clean part)")):
        draw_spectrogram(fig, ax, mask.numpy(), times_s=times, freqs_hz=freqs, db=False, label="gain")
        ax.set_title(title, fontsize=9)
    oracle = DEFAULT_STFT.synthesise(irm * X, noisy.numel())
    ax = axes[1, 2]
    t = np.arange(noisy.numel()) / sample_rate
    ax.plot(t, noisy.numpy(), lw=0.4, color="0.6", label="noisy")
    ax.plot(t, denoised.numpy(), lw=0.5, label="denoised")
    ax.plot(t, clean.numpy(), lw=0.5, label="clean")
    ax.set_xlabel("Time (s)")
    ax.set_title(f"waveforms (IRM oracle would reach {float(si_sdr(oracle, clean)):.1f} dB)", fontsize=9)
    ax.legend(fontsize=8)
    fig.suptitle("Denoising by a mask on the STFT: Ŝ = M ⊙ X, ŝ = ISTFT(Ŝ)")
    return fig
