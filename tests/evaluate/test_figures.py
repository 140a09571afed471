"""The lecture's figures: what they draw (axes, peaks, the alias, the frame axis), not only that a PNG exists.

References: closed forms (the 50/100/400 Hz tones have DFT peaks of height 1; a 7 kHz tone
sampled at 8 kHz aliases to 1 kHz; the quantization error stays within ±Δ/2) and
:func:`polysense.signal.plan.frame_times` for the spectrogram's time axis.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.collections import LineCollection, QuadMesh

from polysense.errors import ParameterError
from polysense.evaluate.figures import (
    aliasing_figure,
    dft_figure,
    quantization_figure,
    resolution_figure,
    spectrogram_figure,
    stft_figure,
)
from polysense.signal.plan import frame_times
from polysense.signal.quantization import quantization_step


def mesh_of(ax) -> QuadMesh:
    return next(c for c in ax.collections if isinstance(c, QuadMesh))


def mesh_centres(ax) -> tuple[np.ndarray, np.ndarray]:
    """(x centres, y centres) of a pcolormesh drawn with shading='nearest' (edges halfway between)."""
    edges = mesh_of(ax).get_coordinates()
    x, y = edges[0, :, 0], edges[:, 0, 1]
    return (x[:-1] + x[1:]) / 2, (y[:-1] + y[1:]) / 2


def test_dft_figure_shows_three_unit_peaks_at_50_100_400_hz():
    fig = dft_figure()
    ax_wave, ax_spec, ax_mat = fig.axes[:3]
    lines = next(c for c in ax_spec.collections if isinstance(c, LineCollection))
    tops = np.array([segment[1] for segment in lines.get_segments()])  # (f, amplitude) of each bin
    peaks = tops[tops[:, 1] > 0.5]
    np.testing.assert_allclose(peaks[:, 0], [50.0, 100.0, 400.0])
    np.testing.assert_allclose(peaks[:, 1], 1.0, atol=1e-6)
    assert np.all(tops[tops[:, 1] <= 0.5][:, 1] < 1e-6)  # nothing else
    assert ax_spec.get_xlim() == (0.0, 1000.0)  # 0 … F_s/2
    assert [t.get_text() for t in ax_spec.texts] == ["50 Hz: 1.000", "100 Hz: 1.000", "400 Hz: 1.000"]
    assert ax_mat.images[0].get_array().shape == (16, 16)


def test_aliasing_figure_marks_the_alias_below_nyquist():
    fig = aliasing_figure(freq_hz=7000.0, sample_rate=8000.0)
    ax, ax_spec = fig.axes[:2]
    f, amplitude = ax_spec.lines[0].get_data()
    assert f[np.argmax(amplitude)] == pytest.approx(1000.0)  # |7000 − 8000| Hz
    assert ax_spec.get_xlim()[1] == pytest.approx(4080.0)  # just past Nyquist 4 kHz
    nyquist = [line for line in ax_spec.lines if "Nyquist" in str(line.get_label())]
    assert nyquist and nyquist[0].get_xdata()[0] == pytest.approx(4000.0)
    note = ax_spec.texts[0]
    assert "peak at 1000 Hz" in note.get_text() and note.xy == (1000.0, 1.0)
    labels = [line.get_label() for line in ax.lines]
    assert "alias through the samples: 1000 Hz" in labels and "tone f = 7000 Hz (continuous)" in labels
    # the samples lie on the (sign-corrected) alias
    t_ms, samples = ax.lines[2].get_data()
    alias_t, alias = ax.lines[1].get_data()
    np.testing.assert_allclose(samples, np.interp(t_ms, alias_t, alias), atol=1e-9)


def test_quantization_figure_error_within_half_a_step():
    bits = 3
    fig = quantization_figure(bits=bits)
    err = fig.axes[1].lines[0].get_ydata()
    delta = quantization_step(bits)
    assert np.abs(err).max() <= delta / 2 + 1e-12
    bits_axis, measured = fig.axes[2].lines[1].get_data()  # SQNR per bit depth
    # ≈ 6.02·b + 1.76 dB once the sine's amplitude 1 − Δ/2 is close to full scale (b ≥ 6)
    np.testing.assert_allclose(measured[bits_axis >= 6], 6.02 * bits_axis[bits_axis >= 6] + 1.76, atol=0.5)
    assert np.all(np.diff(measured) > 5.0)  # each bit adds about 6 dB


@pytest.mark.parametrize("convention", ["librosa", "scipy"])
def test_spectrogram_figure_time_axis_is_the_stft_frame_axis(convention):
    sr, n = 16000, 16001
    x = torch.sin(2 * torch.pi * 1000.0 * torch.arange(n) / sr)
    fig = spectrogram_figure(x, sample_rate=sr, n_fft=512, hop_length=128, convention=convention)
    ax_wave, ax_spec = fig.axes[:2]
    times, freqs = mesh_centres(ax_spec)
    expected = frame_times(n, sample_rate=sr, n_fft=512, hop_length=128, convention=convention).numpy()
    np.testing.assert_allclose(times, expected, atol=1e-9)
    assert times[0] == pytest.approx(-0.008 if convention == "scipy" else 0.0)  # ShortTimeFFT's first slice
    np.testing.assert_allclose(freqs, np.arange(257) * sr / 512)
    assert ax_spec.get_xlim() == pytest.approx((0.0, n / sr))
    values = mesh_of(ax_spec).get_array().reshape(257, -1)
    assert freqs[values.mean(axis=1).argmax()] == pytest.approx(1000.0)  # the tone's row is the loudest
    assert values.max() == pytest.approx(0.0) and values.min() >= -80.0 - 1e-9  # dB re max, 80 dB range


def test_mel_scale_figure_and_bad_input():
    x = torch.randn(8000, generator=torch.Generator().manual_seed(0))
    fig = spectrogram_figure(x, sample_rate=16000, n_fft=512, scale="mel", n_mels=40)
    assert mesh_of(fig.axes[1]).get_array().size == 40 * 63
    assert fig.axes[1].get_ylim() == (0.0, 8000.0)
    with pytest.raises(ParameterError, match="expected a mono signal"):
        spectrogram_figure(torch.zeros(2, 100), sample_rate=16000)


def test_resolution_and_stft_figures():
    fig = resolution_figure()
    wide, narrow = fig.axes[:2]
    assert "N = 64" in wide.get_title() and "N = 512" in narrow.get_title()
    assert wide.get_ylim() == (0.0, 4000.0)
    # wideband: 33 bins of 250 Hz; narrowband: 257 bins of 31.25 Hz
    assert mesh_centres(wide)[1][1] == pytest.approx(250.0) and mesh_centres(narrow)[1][1] == pytest.approx(31.25)
    fig = stft_figure()
    spectra = [fig.axes[i].lines[0].get_ydata() for i in (2, 3)]  # same DFT magnitude for A and its reverse
    np.testing.assert_allclose(spectra[0], spectra[1], atol=1e-9)
    for i, order in ((4, (500.0, 1000.0, 2000.0)), (5, (2000.0, 1000.0, 500.0))):  # the spectrograms tell them apart
        times, freqs = mesh_centres(fig.axes[i])
        values = mesh_of(fig.axes[i]).get_array().reshape(129, -1)
        for segment, f0 in enumerate(order):  # the loudest row in the middle of each 0.25 s segment
            frame = np.argmin(np.abs(times - (segment + 0.5) * 0.25))
            assert freqs[values[:, frame].argmax()] == pytest.approx(f0)

