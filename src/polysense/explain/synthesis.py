"""``polysense explain synthesis``: a spectrogram generator's last step, Griffin-Lim, from computed data;
with a generator run, its spectrograms per digit beside real ones.

Top row: a spoken digit (the first FSDD recording found, else the synthetic vowel of
:func:`polysense.data.examples.vowel`), its STFT magnitude, and the sound Griffin-Lim rebuilds from
that magnitude alone after 1, 8 and 32 iterations, each titled with its spectral convergence
``‖S − |STFT(y)|‖_F / ‖S‖_F`` (the part of the magnitude the rebuilt sound misses): a SpecGAN makes
only magnitudes, so its sounds are at best what the last panel shows. With ``run_dir`` (a
``specgan`` run): a grid of generated spectrograms, one column per class, under real ones
(:func:`generation_grid`, also used by run reports).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from polysense.audio import load
from polysense.data.builtin import default_fsdd_folder
from polysense.data.takes import fixed_length
from polysense.errors import ParameterError
from polysense.explain.drawing import draw_spectrogram, example_speech, power_to_display_db
from polysense.signal.stft import griffin_lim, stft

__all__ = ["generation_grid", "spectral_convergence", "synthesis_figure"]

N_FFT, HOP = 256, 64


def spectral_convergence(magnitude: torch.Tensor, y: torch.Tensor, *, n_fft: int, hop_length: int) -> float:
    """‖S − |STFT(y)|‖_F / ‖S‖_F (0: y has exactly the magnitude S)."""
    rebuilt = stft(y, n_fft=n_fft, hop_length=hop_length).abs()[..., : magnitude.shape[-1]]
    return float((magnitude - rebuilt).norm() / magnitude.norm())


def _draw(fig: Figure, ax: Any, magnitude: torch.Tensor, sample_rate: int, hop: int, n_fft: int, title: str) -> None:
    db = power_to_display_db(magnitude.double().square(), top_db=80.0)
    times = np.arange(magnitude.shape[-1]) * hop / sample_rate
    freqs = np.arange(magnitude.shape[-2]) * sample_rate / n_fft
    draw_spectrogram(fig, ax, db.numpy(), times_s=times, freqs_hz=freqs, db=True, vmin=-80.0, colorbar=False)
    ax.set_title(title, fontsize=9)


def generation_grid(fig: Figure, axes: Sequence[Sequence[Any]], model: Any, real: Sequence[torch.Tensor], *,
                    classes: Sequence[str], speaker: int | None = None, seed: int = 0) -> None:
    """Draw real clips' spectrograms (row 0; ``real[k]`` of class k) over the generator's for the
    same classes (row 1), in the generator's own representation (|X| in dB re each panel's max)."""
    labels = torch.arange(len(real))
    speakers = None if speaker is None else torch.full_like(labels, speaker)
    with torch.no_grad():
        fake = model.sample(labels, speakers, generator=torch.Generator().manual_seed(seed))
        true = model.spectrogram(torch.stack([fixed_length(r.float(), model.clip_samples) for r in real]))
    rate, hop, n_fft = model.sample_rate, model.hop_length, model.n_fft
    for k in range(len(real)):
        _draw(fig, axes[0][k], model.magnitude(true[k : k + 1])[0], rate, hop, n_fft, f"real {classes[k]}")
        _draw(fig, axes[1][k], model.magnitude(fake[k : k + 1])[0], rate, hop, n_fft, f"generated {classes[k]}")


def synthesis_figure(*, sample_rate: int = 8000, run_dir: str | os.PathLike | None = None) -> Figure:
    """Griffin-Lim from a magnitude alone (and, with ``run_dir``, generated vs real per class; see module)."""
    speech, source = example_speech(sample_rate)
    magnitude = stft(speech, n_fft=N_FFT, hop_length=HOP).abs()
    rows = 1
    grid = None
    if run_dir is not None:
        from polysense.data.fsdd import parse_fsdd_name
        from polysense.train.run import load_run

        run = load_run(run_dir)
        folder = default_fsdd_folder()
        classes = list(run.classes or [])
        real = []
        for k in range(len(classes)):
            found = sorted(folder.glob(f"{k}_*_0.wav")) if folder.is_dir() else []
            if found:
                real.append(load(found[0], sample_rate=int(run.sample_rate))[0])
        if not (real and len(real) == len(classes) and parse_fsdd_name(found[0])):
            raise ParameterError(f"--run {run_dir}: the figure sets one real FSDD clip of each of the run's "
                                 f"{len(classes)} classes beside the generated one, and {str(folder)!r} holds "
                                 f"{len(real)} of them: set POLYSENSE_FSDD to the FSDD recordings folder")
        grid, rows = (run, real, classes), 3
    columns = max(4, len(grid[2]) if grid else 0)
    fig = Figure(figsize=(2.2 * columns, 2.6 * rows + 0.6), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False)
    _draw(fig, axes[0][0], magnitude, sample_rate, HOP, N_FFT, f"|STFT|: {source}")
    for ax, iterations in zip(axes[0][1:4], (1, 8, 32)):
        y = griffin_lim(magnitude, n_iter=iterations, n_fft=N_FFT, hop_length=HOP, length=speech.numel(), seed=0)
        rebuilt = stft(y, n_fft=N_FFT, hop_length=HOP).abs()
        convergence = spectral_convergence(magnitude, y, n_fft=N_FFT, hop_length=HOP)
        _draw(fig, ax, rebuilt, sample_rate, HOP, N_FFT, f"Griffin-Lim, {iterations} it. (SC {convergence:.2f})")
    for ax in axes[0][4:]:
        ax.set_axis_off()
    if grid is not None:
        run, real, classes = grid
        generation_grid(fig, axes[1:], run.model, real, classes=classes)
    fig.suptitle("Synthesis from a spectrogram: a generator makes |X|, Griffin-Lim finds a phase"
                 + (f" (generator {run_dir})" if grid is not None else ""))
    return fig
