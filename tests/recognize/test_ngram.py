"""Kneser-Ney n-grams: a hand-computed example, normalisation, ARPA round trip, KenLM's scores, bad files."""

from __future__ import annotations

import itertools
import math

import pytest

from polysense.errors import ParameterError
from polysense.recognize.ngram import BOS, EOS, read_arpa, train_ngram


def test_bigram_matches_the_hand_computed_model():
    # corpus "a b", "a"; D = 0.5. Bigram counts: <s> a: 2, a b: 1, a </s>: 1, b </s>: 1.
    # Unigram continuation counts: a 1 (<s>), b 1 (a), </s> 2 (a, b); total 4, 3 types, 3 predicted words.
    # P(a) = (1 - .5)/4 + .5·3/4·1/3 = .25, P(b) = .25, P(</s>) = 1.5/4 + .125 = .5
    # history <s>: c = 2, one follower: γ = .5·1/2 = .25; P(a|<s>) = 1.5/2 + .25·.25 = .8125
    # history a: c = 2, two followers: γ = .5; P(b|a) = .5/2 + .5·.25 = .375, P(</s>|a) = .25 + .5·.5 = .5
    # history b: γ = .5; P(</s>|b) = .5 + .5·.5 = .75, P(a|b) = .5·.25 = .125 (backed off)
    lm = train_ngram(["a b", "a"], order=2, discount=0.5)
    expected = {("a", ()): .25, ("b", ()): .25, (EOS, ()): .5, ("a", (BOS,)): .8125, ("b", (BOS,)): .0625,
                (EOS, (BOS,)): .125, ("b", ("a",)): .375, (EOS, ("a",)): .5, ("a", ("a",)): .125,
                (EOS, ("b",)): .75, ("a", ("b",)): .125, ("b", ("b",)): .125}
    for (word, history), p in expected.items():
        assert 10 ** lm.log10_prob(word, history) == pytest.approx(p, rel=1e-12), (word, history)
    assert 10 ** lm.sentence_log10_prob(["a", "b"]) == pytest.approx(.8125 * .375 * .75, rel=1e-12)


@pytest.mark.parametrize("order", [1, 2, 3])
def test_every_history_gives_a_distribution(order):
    sentences = ["one two three", "two two", "three one two one", "nine"]
    lm = train_ngram(sentences, order=order, vocabulary=["zero"])  # "zero" never seen: still has mass
    words = ["one", "two", "three", "nine", "zero", EOS]
    for history in itertools.product([BOS, "one", "two", "three", "zero"], repeat=max(0, order - 1)):
        total = sum(10 ** lm.log10_prob(w, history) for w in words)
        assert total == pytest.approx(1.0, abs=1e-9), history
    assert lm.log10_prob("zero", ()) > -99


def test_arpa_round_trip(tmp_path):
    lm = train_ngram(["one two three", "two two", "three one two one"], order=3)
    path = lm.write_arpa(tmp_path / "lm.arpa")
    back = read_arpa(path)
    for sentence in (["one", "two"], ["three", "three", "one"], []):
        assert back.sentence_log10_prob(sentence) == pytest.approx(lm.sentence_log10_prob(sentence), abs=1e-6)
    assert back.order == 3 and set(back.vocabulary) == set(lm.vocabulary)


def test_kenlm_scores_the_same_arpa(tmp_path):
    kenlm = pytest.importorskip("kenlm", reason="kenlm is not installed (pip install kenlm): the cross-check is skipped")
    lm = train_ngram(["one two three", "two two", "three one two one", "nine one"], order=3)
    path = lm.write_arpa(tmp_path / "lm.arpa")
    model = kenlm.Model(str(path))
    for sentence in ("one two", "three three one", "nine two one two", "two"):
        assert model.score(sentence, bos=True, eos=True) == pytest.approx(lm.sentence_log10_prob(sentence.split()),
                                                                          abs=1e-4)


@pytest.mark.parametrize("text, message", [
    ("hello", "outside any section"),
    ("\\data\\\nngram 1=2\n\n\\1-grams:\n-0.3\ta\n\\end\\\n", "declares 2 1-grams but the file lists 1"),
    ("\\data\\\nngram 1=1\n\n\\1-grams:\nx\ta\n\\end\\\n", "line 5: .* does not start with a log10 probability"),
    ("\\data\\\nngram 1=1\n\n\\1-grams:\n0.5\ta\n\\end\\\n", "positive"),
    ("\\data\\\nngram 1=1\n\n\\1-grams:\n-0.5\ta\n", "no \\\\end\\\\ line"),
    ("\\data\\\nngram 1=1\n\n\\2-grams:\n-0.5\ta b\n\\end\\\n", "2-grams are not declared"),
])
def test_malformed_arpa_is_named(tmp_path, text, message):
    path = tmp_path / "bad.arpa"
    path.write_text(text)
    with pytest.raises(ParameterError, match=message):
        read_arpa(path)


def test_bad_training_input():
    with pytest.raises(ParameterError, match="no sentences"):
        train_ngram([])
    with pytest.raises(ParameterError, match="holds <s>"):
        train_ngram(["<s> one"])
    with pytest.raises(ParameterError, match="discount=1.5"):
        train_ngram(["one"], discount=1.5)
    with pytest.raises(ParameterError, match="not found"):
        read_arpa("/nonexistent/lm.arpa")
