"""Filter banks: librosa.filters.mel parity (float64, 1e-10), mel scales, linear/log banks, DCT-II."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
import torch

librosa = pytest.importorskip("librosa")

from polysense.errors import ParameterError  # noqa: E402
from polysense.signal.filterbanks import (  # noqa: E402
    dct_matrix,
    hz_to_mel,
    linear_filterbank,
    log_filterbank,
    mel_filterbank,
    mel_frequencies,
    mel_to_hz,
)
from polysense.signal.spectrogram import mel_spectrogram, spectrogram  # noqa: E402

MEL_CASES = [
    (16000, 1024, 128, 0.0, None),
    (22050, 2048, 128, 0.0, None),
    (8000, 256, 40, 20.0, 3800.0),
    (44100, 4096, 96, 50.0, 16000.0),
]


@pytest.mark.parametrize("norm", ["slaney", None])
@pytest.mark.parametrize("mel_scale", ["slaney", "htk"])
@pytest.mark.parametrize(("sr", "n_fft", "n_mels", "fmin", "fmax"), MEL_CASES)
def test_mel_filterbank_equals_librosa(sr, n_fft, n_mels, fmin, fmax, mel_scale, norm):
    # reference: librosa.filters.mel(dtype=float64); tolerance 1e-10 absolute (measured ~1e-14)
    ours = mel_filterbank(sample_rate=sr, n_fft=n_fft, n_mels=n_mels, f_min_hz=fmin, f_max_hz=fmax,
                          mel_scale=mel_scale, norm=norm, dtype=torch.float64)
    ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=mel_scale == "htk",
                              norm=norm, dtype=np.float64)
    assert ours.shape == (n_mels, n_fft // 2 + 1)
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-10)


@pytest.mark.parametrize("htk", [False, True])
def test_mel_scale_conversions_equal_librosa(htk):
    f = np.array([0.0, 50.0, 440.0, 999.0, 1000.0, 1001.0, 4000.0, 11025.0, 20000.0])
    np.testing.assert_allclose(hz_to_mel(torch.from_numpy(f), htk=htk).numpy(), librosa.hz_to_mel(f, htk=htk), rtol=1e-12)
    m = librosa.hz_to_mel(f, htk=htk)
    np.testing.assert_allclose(mel_to_hz(torch.from_numpy(m), htk=htk).numpy(), f, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(
        mel_frequencies(40, f_min_hz=30.0, f_max_hz=7000.0, htk=htk).numpy(),
        librosa.mel_frequencies(40, fmin=30.0, fmax=7000.0, htk=htk), rtol=1e-12,
    )
    assert isinstance(hz_to_mel(1000.0), float) and abs(hz_to_mel(1000.0) - 15.0) < 1e-12
    assert abs(hz_to_mel(700.0, htk=True) - 2595.0 * np.log10(2.0)) < 1e-9


def test_slaney_norm_gives_unit_area_and_none_gives_unit_peaks():
    sr, n_fft = 16000, 8192  # fine bins so the area integral is accurate
    bins_hz = sr / n_fft
    fb = mel_filterbank(sample_rate=sr, n_fft=n_fft, n_mels=40, dtype=torch.float64)
    np.testing.assert_allclose((fb.sum(1) * bins_hz).numpy(), 1.0, rtol=2e-2)
    peaks = mel_filterbank(sample_rate=sr, n_fft=n_fft, n_mels=40, norm=None, dtype=torch.float64).max(1).values
    assert peaks.max() <= 1.0 and peaks.min() > 0.95


def test_linear_and_log_banks_place_peaks_at_their_edges():
    sr, n_fft = 16000, 4096
    freqs = np.arange(n_fft // 2 + 1) * sr / n_fft
    lin = linear_filterbank(sample_rate=sr, n_fft=n_fft, n_bands=15, f_min_hz=0.0, f_max_hz=8000.0, dtype=torch.float64)
    centres = freqs[lin.argmax(1).numpy()]
    np.testing.assert_allclose(np.diff(centres), 500.0, atol=sr / n_fft)
    log = log_filterbank(sample_rate=sr, n_fft=n_fft, n_bands=20, f_min_hz=100.0, f_max_hz=6400.0, dtype=torch.float64)
    centres = freqs[log.argmax(1).numpy()]
    ratios = centres[1:] / centres[:-1]
    np.testing.assert_allclose(ratios[5:], 2 ** (6 / 21), rtol=0.03)  # 6 octaves over 21 steps
    assert lin.shape == (15, 2049) and log.shape == (20, 2049)
    with pytest.warns(UserWarning, match="empty log filter"):
        log_filterbank(sample_rate=sr, n_fft=256, n_bands=60, f_min_hz=20.0)


@pytest.mark.parametrize("norm", ["ortho", None])
def test_dct_matrix_equals_scipy(norm):
    # reference: scipy.fft.dct(type=2, norm=...) applied to the identity; tolerance 1e-12
    ref = scipy.fft.dct(np.eye(40), type=2, norm=norm, axis=0)[:13]
    np.testing.assert_allclose(dct_matrix(13, 40, norm, dtype=torch.float64).numpy(), ref, atol=1e-12)
    full = dct_matrix(32, 32, dtype=torch.float64)
    np.testing.assert_allclose((full @ full.T).numpy(), np.eye(32), atol=1e-12)  # orthonormal


@pytest.mark.parametrize(
    "mel",
    [
        dict(sample_rate=16000, n_fft=1024, n_mels=128),
        dict(sample_rate=16000, n_fft=400, n_mels=80, mel_scale="htk", norm=None),
        dict(sample_rate=22050, n_fft=2048, n_mels=64, f_min_hz=300, f_max_hz=5000),
    ],
    ids=["slaney128", "htk80", "band-limited"],
)
def test_mel_spectrogram_equals_the_dense_bank_product(mel, rng):
    # reference: W @ |X|² with the dense bank (float64); tolerance 1e-12 relative (summation order)
    x = torch.randn(2, 20000, generator=rng, dtype=torch.float64)
    bank = mel_filterbank(**mel, dtype=torch.float64)
    dense = bank @ spectrogram(x, n_fft=mel["n_fft"], hop_length=128)
    np.testing.assert_allclose(mel_spectrogram(x, hop_length=128, **mel).numpy(), dense.numpy(), rtol=1e-12, atol=1e-14)


BAD = [
    (lambda: mel_filterbank(sample_rate=0, n_fft=512), "sample_rate=0"),
    (lambda: mel_filterbank(sample_rate=-8000, n_fft=512), "sample_rate=-8000"),
    (lambda: mel_filterbank(sample_rate=16000, n_fft=512, f_max_hz=9000), "f_max_hz=9000"),
    (lambda: mel_filterbank(sample_rate=16000, n_fft=512, f_min_hz=5000, f_max_hz=4000), "f_min_hz=5000"),
    (lambda: mel_filterbank(sample_rate=16000, n_fft=1), "n_fft=1"),
    (lambda: mel_filterbank(sample_rate=16000, n_fft=512, mel_scale="bark"), "mel_scale='bark'"),
    (lambda: mel_filterbank(sample_rate=16000, n_fft=512, norm="l2"), "norm='l2'"),
    (lambda: log_filterbank(sample_rate=16000, n_fft=512, f_min_hz=0.0), "f_min_hz=0.0"),
    (lambda: dct_matrix(30, 20), "n_mfcc=30"),
]


@pytest.mark.parametrize(("call", "needle"), BAD, ids=[b[1] for b in BAD])
def test_bad_arguments_raise_parameter_error(call, needle):
    with pytest.raises(ParameterError, match=needle):
        call()
