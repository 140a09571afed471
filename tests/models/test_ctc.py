"""The CTC recogniser: units, greedy decoding, forced alignment, and learning (it overfits a tiny batch)."""

from __future__ import annotations

import itertools

import jiwer
import pytest
import torch

from polysense.data.collate import collate
from polysense.errors import ParameterError
from polysense.models.ctc import CTCRecognizer, UnitTable, ctc_align, greedy_decode, word_edit_distance
from polysense.models.registry import build_model
from tests.recognize.test_sequences import _data

ENCODER = {"name": "speech_cnn", "sample_rate": 8000, "n_mels": 24, "channels": [8, 16], "dim": 32, "rnn": "gru",
           "dropout": 0.0, "frontend": {"normalize": "cmvn"}}


def test_word_and_char_units():
    words = UnitTable(["zero", "one", "three"])
    assert words.encode("One three") == [2, 3] and words.decode([0, 2, 0, 3]) == "one three"
    chars = UnitTable(["zero", "one", "three"], units="char")
    ids = chars.encode("one three")
    assert chars.decode(ids) == "one three"
    assert [w for w, _ in chars.words(ids)] == ["one", "three"]
    with pytest.raises(ParameterError, match=r"transcript 'one four' has word\(s\) \['four'\] outside"):
        words.encode("one four")
    with pytest.raises(ParameterError, match=r"character\(s\) \['x'\]"):
        chars.encode("one x")
    with pytest.raises(ParameterError, match="vocabulary"):
        UnitTable(["one", "one"])


def test_word_edit_distance_matches_jiwer():
    pairs = [("one two three", "one three"), ("four four", "four five four six"), ("a b c d", "d c b a")]
    for ref, hyp in pairs:
        out = jiwer.process_words(ref, hyp)
        assert word_edit_distance(ref.split(), hyp.split()) == out.substitutions + out.deletions + out.insertions


def test_greedy_decode_merges_repeats_and_drops_blanks():
    path = [1, 1, 0, 1, 2, 2, 0, 0, 3]
    lp = torch.nn.functional.one_hot(torch.tensor(path), 4).float()[None]
    assert greedy_decode(lp) == [[1, 1, 2, 3]]
    assert greedy_decode(lp, [5]) == [[1, 1, 2]]


def _path_score(lp, path):
    return sum(float(lp[t, s]) for t, s in enumerate(path))


def test_ctc_align_is_the_best_path_of_the_transcript():
    g = torch.Generator().manual_seed(3)
    lp = torch.randn(6, 3, generator=g, dtype=torch.float64).log_softmax(-1)
    ids = [1, 1, 2]
    best, best_score = None, float("-inf")
    for path in itertools.product(range(3), repeat=6):  # brute force over all 729 paths
        collapsed, previous = [], 0
        for s in path:
            if s != previous and s != 0:
                collapsed.append(s)
            previous = s
        if collapsed == ids and _path_score(lp, path) > best_score:
            best, best_score = path, _path_score(lp, path)
    spans = ctc_align(lp, ids)
    # the spans of the brute-force best path
    expected, unit, previous = [], -1, 0
    for t, s in enumerate(best):
        if s != 0 and s != previous:
            unit += 1
            expected.append([t, t])
        elif s != 0:
            expected[unit][1] = t
        previous = s
    assert spans == [tuple(e) for e in expected]
    with pytest.raises(ParameterError, match="need at least 4 frames but the utterance has 3"):
        ctc_align(lp[:3], ids)


def test_overfits_a_tiny_batch_and_greedy_decoding_recovers_it():
    torch.manual_seed(0)
    data = _data(num_utterances=4, max_digits=2, pause_s=(0.05, 0.15))
    batch = collate([data[i] for i in range(4)])
    model = build_model({"name": "ctc_recognizer", "encoder": ENCODER, "hidden": 32, "dropout": 0.0})
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for step in range(400):
        out = model(batch)
        first = first if first is not None else float(out.loss.detach())
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        if float(out.metrics["wer"]) == 0 and float(out.loss.detach()) < 0.1:
            break
    with torch.no_grad():  # let BatchNorm's running statistics settle on the final weights
        for _ in range(30):
            model(batch)
    model.eval()
    out = model({k: v for k, v in batch.items() if k != "text"})
    decoded = [model.table.decode(ids) for ids in greedy_decode(out.log_probs, out.lengths)]
    assert decoded == batch["text"]
    assert float(model(batch).loss.detach()) < first / 10
    assert out.frame_seconds == pytest.approx(0.04, rel=0.1)  # 10 ms hop, 2x time pooling in each of 2 blocks


def test_gradients_reach_every_trainable_parameter():
    data = _data(num_utterances=2, max_digits=2)
    model = CTCRecognizer(encoder=ENCODER, hidden=8)
    model(collate([data[0], data[1]])).loss.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.abs().sum())]
    # the encoder's pooled-statistics projection feeds only its pooled vector, which CTC does not use
    assert all(n.startswith("encoders.audio.out.") for n in missing), missing


def test_transcript_too_long_for_the_audio_is_a_clear_error():
    data = _data(num_utterances=1, min_digits=1, max_digits=1)
    batch = collate([data[0]])
    batch["text"] = [" ".join(["one"] * 40)]
    model = CTCRecognizer(encoder=ENCODER)
    with pytest.raises(ParameterError, match="too short for its transcript"):
        model(batch)


def test_encode_gives_unit_vectors():
    data = _data(num_utterances=3, max_digits=2)
    model = CTCRecognizer(encoder=ENCODER).eval()
    with torch.no_grad():
        embedding = model.encode("audio", collate([data[i] for i in range(3)]))
    torch.testing.assert_close(embedding.norm(dim=-1), torch.ones(3))
    with pytest.raises(ParameterError, match="modality='image'"):
        model.encode("image", {})
