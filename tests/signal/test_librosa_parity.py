"""The "librosa" preset against librosa 0.11 on real recordings (FSDD, 8 kHz speech), in float32.

Criteria (issue 2): power within 1e-3 relative on every bin within 60 dB of the clip's
maximum; log-mel within 0.05 dB; MFCC within 0.05 (orthonormal DCT of dB values).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

librosa = pytest.importorskip("librosa")

from polysense.signal.spectrogram import log_mel_spectrogram, mel_spectrogram, mfcc, spectrogram  # noqa: E402
from polysense.signal.stft import stft  # noqa: E402

pytestmark = [pytest.mark.fsdd, pytest.mark.filterwarnings("ignore:n_fft=.*is too large:UserWarning")]

CONFIGS = [
    dict(n_fft=2048, hop_length=512, n_mels=128),  # librosa's defaults
    dict(n_fft=256, hop_length=64, n_mels=40),
    dict(n_fft=512, hop_length=128, win_length=400, n_mels=64),
]


def read(path):
    try:
        from polysense.audio import load

        x, sr = load(path)
        return x.numpy().astype(np.float32), sr
    except ImportError:  # pragma: no cover - before polysense.audio existed
        import soundfile

        data, sr = soundfile.read(path, dtype="float32")
        return data, sr


@pytest.fixture(scope="module")
def clips(fsdd_dir):
    files = sorted(fsdd_dir.glob("*.wav"))
    chosen = files[:: max(1, len(files) // 12)][:12]  # every digit and several speakers
    return [read(f) for f in chosen]


def loud(ref: np.ndarray, db: float = 60.0) -> np.ndarray:
    return ref >= ref.max() * 10 ** (-db / 10)


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"nfft{c['n_fft']}")
def test_stft_power_and_mel_within_1e3_relative(clips, cfg):
    kw = {k: v for k, v in cfg.items() if k != "n_mels"}
    worst_stft = worst_mel = 0.0
    for y, sr in clips:
        x = torch.from_numpy(y)
        ref = librosa.stft(y, **kw)
        ours = stft(x, **kw).numpy()
        assert ours.shape == ref.shape and ours.dtype == np.complex64
        p_ref = np.abs(ref.astype(np.complex128)) ** 2
        p_ours = spectrogram(x, power=2.0, **kw).numpy().astype(np.float64)
        keep = loud(p_ref)
        worst_stft = max(worst_stft, float(np.max(np.abs(p_ours[keep] - p_ref[keep]) / p_ref[keep])))
        m_ref = librosa.feature.melspectrogram(y=y, sr=sr, **cfg).astype(np.float64)
        m_ours = mel_spectrogram(x, sample_rate=sr, **cfg).numpy().astype(np.float64)
        keep = loud(m_ref)
        worst_mel = max(worst_mel, float(np.max(np.abs(m_ours[keep] - m_ref[keep]) / m_ref[keep])))
    assert worst_stft < 1e-3, worst_stft
    assert worst_mel < 1e-3, worst_mel


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"nfft{c['n_fft']}")
def test_log_mel_within_005_db_and_mfcc_close(clips, cfg):
    for y, sr in clips:
        x = torch.from_numpy(y)
        ref = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, **cfg))
        ours = log_mel_spectrogram(x, sample_rate=sr, **cfg).numpy()
        assert np.max(np.abs(ours - ref)) < 0.05
        ref_mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20, **cfg)
        ours_mfcc = mfcc(x, sample_rate=sr, n_mfcc=20, **cfg).numpy()
        assert np.max(np.abs(ours_mfcc - ref_mfcc)) < 0.05


def test_batch_of_clips_uses_one_global_top_db(clips):
    """librosa's power_to_db on a stacked batch clips against the max over all clips; so does ours."""
    n = min(len(y) for y, _ in clips[:4])
    y = np.stack([c[0][:n] for c in clips[:4]])
    sr = clips[0][1]
    ref = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=sr, n_fft=256, hop_length=64, n_mels=40))
    ours = log_mel_spectrogram(torch.from_numpy(y), sample_rate=sr, n_fft=256, hop_length=64, n_mels=40).numpy()
    assert np.max(np.abs(ours - ref)) < 0.05
