"""The spectrogram figure and the drawing helpers: the frame axis, the bins, the dB scale, bad input.

References: :func:`polysense.signal.plan.frame_times` for the time axis, ``k·sr/N`` for the bin
frequencies, and ``10·log10(P / max P)`` (exact to 1e-9) for the display dB.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from polysense.errors import ParameterError
from polysense.explain import draw_spectrogram, power_to_display_db, spectrogram_figure
from polysense.signal.plan import frame_times
from tests.explain.conftest import mesh_centres, mesh_of


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


def test_power_to_display_db_is_db_re_the_maximum_floored_top_db_below():
    power = torch.tensor([[4.0, 0.4, 4e-9]], dtype=torch.float64)
    np.testing.assert_allclose(power_to_display_db(power, top_db=None).numpy(), [[0.0, -10.0, -90.0]], atol=1e-9)
    np.testing.assert_allclose(power_to_display_db(power, top_db=80.0).numpy(), [[0.0, -10.0, -80.0]], atol=1e-9)
    silence = power_to_display_db(torch.zeros(2, 3, dtype=torch.float64), top_db=80.0)  # ref 1, not a division by 0
    np.testing.assert_array_equal(silence.numpy(), -100.0)  # the amin floor 1e-10: 10·log10(1e-10)


def test_draw_spectrogram_centres_cells_on_frames_and_bins():
    fig = Figure()
    ax = fig.subplots()
    times, freqs = np.array([0.0, 0.5, 1.0]), np.array([0.0, 100.0, 200.0, 300.0])
    values = np.arange(12, dtype=np.float64).reshape(4, 3) - 11.0
    draw_spectrogram(fig, ax, values, times_s=times, freqs_hz=freqs, db=True)
    x, y = mesh_centres(ax)
    np.testing.assert_allclose(x, times)
    np.testing.assert_allclose(y, freqs)
    assert mesh_of(ax).get_clim() == (-11.0, 0.0)  # dB: the colour scale starts at the data's minimum
    assert ax.get_xlabel() == "Time (s)" and ax.get_ylabel() == "Frequency (Hz)"
    assert fig.axes[1].get_ylabel() == "Power (dB re max)"  # the colour bar
