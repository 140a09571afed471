"""Prefix beam search against an exhaustive search over label sequences on the same posteriors."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import pytest
import torch

from polysense.errors import ParameterError
from polysense.models.ctc import UnitTable, greedy_decode
from polysense.recognize.ctc_beam import Grammar, prefix_beam_search
from polysense.recognize.ngram import train_ngram

TABLE = UnitTable(["one", "two", "three"])


def _sequence_log_probs(lp: torch.Tensor) -> dict[tuple[int, ...], float]:
    """ln P_ctc(W | A) of every label sequence W, by summing the probabilities of all paths (float64)."""
    t, c = lp.shape
    totals: dict[tuple[int, ...], float] = defaultdict(float)
    p = lp.double().exp()
    for path in itertools.product(range(c), repeat=t):
        collapsed, previous = [], 0
        for s in path:
            if s != previous and s != 0:
                collapsed.append(s)
            previous = s
        totals[tuple(collapsed)] += math.prod(float(p[i, s]) for i, s in enumerate(path))
    return {w: math.log(v) for w, v in totals.items()}


def _posteriors(seed: int, t: int = 6) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (1.5 * torch.randn(t, 4, generator=g, dtype=torch.float64)).log_softmax(-1)


def _exhaustive(lp, score):
    sequences = _sequence_log_probs(lp)
    return max(sequences, key=lambda w: score(w, sequences[w]))


@pytest.mark.parametrize("seed", range(5))
def test_wide_beam_finds_the_most_probable_sequence(seed):
    lp = _posteriors(seed)
    best = _exhaustive(lp, lambda w, ctc: ctc)
    got = prefix_beam_search(lp, TABLE, beam=200, prune_log=-math.inf, blank_skip=1.0)
    assert tuple(got.ids) == best
    assert got.acoustic == pytest.approx(_sequence_log_probs(lp)[best], abs=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_wide_beam_with_lm_and_bonus_is_the_exhaustive_argmax(seed):
    lm = train_ngram(["one two", "one two three", "three three", "two"], order=2)
    alpha, beta = 0.8, 0.5
    lp = _posteriors(seed + 10)

    def total(w, ctc):
        return ctc + alpha * math.log(10) * lm.sentence_log10_prob([TABLE.symbols[i] for i in w]) + beta * len(w)

    best = _exhaustive(lp, total)
    got = prefix_beam_search(lp, TABLE, beam=200, lm=lm, alpha=alpha, beta=beta, prune_log=-math.inf, blank_skip=1.0)
    assert tuple(got.ids) == best
    assert got.score == pytest.approx(total(best, _sequence_log_probs(lp)[best]), abs=1e-9)


def test_grammar_exactly_n_words():
    lp = _posteriors(3)
    sequences = _sequence_log_probs(lp)
    best2 = max((w for w in sequences if len(w) == 2), key=sequences.get)
    got = prefix_beam_search(lp, TABLE, beam=200, grammar=Grammar.exactly(2), prune_log=-math.inf, blank_skip=1.0)
    assert tuple(got.ids) == best2 and got.complete
    only_one = prefix_beam_search(lp, TABLE, beam=200, grammar=Grammar(words=("one",), max_words=3),
                                  prune_log=-math.inf, blank_skip=1.0)
    assert set(only_one.ids) <= {1}


def test_beam_one_without_lm_is_close_to_greedy_on_peaky_posteriors():
    path = torch.tensor([0, 1, 1, 0, 2, 0, 0, 3, 3, 0])
    lp = (torch.nn.functional.one_hot(path, 4).double() * 8).log_softmax(-1)
    assert prefix_beam_search(lp, TABLE, beam=1).ids == greedy_decode(lp[None])[0] == [1, 2, 3]


def test_lm_vocabulary_mismatch_is_named():
    lp = _posteriors(0)
    with pytest.raises(ParameterError, match=r"word\(s\) \['four'\] that the recogniser cannot spell"):
        prefix_beam_search(lp, TABLE, lm=train_ngram(["one four"]))
    with pytest.raises(ParameterError, match=r"no probability for the recogniser's word\(s\) \['three'\]"):
        prefix_beam_search(lp, TABLE, lm=train_ngram(["one two"]))
    chars = UnitTable(["ab"], units="char")
    with pytest.raises(ParameterError, match="word units"):
        prefix_beam_search(torch.zeros(3, len(chars)).log_softmax(-1), chars, grammar=Grammar.exactly(1))
    with pytest.raises(ParameterError, match=r"expected \(frames, 4\)"):
        prefix_beam_search(torch.zeros(3, 5), TABLE)
    with pytest.raises(ParameterError, match="max_words=1 < min_words=2"):
        Grammar(min_words=2, max_words=1)
