"""fsdd_sequences: connected digit strings with their transcript and word boundaries."""

from __future__ import annotations

import pytest
import torch

from polysense.data.collate import collate
from polysense.enhance.mixtures import Utterance
from polysense.errors import ParameterError
from polysense.recognize.sequences import DigitSequences, digits_to_words

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
RATE = 8000


def _words(speaker: str, takes: int = 2) -> list[Utterance]:
    """Fake words: digit d is a tone of 200·(d+1) Hz, 0.1 s + 10 ms per take (lengths tell takes apart)."""
    out = []
    for d in range(10):
        for k in range(takes):
            n = 800 + 80 * k
            t = torch.arange(n) / RATE
            out.append(Utterance(id=f"{d}_{speaker}_{k}", speaker=speaker,
                                 audio=(0.5 * torch.sin(2 * torch.pi * 200 * (d + 1) * t)).float()))
    return out


def _data(**kwargs) -> DigitSequences:
    options = dict(split="train", num_utterances=20, seed=0, sample_rate=RATE)
    options.update(kwargs)
    return DigitSequences(_words("a") + _words("b"), **options)


def test_digits_to_words():
    assert digits_to_words("4155") == "four one five five"
    assert digits_to_words("4 1 5 5") == "four one five five"
    with pytest.raises(ParameterError, match="digits='41a'"):
        digits_to_words("41a")


def test_items_are_reproducible_and_differ_by_seed():
    a, b, c = _data(), _data(), _data(seed=1)
    assert all(torch.equal(a[i]["audio"], b[i]["audio"]) and a[i]["text"] == b[i]["text"] for i in range(5))
    assert any(a[i]["text"] != c[i]["text"] for i in range(5))
    # any order gives the same item
    assert torch.equal(_data()[7]["audio"], a[7]["audio"])


def test_word_times_place_the_transcript_words():
    data = _data(pause_s=(0.05, 0.2), level_db=(-6.0, -6.0))
    for i in range(10):
        item = data[i]
        words = item["text"].split()
        assert 1 <= len(words) <= 7 and len(item["word_times"]) == len(words)
        for word, (start, end) in zip(words, item["word_times"]):
            segment = item["audio"][round(start * RATE): round(end * RATE)].double()
            # the tone of the word dominates its segment: its frequency is 200·(d+1) Hz
            spectrum = torch.fft.rfft(segment).abs()
            peak_hz = float(spectrum.argmax()) * RATE / segment.numel()
            assert abs(peak_hz - 200 * (WORDS.index(word) + 1)) < 2 * RATE / segment.numel() + 1
        # pauses: the next word starts 50-200 ms after the previous ends
        gaps = [s2 - e1 for (_, e1), (s2, _) in zip(item["word_times"], item["word_times"][1:])]
        assert all(0.05 - 1e-3 <= g <= 0.2 + 1e-3 for g in gaps)
        assert float(item["audio"].abs().max()) == pytest.approx(10 ** (-6 / 20), rel=1e-5)


def test_transcripts_without_audio_match_the_items():
    data = _data()
    assert data.transcripts() == [data[i]["text"] for i in range(len(data))]


def test_one_speaker_per_utterance_and_digit_range():
    data = _data(min_digits=3, max_digits=3)
    for i in range(10):
        item = data[i]
        assert item["group"] in ("a", "b") and len(item["text"].split()) == 3


def test_noise_changes_the_signal_at_the_snr():
    clean, noisy = _data(), _data(noise_p=1.0, noise_types=("white",), snr_db=(10.0, 10.0))
    item_c, item_n = clean[0], noisy[0]
    assert item_c["text"] == item_n["text"]
    assert not torch.equal(item_c["audio"], item_n["audio"])


def test_synthetic_share():
    real = _words("real")
    voices = _words("tts-x") + _words("tts-y")
    data = DigitSequences(real, split="train", num_utterances=200, seed=0, sample_rate=RATE, synthetic=voices,
                          synthetic_share=0.25)
    share = sum(data[i]["group"].startswith("tts") for i in range(200)) / 200
    assert 0.15 < share < 0.35


def test_collate_keeps_transcripts_and_times():
    data = _data()
    batch = collate([data[i] for i in range(3)])
    assert batch["text"] == [data[i]["text"] for i in range(3)]
    assert batch["word_times"][1] == data[1]["word_times"]
    assert batch["audio_lengths"].tolist() == [data[i]["audio"].numel() for i in range(3)]


def test_bad_options_are_named():
    with pytest.raises(ParameterError, match="min_digits=5 > max_digits=2"):
        _data(min_digits=5, max_digits=2)
    with pytest.raises(ParameterError, match="pause_s"):
        _data(pause_s=(0.3, 0.1))
    with pytest.raises(ParameterError, match="level_db"):
        _data(level_db=(-3.0, 3.0))
    incomplete = [u for u in _words("a") if not u.id.startswith("7_")]
    with pytest.raises(ParameterError, match=r"speaker 'a' has no recording of digit\(s\) \[7\]"):
        DigitSequences(incomplete, split="train", num_utterances=3, seed=0, sample_rate=RATE)


def test_fsdd_sequences_is_speaker_independent(fsdd_dir):
    from polysense.data.registry import build_data

    data = build_data({"name": "fsdd_sequences", "fsdd_folder": str(fsdd_dir), "num_train": 30, "num_val": 10,
                       "num_test": 10, "test_speakers": ["theo"], "val_speakers": ["jackson"]}, seed=0)
    assert {data.train[i]["group"] for i in range(30)} <= {"nicolas", "yweweler"}
    assert {data.val[i]["group"] for i in range(10)} == {"jackson"}
    assert {data.test[i]["group"] for i in range(10)} == {"theo"}
    assert list(data.train_texts) == [data.train[i]["text"] for i in range(30)]
    item = data.test[0]
    assert item["audio"].dtype == torch.float32 and item["sample_rate"] == 8000
    assert item["word_times"][-1][1] <= item["audio"].numel() / 8000
