"""Convention presets: the defaults they set, the installed librosa's defaults, scipy ShortTimeFFT parity."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import scipy.signal
import torch

from polysense.errors import ParameterError
from polysense.signal import conventions
from polysense.signal.conventions import CONVENTIONS, get_convention
from polysense.signal.spectrogram import log_mel_spectrogram, mel_spectrogram, spectrogram
from polysense.signal.filterbanks import mel_filterbank
from polysense.signal.stft import stft


def test_presets_and_lookup():
    assert get_convention() is CONVENTIONS["librosa"]
    assert get_convention("TorchAudio").pad_mode == "reflect"
    assert get_convention(CONVENTIONS["scipy"]).framing == "scipy"
    lib, ta = CONVENTIONS["librosa"], CONVENTIONS["torchaudio"]
    assert (lib.pad_mode, lib.mel_scale, lib.mel_norm, lib.top_db, lib.top_db_scope) == ("constant", "slaney", "slaney", 80.0, "global")
    assert (ta.pad_mode, ta.mel_scale, ta.mel_norm, ta.top_db, ta.top_db_scope) == ("reflect", "htk", None, None, "spectrogram")
    with pytest.raises(ParameterError, match="convention='essentia'.*'librosa', 'torchaudio', 'scipy'"):
        get_convention("essentia")


def test_table_is_documented_once_in_the_module_docstring():
    doc = conventions.__doc__
    rules = [line for line in doc.splitlines() if line.startswith("====")]
    assert len(rules) == 3  # one table: top rule, header rule, bottom rule
    for word in ("pad", "mel scale", "top_db", "amin", "window symmetry", "scaling"):
        assert word in doc


def test_installed_librosa_defaults_match_the_table():
    librosa = pytest.importorskip("librosa")
    stft_params = inspect.signature(librosa.stft).parameters
    assert stft_params["pad_mode"].default == CONVENTIONS["librosa"].pad_mode
    assert stft_params["center"].default is True
    mel_params = inspect.signature(librosa.filters.mel).parameters
    assert mel_params["htk"].default is False and mel_params["norm"].default == "slaney"
    db_params = inspect.signature(librosa.power_to_db).parameters
    assert db_params["amin"].default == CONVENTIONS["librosa"].amin
    assert db_params["top_db"].default == CONVENTIONS["librosa"].top_db


def test_torchaudio_preset_sets_its_defaults(rng):
    x = torch.randn(2, 4000, generator=rng, dtype=torch.float64)
    ours = mel_spectrogram(x, sample_rate=16000, n_fft=400, n_mels=40, convention="torchaudio")
    # torchaudio's MelSpectrogram: hop = n_fft // 2, reflect padding, HTK mel scale without norm
    power = torch.stft(x, 400, 200, window=torch.hann_window(400, dtype=torch.float64), center=True,
                       pad_mode="reflect", return_complex=True).abs() ** 2
    fb = mel_filterbank(sample_rate=16000, n_fft=400, n_mels=40, mel_scale="htk", norm=None, dtype=torch.float64)
    np.testing.assert_allclose(ours.numpy(), (fb @ power).numpy(), rtol=1e-9, atol=1e-9)
    db = log_mel_spectrogram(x, sample_rate=16000, n_fft=400, n_mels=40, convention="torchaudio")
    np.testing.assert_allclose(db.numpy(), (10 * torch.log10(torch.clamp(fb @ power, min=1e-10))).numpy(), atol=1e-9)


def test_explicit_arguments_override_the_preset(rng):
    x = torch.randn(3000, generator=rng, dtype=torch.float64)
    a = spectrogram(x, n_fft=256, hop_length=64, convention="torchaudio", pad_mode="constant")
    b = spectrogram(x, n_fft=256, hop_length=64, convention="librosa")
    np.testing.assert_array_equal(a.numpy(), b.numpy())


SCIPY_CASES = [
    # (window, win_length M, n_fft mfft, hop, scale_to)
    ("hann", 256, 256, 64, None),
    ("hann", 255, 512, 100, "magnitude"),
    ("hamming", 200, 256, 50, "psd"),
    ("blackman", 64, 64, 64, None),
    ("bartlett", 33, 40, 7, None),  # a window with zero end points changes scipy's first/last slices
    ("rectangular", 100, 128, 30, "magnitude"),
]


@pytest.mark.parametrize(("window", "m", "mfft", "hop", "scale_to"), SCIPY_CASES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_scipy_preset_reproduces_short_time_fft(window, m, mfft, hop, scale_to, dtype, rng):
    # reference: scipy.signal.ShortTimeFFT(...).stft(x); tolerance 1e-10 relative to the max (float64), 1e-5 (float32)
    fs = 8000
    x = torch.randn(2, 3001, generator=rng, dtype=torch.float64)
    win = scipy.signal.get_window("boxcar" if window == "rectangular" else window, m)
    sft = scipy.signal.ShortTimeFFT(win, hop, fs, mfft=mfft, scale_to=scale_to)
    ref = sft.stft(x.numpy())
    ours = stft(x.to(dtype), n_fft=mfft, hop_length=hop, win_length=m, window=window, convention="scipy",
                scaling=scale_to, sample_rate=fs)
    assert ours.shape == ref.shape == (2, sft.f_pts, sft.p_num(3001))
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=tol * np.abs(ref).max())
    power = spectrogram(x.to(dtype), n_fft=mfft, hop_length=hop, win_length=m, window=window, convention="scipy")
    ref_power = scipy.signal.ShortTimeFFT(win, hop, fs, mfft=mfft).spectrogram(x.numpy())
    np.testing.assert_allclose(power.numpy(), ref_power, rtol=0, atol=tol * ref_power.max())
