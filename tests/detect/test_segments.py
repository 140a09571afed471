"""event_waveforms: one padding rule and one cut for a file and for a waveform in memory."""

from __future__ import annotations

import pytest
import soundfile as sf
import torch

from polysense.audio import span_frames
from polysense.data.events import Event
from polysense.detect.segments import event_waveforms, padded_span
from polysense.errors import ParameterError
from tests.detect.conftest import SR

#: events near the start (the pad clipped at 0), inside, and at the end (clipped at the last sample)
EVENTS = [Event(0.05, 0.31, "one"), Event(0.4, 0.73, "two"), Event(1.7, 1.99, "one")]


def test_padded_span_widens_by_pad_and_clips_at_zero():
    assert padded_span(Event(0.5, 0.8, "a"), pad_s=0.1) == pytest.approx((0.4, 0.5))
    assert padded_span(Event(0.05, 0.3, "a"), pad_s=0.1) == pytest.approx((0.0, 0.4))


def test_span_frames_rounds_and_clips():
    assert span_frames(0.1, 0.25, sample_rate=SR, frames=10 * SR) == (800, 2800)
    assert span_frames(1.9, 0.5, sample_rate=SR, frames=2 * SR) == (15200, 16000)
    assert span_frames(3.0, None, sample_rate=SR, frames=2 * SR) == (16000, 16000)


def test_a_waveform_and_its_file_give_the_same_samples(tmp_path):
    audio = torch.randn(2 * SR, generator=torch.Generator().manual_seed(0)) * 0.1
    path = tmp_path / "scene.wav"
    sf.write(path, audio.numpy(), SR, subtype="FLOAT")
    for pad in (0.0, 0.1):
        in_memory = event_waveforms(audio, EVENTS, sample_rate=SR, pad_s=pad)
        on_disk = event_waveforms(path, EVENTS, sample_rate=SR, pad_s=pad)
        for e, a, b in zip(EVENTS, in_memory, on_disk, strict=True):
            assert torch.equal(a, b)  # exact: FLOAT WAV stores float32 as is
            # by hand: from round(begin · rate), round(duration · rate) samples, clipped to the recording
            begin = max(0.0, e.onset_s - pad)
            first = round(begin * SR)
            assert torch.equal(a, audio[first: min(2 * SR, first + round((e.offset_s + pad - begin) * SR))])
    assert in_memory[-1].shape[-1] == 2 * SR - round(1.6 * SR)  # clipped at the end


def test_bad_arguments_are_refused_by_name():
    with pytest.raises(ParameterError, match=r"pad_s=-0.1 is invalid"):
        event_waveforms(torch.zeros(SR), EVENTS, sample_rate=SR, pad_s=-0.1)
    with pytest.raises(ParameterError, match=r"shape \(2, 8000\)"):
        event_waveforms(torch.zeros(2, SR), EVENTS, sample_rate=SR)
    with pytest.raises(ParameterError, match="sample_rate"):
        event_waveforms(torch.zeros(SR), EVENTS, sample_rate=0)
