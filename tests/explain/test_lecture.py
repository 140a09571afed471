"""The lecture's figures: what they draw (axes, peaks, the alias, the spectrogram rows), not only that a PNG exists.

References: closed forms (the 50/100/400 Hz tones have DFT peaks of height 1; a 7 kHz tone
sampled at 8 kHz aliases to 1 kHz; the quantization error stays within ±Δ/2; the STFT of tones
in sequence is loudest at each tone's frequency in its segment).
"""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.collections import LineCollection

from polysense.explain.lecture import aliasing_figure, dft_figure, quantization_figure, resolution_figure, stft_figure
from polysense.signal.quantization import quantization_step
from tests.explain.conftest import mesh_centres, mesh_of


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

