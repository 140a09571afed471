"""StreamingLogMel: equal to the one-shot log-mel for any block sizes, bounded memory, clear errors."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from polysense.errors import ParameterError
from polysense.signal.spectrogram import log_mel_spectrogram
from polysense.signal.streaming import StreamingLogMel

SR = 16000


def split(x: torch.Tensor, sizes: list[int]) -> list[torch.Tensor]:
    blocks, start = [], 0
    for size in sizes:
        blocks.append(x[..., start : start + size])
        start += size
    blocks.append(x[..., start:])
    return blocks


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 2500), min_size=0, max_size=30),
    pad_mode=st.sampled_from(["constant", "reflect", "replicate"]),
    n_fft=st.sampled_from([256, 400, 511]),
    hop=st.sampled_from([64, 100, 160, 300]),
    center=st.booleans(),
    length=st.integers(600, 9000),
)
def test_stream_equals_one_shot(sizes, pad_mode, n_fft, hop, center, length):
    """float64 log-mel in dB; reference: log_mel_spectrogram(top_db=None); tolerance 1e-5 relative."""
    x = torch.randn(length, generator=torch.Generator().manual_seed(length), dtype=torch.float64)
    kw = dict(n_fft=n_fft, hop_length=hop, n_mels=32, pad_mode=pad_mode, center=center)
    ref = log_mel_spectrogram(x, sample_rate=SR, top_db=None, **kw)
    stream = StreamingLogMel(SR, **kw)
    out = torch.cat(list(stream.stream(split(x, sizes))), dim=-1)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize(("n_fft", "hop"), [(256, 300), (256, 256), (400, 100)])
@pytest.mark.parametrize("block", [1, 97, 1000])
def test_stream_equals_one_shot_for_fixed_blocks(n_fft, hop, block, rng):
    """Deterministic cases, including a hop longer than the frame (samples between frames are skipped)."""
    x = torch.randn(3001, generator=rng, dtype=torch.float64)
    kw = dict(n_fft=n_fft, hop_length=hop, n_mels=24, pad_mode="reflect")
    ref = log_mel_spectrogram(x, sample_rate=SR, top_db=None, **kw)
    out = torch.cat(list(StreamingLogMel(SR, **kw).stream(x.split(block))), dim=-1)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-9)


def test_float32_multichannel_and_reuse(rng):
    x = torch.randn(2, 30000, generator=rng)
    kw = dict(n_fft=1024, hop_length=256, n_mels=64)
    ref = log_mel_spectrogram(x, sample_rate=SR, top_db=None, **kw)
    stream = StreamingLogMel(SR, **kw)
    for _ in range(2):  # flush() resets, so the object can take a second signal
        parts = [stream.push(b) for b in x.split(1, dim=-1)[:700]]
        parts += [stream.push(b) for b in x[..., 700:].split(4096, dim=-1)]
        parts.append(stream.flush())
        out = torch.cat(parts, dim=-1)
        assert out.dtype == torch.float32
        torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-4)
    assert stream.max_db == pytest.approx(float(ref.max()), abs=1e-4)


def test_memory_is_bounded_independently_of_length():
    stream = StreamingLogMel(SR, n_fft=1024, hop_length=256, n_mels=64)
    block = 4000
    gen = torch.Generator().manual_seed(0)
    frames = 0
    high_water = 0
    for _ in range(300):  # 75 s of audio
        frames += stream.push(torch.randn(block, generator=gen)).shape[-1]
        high_water = max(high_water, stream.buffered_samples)
    frames += stream.flush().shape[-1]
    assert frames == 1 + 300 * block // 256
    assert high_water <= 1024 + block


def test_errors():
    with pytest.raises(ParameterError, match="top_db=80"):
        StreamingLogMel(SR, top_db=80.0)
    with pytest.raises(ParameterError, match="ref must be a number"):
        StreamingLogMel(SR, ref=torch.max)
    with pytest.raises(ParameterError, match="pad_mode='circular'"):
        StreamingLogMel(SR, pad_mode="circular")
    with pytest.raises(ParameterError, match="convention='scipy'"):
        StreamingLogMel(SR, convention="scipy")
    stream = StreamingLogMel(SR, n_fft=256, hop_length=64, n_mels=16)
    with pytest.raises(ParameterError, match="0 samples"):
        stream.flush()
    stream.push(torch.zeros(2, 100))
    with pytest.raises(ParameterError, match="leading shape"):
        stream.push(torch.zeros(3, 100))
    with pytest.raises(ParameterError, match="NaN or Inf"):
        stream.push(torch.full((2, 5), float("nan")))
    short = StreamingLogMel(SR, n_fft=256, hop_length=64, n_mels=16, pad_mode="reflect")
    short.push(torch.zeros(50))
    with pytest.raises(ParameterError, match="reflect"):
        short.flush()
