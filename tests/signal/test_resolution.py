"""Resolution: the lecture's Δt = N/F_s, Δf = F_s/N = f_max/(N/2), f_max = F_s/2, and presets.

References: the formulas themselves (exact), ``numpy.fft.rfftfreq`` for the bin axis, and the
frame count of ``torch.stft`` (center=True and False) for the frame axis.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from polysense.errors import ParameterError
from polysense.signal.resolution import PRESETS, preset, resolution


def test_lecture_formulas():
    r = resolution(sample_rate=16000, n_fft=512, hop_length=128)
    assert r.delta_t_s == 512 / 16000 == 0.032
    assert r.delta_f_hz == 16000 / 512 == r.f_max_hz / (512 / 2) == 31.25
    assert r.f_max_hz == 8000.0
    assert r.hop_s == 0.008
    assert r.n_bins == 257
    assert r.delta_t_s * r.delta_f_hz == pytest.approx(1.0)  # the uncertainty product
    np.testing.assert_allclose(r.bin_frequencies_hz.numpy(), np.fft.rfftfreq(512, 1 / 16000))
    assert r.num_frames is None and r.frame_times_s is None
    assert r.summary()["delta_f_hz"] == 31.25


@pytest.mark.parametrize("center", [True, False])
@pytest.mark.parametrize(("num_samples", "n_fft", "hop"), [(16000, 512, 128), (1000, 256, 100), (512, 512, 64)])
def test_frame_axis_matches_torch_stft(center, num_samples, n_fft, hop):
    r = resolution(sample_rate=16000, n_fft=n_fft, hop_length=hop, num_samples=num_samples, center=center)
    X = torch.stft(torch.zeros(num_samples), n_fft, hop, center=center, return_complex=True,
                   window=torch.ones(n_fft))
    assert r.num_frames == X.shape[-1]
    assert r.frame_times_s.shape == (r.num_frames,)
    offset = 0.0 if center else n_fft / 2 / 16000
    if r.num_frames > 1:
        assert float(r.frame_times_s[1] - r.frame_times_s[0]) == pytest.approx(hop / 16000)
    assert float(r.frame_times_s[0]) == pytest.approx(offset)


def test_win_length_sets_time_resolution():
    r = resolution(sample_rate=16000, n_fft=1024, hop_length=256, win_length=400)
    assert r.delta_t_s == 0.025 and r.delta_f_hz == 15.625


def test_presets():
    wide = preset("wideband", 16000)
    narrow = preset("narrowband", 16000)
    assert wide == {"n_fft": 64, "hop_length": 16, "win_length": 64}
    assert narrow == {"n_fft": 512, "hop_length": 128, "win_length": 512}
    for sr in (8000, 16000, 22050, 44100, 48000):
        w, n = preset("wideband", sr), preset("narrowband", sr)
        # power-of-two lengths, wideband always shorter, durations near their ranges
        for p in (w, n):
            assert p["n_fft"] & (p["n_fft"] - 1) == 0
        assert w["n_fft"] < n["n_fft"]
        assert 0.0025 <= w["n_fft"] / sr <= 0.006
        assert 0.015 <= n["n_fft"] / sr <= 0.045
    assert set(PRESETS) == {"wideband", "narrowband"}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: resolution(sample_rate=0, n_fft=512, hop_length=128), r"sample_rate=0 is invalid: expected a finite number > 0"),
        (lambda: resolution(sample_rate=16000, n_fft=1, hop_length=128), r"n_fft=1 is invalid: expected an integer >= 2"),
        (lambda: resolution(sample_rate=16000, n_fft=512, hop_length=0), r"hop_length=0 is invalid: expected an integer >= 1"),
        (lambda: resolution(sample_rate=16000, n_fft=512, hop_length=-3), r"hop_length=-3 is invalid"),
        (lambda: resolution(sample_rate=16000, n_fft=512, hop_length=128, win_length=600),
         r"win_length=600 is invalid: expected 1 <= win_length <= n_fft=512"),
        (lambda: resolution(sample_rate=16000, n_fft=512, hop_length=128, num_samples=0), r"num_samples=0 is invalid"),
        (lambda: resolution(sample_rate=16000, n_fft=512, hop_length=128, num_samples=100, center=False),
         r"num_samples=100 is shorter than n_fft=512 with center=False"),
        (lambda: preset("medium", 16000), r"name='medium' is not supported: choose one of 'wideband', 'narrowband'"),
        (lambda: preset("wideband", -1), r"sample_rate=-1 is invalid"),
    ],
)
def test_errors(call, message):
    with pytest.raises(ParameterError, match=message):
        call()
