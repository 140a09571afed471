"""STFT against its formula, ISTFT perfect reconstruction under NOLA, NOLAError, Griffin-Lim."""

from __future__ import annotations

import gc
import io
import math

import numpy as np
import pytest
import scipy.signal
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from polysense.errors import NOLAError, ParameterError
from polysense.signal.plan import frame_times
from polysense.signal.spectrogram import log_mel_spectrogram, mel_spectrogram, spectrogram
from polysense.signal.stft import frame, griffin_lim, istft, nola_ok, stft
from polysense.signal.windows import get_window


def direct_stft(x: np.ndarray, n_fft: int, hop: int, w: np.ndarray, center: bool) -> np.ndarray:
    """X(m,k) = Σ_n x(n + mH)·w(n)·e^{−2πikn/N}, literally, in float64 (w centred in the frame)."""
    if center:
        x = np.pad(x, (n_fft // 2, n_fft // 2))
    full = np.zeros(n_fft)
    left = (n_fft - len(w)) // 2
    full[left : left + len(w)] = w
    n_frames = 1 + (len(x) - n_fft) // hop
    k = np.arange(n_fft // 2 + 1)[:, None]
    n = np.arange(n_fft)[None, :]
    basis = np.exp(-2j * np.pi * k * n / n_fft)
    out = np.zeros((n_fft // 2 + 1, n_frames), dtype=complex)
    for m in range(n_frames):
        out[:, m] = basis @ (x[m * hop : m * hop + n_fft] * full)
    return out


@pytest.mark.parametrize(
    ("n_fft", "hop", "win_length", "window", "center"),
    [
        (64, 16, 64, "hann", True),
        (64, 16, 40, "hamming", True),  # window shorter than n_fft: zero-padded, centred
        (63, 10, 31, "blackman", False),  # odd sizes
        (32, 32, 17, ("tukey", 0.3), True),
        (16, 5, 16, "rectangular", False),
    ],
)
def test_stft_equals_direct_formula(n_fft, hop, win_length, window, center, rng):
    # reference: the lecture's formula (2) as a float64 double loop; tolerance 1e-10 absolute
    x = torch.randn(500, generator=rng, dtype=torch.float64)
    ours = stft(x, n_fft=n_fft, hop_length=hop, win_length=win_length, window=window, center=center)
    w = get_window(window, win_length).numpy()
    ref = direct_stft(x.numpy(), n_fft, hop, w, center)
    assert ours.shape == ref.shape and ours.dtype == torch.complex128
    np.testing.assert_allclose(ours.numpy(), ref, rtol=0, atol=1e-10)


@pytest.mark.parametrize("pad_mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize(
    ("shape", "n_fft", "hop", "win_length", "center"),
    [
        ((2, 150_000), 128, 32, 128, True),  # long items: several 2 MiB blocks per item
        ((40, 300), 128, 32, 100, True),  # short items: several items per block
        ((2, 200), 128, 50, 128, True),  # head and tail frames only, no interior frame
        ((2, 1000), 100, 130, 60, True),  # hop longer than the window
        ((2, 1000), 128, 40, 128, False),
        ((3, 400_000), 1024, 256, 1024, True),  # an output of more than 4 MiB
    ],
)
def test_cpu_path_equals_the_plain_one(shape, n_fft, hop, win_length, center, pad_mode, rng):
    """Without autograd on the CPU (blocks, frames cut from the signal itself) = pad → unfold → rfft = with autograd.

    Reference: the formula on a padded copy, tolerance 1e-10 absolute (float64); the autograd path
    (a leaf that requires grad) for every reduction, 1e-10 relative.
    """
    x = torch.randn(*shape, generator=rng, dtype=torch.float64)
    kw = dict(n_fft=n_fft, hop_length=hop, win_length=win_length, center=center, pad_mode=pad_mode)
    X = stft(x, **kw)
    pad = n_fft // 2 if center else 0
    flat = x.reshape(-1, shape[-1])
    padded = torch.nn.functional.pad(flat.unsqueeze(1), (pad, pad), mode=pad_mode).squeeze(1) if pad else flat
    w = torch.nn.functional.pad(get_window("hann", win_length), ((n_fft - win_length) // 2, n_fft - win_length - (n_fft - win_length) // 2))
    ref = torch.fft.rfft(padded.unfold(-1, n_fft, hop) * w).transpose(-1, -2).reshape(X.shape)
    np.testing.assert_allclose(X.numpy(), ref.numpy(), rtol=0, atol=1e-10)
    calls = [lambda x, p=p: spectrogram(x, power=p, **kw) for p in (2.0, 1.0, 0.5)] + [
        lambda x: mel_spectrogram(x, sample_rate=16000, n_mels=16, **kw),
        lambda x: mel_spectrogram(x, sample_rate=16000, n_mels=16, power=1.0, **kw),
        lambda x: log_mel_spectrogram(x, sample_rate=16000, n_mels=16, top_db=None, **kw),
    ]
    for fn in calls:
        fast = fn(x)
        slow = fn(x.clone().requires_grad_()).detach()
        assert fast.shape == slow.shape and fast.dtype == slow.dtype and fast.is_contiguous()
        np.testing.assert_allclose(fast.numpy(), slow.numpy(), rtol=1e-10, atol=1e-10)


def test_a_large_output_is_an_ordinary_tensor(rng):
    # outputs of 4 MiB or more come from another allocator: they must still share, save and resize
    x = torch.randn(4, 160_000, generator=rng)
    S = spectrogram(x, n_fft=1024, hop_length=256)
    assert S.numel() * S.element_size() >= 4 << 20 and S.is_contiguous()
    expected = S.clone()
    gc.collect()  # nothing else refers to the buffer behind S
    assert torch.equal(S, expected)
    assert S.share_memory_().is_shared() and torch.equal(S, expected)  # DataLoader workers
    buffer = io.BytesIO()
    torch.save(S, buffer)
    buffer.seek(0)
    assert torch.equal(torch.load(buffer), expected)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_thread_count_gives_identical_results_and_is_left_as_set(threads, rng):
    x = torch.randn(6, 400_000, generator=rng)  # 24 blocks: enough for every thread
    kw = dict(sample_rate=16000, n_fft=512, hop_length=128, n_mels=40)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        serial = log_mel_spectrogram(x, **kw)
        torch.set_num_threads(threads)
        parallel = log_mel_spectrogram(x, **kw)
        assert torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(before)
    assert torch.equal(serial, parallel)


def test_frame_count_and_dtypes(rng):
    x = torch.randn(1000, generator=rng)
    X = stft(x, n_fft=256, hop_length=100)
    assert X.shape == (129, 1 + 1000 // 100) == (129, len(frame_times(1000, sample_rate=1, n_fft=256, hop_length=100)))
    assert X.dtype == torch.complex64
    assert stft(x, n_fft=256, hop_length=100, center=False).shape[-1] == 1 + (1000 - 256) // 100
    assert len(frame_times(10, sample_rate=1, n_fft=64, hop_length=8, center=False)) == 0


def test_batched_equals_one_by_one(rng):
    x = torch.randn(2, 3, 3000, generator=rng, dtype=torch.float64)
    X = stft(x, n_fft=512, hop_length=128, pad_mode="reflect")
    for i in range(2):
        for j in range(3):
            np.testing.assert_allclose(X[i, j].numpy(), stft(x[i, j], n_fft=512, hop_length=128, pad_mode="reflect").numpy(), atol=1e-12)


def test_frame_is_a_view():
    x = torch.arange(10.0)
    f = frame(x, frame_length=4, hop_length=3)
    assert f.shape == (3, 4) and f[1].tolist() == [3.0, 4.0, 5.0, 6.0]
    assert f.data_ptr() == x.data_ptr()
    with pytest.raises(ParameterError, match="at least 4"):
        frame(torch.ones(3), frame_length=4, hop_length=1)


WINDOWS = ["hann", "hamming", "blackman", "bartlett", "cosine", ("tukey", 0.5), ("gaussian", 64.0), "rectangular"]


@pytest.mark.parametrize("window", WINDOWS, ids=str)
@pytest.mark.parametrize(("n_fft", "win_length", "hop"), [(512, 512, 128), (512, 400, 100), (256, 256, 64), (255, 200, 50)])
def test_istft_reconstructs_perfectly(window, n_fft, win_length, hop, rng):
    # reference: the input signal; tolerance 1e-6 absolute in float64 (measured ~1e-15)
    x = torch.randn(2, 4000, generator=rng, dtype=torch.float64)
    X = stft(x, n_fft=n_fft, hop_length=hop, win_length=win_length, window=window)
    y = istft(X, n_fft=n_fft, hop_length=hop, win_length=win_length, window=window, length=4000)
    assert (y - x).abs().max() < 1e-6


@settings(max_examples=40, deadline=None)
@given(
    window=st.sampled_from(["hann", "hamming", "rectangular", "bartlett", "blackman", "cosine"]),
    n_fft=st.integers(8, 96),
    win_frac=st.floats(0.2, 1.0),
    hop=st.integers(1, 120),
    length=st.integers(200, 700),
    center=st.booleans(),
)
def test_istft_inverts_exactly_when_nola_holds_else_raises(window, n_fft, win_frac, hop, length, center):
    """Property: NOLA (scipy.signal.check_NOLA) ⇒ reconstruction < 1e-6; not NOLA ⇒ NOLAError."""
    win_length = max(1, int(win_frac * n_fft))
    x = torch.randn(length, generator=torch.Generator().manual_seed(length), dtype=torch.float64)
    w = get_window(window, win_length)
    full = torch.nn.functional.pad(w, ((n_fft - win_length) // 2, n_fft - win_length - (n_fft - win_length) // 2))
    holds = bool(scipy.signal.check_NOLA(full.numpy(), n_fft, n_fft - hop)) if hop <= n_fft else nola_ok(w, hop, n_fft)
    assert nola_ok(w, hop, n_fft) == holds
    X = stft(x, n_fft=n_fft, hop_length=hop, win_length=win_length, window=window, center=center)
    kw = dict(n_fft=n_fft, hop_length=hop, win_length=win_length, window=window, center=center)
    if not holds:
        with pytest.raises(NOLAError, match="nonzero-overlap-add"):
            istft(X, length=length, **kw)
        return
    y = istft(X, length=length, **kw)
    # samples seen by no non-zero window sample (only at the ends) cannot come back: istft gives 0 there
    pad = n_fft // 2 if center else 0
    env = torch.zeros(length + 2 * pad + n_fft + hop * X.shape[-1], dtype=torch.float64)
    for m in range(X.shape[-1]):
        env[m * hop : m * hop + n_fft] += full**2
    seen = env[pad : pad + length] > torch.finfo(torch.float64).eps * env.max()
    assert (y - x)[seen].abs().max() < 1e-6
    assert (y[~seen] == 0).all()
    if center and win_length == n_fft and hop <= n_fft // 2:
        assert seen.all()


@pytest.mark.parametrize(
    ("kw", "why"),
    [
        (dict(n_fft=512, win_length=256, hop_length=512, window="rectangular"), "gap between windows"),
        (dict(n_fft=64, win_length=64, hop_length=16, window=torch.zeros(64, dtype=torch.float64)), "zero window"),
    ],
)
def test_istft_raises_nola_error(kw, why, rng):
    X = torch.randn(kw["n_fft"] // 2 + 1, 10, dtype=torch.complex128, generator=rng)
    with pytest.raises(NOLAError) as err:
        istft(X, **kw)
    assert "hop_length" in str(err.value) and "nonzero-overlap-add" in str(err.value)
    assert isinstance(err.value, ValueError)


def spectral_convergence(magnitude, y, **kw) -> float:
    rebuilt = stft(y, **kw).abs()
    return float(torch.linalg.norm(magnitude - rebuilt) / torch.linalg.norm(magnitude))


def test_griffin_lim_converges_and_is_seeded():
    sr = 8000
    t = torch.arange(8000, dtype=torch.float64) / sr
    x = torch.sin(2 * math.pi * (300 * t + 400 * t**2)) + 0.5 * torch.sin(2 * math.pi * 1200 * t)
    kw = dict(n_fft=256, hop_length=64)
    magnitude = stft(x, **kw).abs()
    errors = [spectral_convergence(magnitude, griffin_lim(magnitude, n_iter=n, length=8000, **kw), **kw) for n in (1, 5, 40)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.1
    a = griffin_lim(magnitude, n_iter=3, seed=1, length=8000, **kw)
    b = griffin_lim(magnitude, n_iter=3, seed=1, length=8000, **kw)
    assert torch.equal(a, b)
    plain = griffin_lim(magnitude, n_iter=40, momentum=0.0, length=8000, **kw)
    assert spectral_convergence(magnitude, plain, **kw) > errors[2]  # momentum helps (fast GL)


BAD = [
    (lambda: stft(torch.zeros(0), n_fft=16), "0 samples"),
    (lambda: stft(torch.tensor([0.0, float("nan"), 1.0] * 20), n_fft=16), "NaN or Inf"),
    (lambda: stft(torch.tensor([0.0, float("inf")] * 20), n_fft=16), "NaN or Inf"),
    (lambda: stft(torch.ones(100), n_fft=1), "n_fft=1"),
    (lambda: stft(torch.ones(100), n_fft=16, hop_length=0), "hop_length=0"),
    (lambda: stft(torch.ones(100), n_fft=16, hop_length=-4), "hop_length=-4"),
    (lambda: stft(torch.ones(100), n_fft=16, win_length=32), "win_length=32"),
    (lambda: stft(torch.ones(100), n_fft=16, window="nope"), "window='nope'"),
    (lambda: stft(torch.ones(100), n_fft=16, window=torch.ones(8)), "win_length=16"),
    (lambda: stft(torch.ones(100), n_fft=16, pad_mode="wrap"), "pad_mode='wrap'"),
    (lambda: stft(torch.ones(10), n_fft=16, center=False), "at least 16"),
    (lambda: stft(torch.ones(5), n_fft=16, pad_mode="reflect"), "reflect"),
    (lambda: stft(torch.ones(100, dtype=torch.int32), n_fft=16), "int32"),
    (lambda: stft(torch.ones(100), n_fft=16, convention="matlab"), "convention='matlab'"),
    (lambda: stft(torch.ones(100), n_fft=16, scaling="psd"), "sample_rate"),
    (lambda: istft(torch.ones(9, 4), n_fft=16, hop_length=4), "complex"),
    (lambda: istft(torch.ones(5, 4, dtype=torch.complex64), n_fft=16, hop_length=4), "9"),
    (lambda: griffin_lim(torch.ones(9, 4), n_iter=0), "n_iter=0"),
]


@pytest.mark.parametrize(("call", "needle"), BAD, ids=[b[1] for b in BAD])
def test_bad_input_raises_parameter_error_naming_the_problem(call, needle):
    with pytest.raises(ParameterError, match=needle.replace("(", r"\(")):
        call()
