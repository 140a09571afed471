"""CTC prefix beam search with a word language model, a word bonus and a closed grammar.

The search of the lecture's ``W* = argmax_W P(A|W) P(W)^α`` over the CTC posteriors of one
utterance. A hypothesis is a *prefix* (the unit ids emitted so far); like the forward algorithm,
each prefix keeps two probabilities, of the paths that end in a blank and of those that end in its
last unit, so that every path collapsing to the prefix is summed (Hannun et al. 2014, "First-pass
large vocabulary continuous speech recognition using bi-directional recurrent DNNs"). Prefixes are
ranked by

    score(W) = log P_ctc(W | A) + α · ln P_lm(W) + β · |W|

(``β`` the word insertion bonus, which offsets the LM's and CTC's preference for short outputs);
at the end the LM's ``P(</s> | W)`` is added. ``α`` and ``β`` are tuned on validation data, never test.

Units: word units (each unit is a word, so the LM scores a word when a unit is appended). With
character units the search runs without LM or grammar (a ParameterError says so).

A :class:`Grammar` constrains the search: only its words, and between ``min_words`` and
``max_words`` of them (``Grammar(min_words=4, max_words=4)``: exactly four digits, as a PIN
prompt expects). Prefixes that break it are never extended; at the end only those that satisfy it
may win (if none survived the beam, the best prefix is returned and :attr:`BeamResult.complete` is False).

Frames whose blank probability is above ``blank_skip`` (default 0.999) only extend the beams
with the blank, and per frame only units with log-probability above ``prune_log`` are tried: the
search's cost is then spent where the acoustic model hesitates (RESULTS.md measures the speed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from polysense._checks import check_positive_int
from polysense.errors import ParameterError
from polysense.models.ctc.units import BLANK, UnitTable
from polysense.recognize.ngram import BOS, EOS, NGramLM

__all__ = ["BeamResult", "Grammar", "check_lm_vocabulary", "prefix_beam_search"]

_LN10 = math.log(10.0)
_NEG = float("-inf")
_SPECIAL = {BOS, EOS, "<unk>"}


@dataclass(frozen=True)
class Grammar:
    """A closed grammar: ``words`` (None: every unit) and a word count in ``[min_words, max_words]``."""

    min_words: int = 0
    max_words: int | None = None
    words: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        check_positive_int("min_words", self.min_words, minimum=0)
        if self.max_words is not None and check_positive_int("max_words", self.max_words) < self.min_words:
            raise ParameterError(f"grammar max_words={self.max_words} < min_words={self.min_words}: give min <= max")

    @classmethod
    def exactly(cls, count: int, words: Sequence[str] | None = None) -> Grammar:
        """Exactly ``count`` words (of ``words``, default any unit)."""
        return cls(min_words=count, max_words=count, words=None if words is None else tuple(words))


@dataclass
class BeamResult:
    """The best hypothesis: unit ``ids``, its total ``score``, the CTC ``acoustic`` log-probability
    and the LM's ``lm`` ln-probability (``</s>`` included); ``complete`` False when no hypothesis
    satisfied the grammar's end condition."""

    ids: list[int]
    score: float
    acoustic: float
    lm: float
    complete: bool = True


def check_lm_vocabulary(lm: NGramLM, table: UnitTable) -> None:
    """The LM and the recogniser must speak the same words: a ParameterError naming the words of
    one the other lacks (an LM word the model cannot spell, a unit the LM gives no probability)."""
    if table.units != "word":
        raise ParameterError("a language model needs a recogniser with word units (units: word); this one emits "
                             "characters: decode without --lm, or train with units: word")
    lm_words = set(lm.vocabulary) - _SPECIAL
    units = set(table.vocabulary)
    unknown = sorted(lm_words - units)
    if unknown:
        raise ParameterError(f"the language model has word(s) {unknown[:10]}{' ...' if len(unknown) > 10 else ''} "
                             f"that the recogniser cannot spell (its vocabulary: {sorted(units)}): train the LM on "
                             "transcripts in the recogniser's words")
    missing = sorted(units - lm_words)
    if missing and "<unk>" not in lm.vocabulary:
        raise ParameterError(f"the language model has no probability for the recogniser's word(s) {missing}: train it "
                             "with these words in its vocabulary (train_ngram(..., vocabulary=...))")


def _logaddexp(a: float, b: float) -> float:
    if a == _NEG:
        return b
    if b == _NEG:
        return a
    return max(a, b) + math.log1p(math.exp(-abs(a - b)))


def prefix_beam_search(log_probs: torch.Tensor, table: UnitTable, *, beam: int = 8, lm: NGramLM | None = None,
                       alpha: float = 0.5, beta: float = 0.0, grammar: Grammar | None = None,
                       prune_log: float = -12.0, blank_skip: float = 0.999) -> BeamResult:
    """The best unit sequence of one utterance's (T, C) CTC log-probabilities (module docstring)."""
    beam = check_positive_int("beam", beam)
    if log_probs.ndim != 2 or log_probs.shape[1] != len(table):
        raise ParameterError(f"log_probs have shape {tuple(log_probs.shape)}: expected (frames, {len(table)}) for "
                             f"this recogniser's {len(table)} symbols")
    if (lm is not None or grammar is not None) and table.units != "word":
        raise ParameterError("a language model or grammar needs word units; this recogniser emits characters")
    if lm is not None:
        check_lm_vocabulary(lm, table)
    allowed = set(range(1, len(table)))
    if grammar is not None and grammar.words is not None:
        unknown = [w for w in grammar.words if table.word_id(w) is None]
        if unknown:
            raise ParameterError(f"grammar word(s) {unknown} are not in the recogniser's vocabulary {list(table.vocabulary)}")
        allowed = {table.word_id(w) for w in grammar.words}
    max_words = grammar.max_words if grammar is not None else None
    lp = log_probs.detach().double().cpu().numpy()
    skip_level = math.log(blank_skip) if blank_skip < 1 else 0.0
    # lm_scores[prefix] = α · ln P_lm(prefix) (without </s>), computed once per prefix
    lm_scores: dict[tuple[int, ...], float] = {(): 0.0}

    def lm_score(prefix: tuple[int, ...]) -> float:
        found = lm_scores.get(prefix)
        if found is None:
            words = [table.symbols[i] for i in prefix]
            found = lm_score(prefix[:-1]) + alpha * _LN10 * lm.log10_prob(words[-1], [BOS, *words[:-1]])
            lm_scores[prefix] = found
        return found

    def rank(item) -> float:
        prefix, (pb, pnb) = item
        return _logaddexp(pb, pnb) + (lm_score(prefix) if lm is not None else 0.0) + beta * len(prefix)

    beams: dict[tuple[int, ...], list[float]] = {(): [0.0, _NEG]}
    for t in range(lp.shape[0]):
        row = lp[t]
        candidates = [] if row[BLANK] > skip_level else [c for c in np.nonzero(row > prune_log)[0].tolist()
                                                       if c != BLANK and c in allowed]
        following: dict[tuple[int, ...], list[float]] = {}
        for prefix, (pb, pnb) in beams.items():
            total = _logaddexp(pb, pnb)
            same = following.setdefault(prefix, [_NEG, _NEG])
            same[0] = _logaddexp(same[0], total + row[BLANK])
            last = prefix[-1] if prefix else None
            for c in candidates:
                p = row[c]
                if c == last:
                    same[1] = _logaddexp(same[1], pnb + p)  # a repeat merges into the same unit
                    start = pb + p  # a new unit equal to the last one needs a blank between
                else:
                    start = total + p
                if max_words is not None and len(prefix) >= max_words:
                    continue
                extended = following.setdefault(prefix + (c,), [_NEG, _NEG])
                extended[1] = _logaddexp(extended[1], start)
        beams = dict(sorted(following.items(), key=rank, reverse=True)[:beam])

    def final(item) -> tuple[float, float, float]:
        prefix, (pb, pnb) = item
        acoustic = _logaddexp(pb, pnb)
        lm_part = 0.0
        if lm is not None:
            words = [table.symbols[i] for i in prefix]
            lm_part = lm_score(prefix) + alpha * _LN10 * lm.log10_prob(EOS, [BOS, *words])
        return acoustic + lm_part + beta * len(prefix), acoustic, lm_part

    scored = [(final(item), item[0]) for item in beams.items()]
    complete = [s for s in scored if grammar is None or len(s[1]) >= grammar.min_words]
    pool = complete or scored
    (score, acoustic, lm_part), prefix = max(pool, key=lambda s: s[0][0])
    return BeamResult(ids=list(prefix), score=score, acoustic=acoustic, lm=lm_part / alpha if lm is not None and alpha else 0.0,
                      complete=bool(complete))
