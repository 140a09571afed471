"""collate: padding of audio, features and text, masks and lengths, labels, and mismatched samples."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from polysense.data.collate import collate, pad_sequences
from polysense.errors import ParameterError


def _sample(i: int, n_audio: int, n_text: int) -> dict:
    return {
        "id": f"s{i}",
        "audio": torch.arange(1, n_audio + 1, dtype=torch.float32),
        "sample_rate": 16000,
        "image": torch.full((3, 4, 4), float(i)),
        "text": "t" * n_text,
        "input_ids": torch.arange(5, 5 + n_text),
        "label": i % 3,
        "labels": {"audio": i, "both": 2 * i},
        "group": f"g{i}",
    }


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 50), st.integers(1, 12)), min_size=1, max_size=6))
def test_padding_masks_and_lengths(sizes):
    batch = collate([_sample(i, a, t) for i, (a, t) in enumerate(sizes)], pad_id=0)
    b = len(sizes)
    max_a = max(a for a, _ in sizes)
    max_t = max(t for _, t in sizes)
    assert batch["audio"].shape == (b, max_a) and batch["audio_mask"].shape == (b, max_a)
    assert batch["audio_mask"].dtype == torch.bool and batch["text_mask"].dtype == torch.bool
    assert batch["input_ids"].shape == (b, max_t) and batch["input_ids"].dtype == torch.long
    for i, (a, t) in enumerate(sizes):
        assert batch["audio_lengths"][i] == a and batch["text_lengths"][i] == t
        assert batch["audio_mask"][i].tolist() == [True] * a + [False] * (max_a - a)
        assert batch["text_mask"][i].tolist() == [True] * t + [False] * (max_t - t)
        torch.testing.assert_close(batch["audio"][i, :a], torch.arange(1, a + 1, dtype=torch.float32))
        assert bool((batch["audio"][i, a:] == 0).all()) and bool((batch["input_ids"][i, t:] == 0).all())
    assert batch["id"] == [f"s{i}" for i in range(b)] and batch["group"] == [f"g{i}" for i in range(b)]
    assert batch["label"].tolist() == [i % 3 for i in range(b)] and batch["label"].dtype == torch.long
    assert batch["labels"]["both"].tolist() == [2 * i for i in range(b)]
    assert batch["image"].shape == (b, 3, 4, 4) and batch["sample_rate"] == 16000
    assert batch["text"] == ["t" * t for _, t in sizes]


def test_features_pad_along_frames():
    feats = [torch.randn(40, 7), torch.randn(40, 3)]
    padded, mask, lengths = pad_sequences(feats, pad_value=-100.0)
    assert padded.shape == (2, 40, 7) and mask.shape == (2, 7) and lengths.tolist() == [7, 3]
    torch.testing.assert_close(padded[1, :, :3], feats[1])
    assert bool((padded[1, :, 3:] == -100).all())


def test_pad_id_is_used_for_text():
    batch = collate([_sample(0, 2, 1), _sample(1, 2, 3)], pad_id=99)
    assert batch["input_ids"][0].tolist() == [5, 99, 99]


def test_word_ids_are_padded_with_minus_one_like_input_ids():
    a, b = _sample(0, 2, 2), _sample(1, 2, 4)
    a["word_ids"] = torch.tensor([-1, 0])
    b["word_ids"] = torch.tensor([-1, 0, 0, 1])
    batch = collate([a, b], pad_id=99)
    assert batch["word_ids"].dtype == torch.long and batch["word_ids"].shape == batch["input_ids"].shape
    assert batch["word_ids"].tolist() == [[-1, 0, -1, -1], [-1, 0, 0, 1]]
    assert bool((batch["word_ids"][~batch["text_mask"]] == -1).all())
    b["word_ids"] = torch.tensor([-1, 0, 1])
    with pytest.raises(ParameterError, match="sample 's1' has 3 word ids but 4 input_ids"):
        collate([a, b])
    del a["input_ids"], b["input_ids"]
    with pytest.raises(ParameterError, match="sample 's0' has 2 word ids but no input_ids"):
        collate([a, b])


def test_none_items_are_dropped():
    batch = collate([None, _sample(1, 3, 2), None])
    assert batch["id"] == ["s1"] and batch["audio"].shape == (1, 3)
    assert collate([None, None]) == {"id": []}


def test_mismatched_samples_are_named():
    a, b = _sample(0, 3, 2), _sample(1, 3, 2)
    del b["image"]
    with pytest.raises(ParameterError, match=r"samples 's0' and 's1' have different keys \(differing: \['image'\]\)"):
        collate([a, b])
    c = _sample(2, 3, 2)
    c["sample_rate"] = 8000
    with pytest.raises(ParameterError, match="different sample rates"):
        collate([a, c])
    with pytest.raises(ParameterError, match="only the last \\(time\\) axis may differ"):
        pad_sequences([torch.zeros(2, 5), torch.zeros(3, 5)])
