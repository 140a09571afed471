"""A word n-gram language model with interpolated Kneser-Ney smoothing, in ARPA text.

The language model of the lecture's ``P(W|A) ∝ P(A|W) P(W)``: ``P(W) = Π_i P(w_i | w_{i-n+1} … w_{i-1})``
with ``<s>`` before and ``</s>`` after each sentence. Trained from text (transcripts, or a
grammar's expansions) by :func:`train_ngram`; saved as and loaded from the ARPA format
(:meth:`NGramLM.write_arpa`, :func:`read_arpa`), which every toolkit reads (KenLM, SRILM,
pyctcdecode), so a user may bring their own.

Interpolated Kneser-Ney (Chen & Goodman 1998, one discount per order), for the highest order ``N``::

    P(w | h) = max(c(h w) − D, 0) / c(h) + D · N1+(h •) / c(h) · P(w | h')

where ``h'`` drops the oldest word of ``h`` and ``N1+(h •)`` counts the distinct words seen after
``h``. Lower orders use the same formula with *continuation* counts in place of ``c``: the number
of distinct words seen before the n-gram (n-grams starting with ``<s>`` keep their raw counts, as
nothing precedes ``<s>``). The unigram level interpolates with the uniform distribution over the
vocabulary (``</s>`` included, ``<s>`` never predicted), so a vocabulary word never seen in
training keeps some probability. ``D_k = n1 / (n1 + 2 n2)`` from the order's counts of counts
(clamped to [0.1, 0.9]) unless ``discount`` fixes it.

In ARPA, a seen n-gram stores ``log10 P(w | h)`` (the interpolated value) and a history stores its
back-off weight ``log10(D · N1+(h •) / c(h))``, so the standard back-off lookup
``P(w | h) = bow(h) · P(w | h')`` for an unseen ``h w`` gives the interpolated model exactly.
"""

from __future__ import annotations

import math
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from polysense._checks import check_positive_int
from polysense.errors import ParameterError
from polysense.files import atomic_write_text

__all__ = ["BOS", "EOS", "NGramLM", "read_arpa", "train_ngram"]

BOS, EOS = "<s>", "</s>"
_NEVER = -99.0  # ARPA's log10 of probability zero (<s> is never predicted)


class NGramLM:
    """An n-gram back-off model: ``probs[k][ngram] = log10 P``, ``backoffs[k][ngram] = log10 bow``."""

    def __init__(self, probs: dict[int, dict[tuple[str, ...], float]],
                 backoffs: dict[int, dict[tuple[str, ...], float]]) -> None:
        self.order = max(probs)
        self.probs = probs
        self.backoffs = backoffs
        self.vocabulary = tuple(w for (w,) in probs[1])

    def log10_prob(self, word: str, history: Sequence[str] = ()) -> float:
        """``log10 P(word | history)`` by back-off (the history's last ``order − 1`` words count)."""
        history = tuple(history)[-(self.order - 1):] if self.order > 1 else ()
        total = 0.0
        while True:
            gram = history + (word,)
            found = self.probs.get(len(gram), {}).get(gram)
            if found is not None:
                return total + found
            if not history:
                return total + _NEVER  # a word outside the vocabulary
            total += self.backoffs.get(len(history), {}).get(history, 0.0)
            history = history[1:]

    def sentence_log10_prob(self, words: Sequence[str]) -> float:
        """``log10 P(<s> words </s>)``."""
        history: list[str] = [BOS]
        total = 0.0
        for word in list(words) + [EOS]:
            total += self.log10_prob(word, history)
            history.append(word)
        return total

    def to_arpa(self) -> str:
        """The model as ARPA text."""
        lines = ["", "\\data\\"]
        lines += [f"ngram {k}={len(self.probs[k])}" for k in range(1, self.order + 1)]
        for k in range(1, self.order + 1):
            lines += ["", f"\\{k}-grams:"]
            for gram, prob in sorted(self.probs[k].items()):
                bow = self.backoffs.get(k, {}).get(gram)
                entry = f"{prob:.7g}\t{' '.join(gram)}"
                lines.append(entry if bow is None or k == self.order else f"{entry}\t{bow:.7g}")
        lines += ["", "\\end\\", ""]
        return "\n".join(lines)

    def write_arpa(self, path: str | os.PathLike) -> Path:
        """Write :meth:`to_arpa` to ``path`` atomically (a reader never sees half a file)."""
        return atomic_write_text(path, self.to_arpa())


def _discount(counts: Iterable[int], fixed: float | None) -> float:
    if fixed is not None:
        return fixed
    histogram = Counter(c for c in counts if c in (1, 2))
    n1, n2 = histogram[1], histogram[2]
    return min(0.9, max(0.1, n1 / (n1 + 2 * n2))) if n1 else 0.5


def train_ngram(sentences: Iterable[str | Sequence[str]], *, order: int = 3, vocabulary: Sequence[str] = (),
                discount: float | None = None) -> NGramLM:
    """An interpolated Kneser-Ney model of ``order`` from sentences (strings split on whitespace, or
    word lists); ``vocabulary`` adds words that may not occur in them (module docstring)."""
    order = check_positive_int("order", order)
    if discount is not None and not 0 < float(discount) < 1:
        raise ParameterError(f"discount={discount!r} is invalid: a Kneser-Ney discount lies strictly between 0 and 1")
    counts: dict[int, Counter] = {k: Counter() for k in range(1, order + 1)}
    words: set[str] = {str(w).lower() for w in vocabulary}
    any_sentence = False
    for sentence in sentences:
        tokens = str(sentence).lower().split() if isinstance(sentence, str) else [str(w).lower() for w in sentence]
        if {BOS, EOS} & set(tokens):
            raise ParameterError(f"sentence {sentence!r} holds {BOS} or {EOS}: they are added around every sentence")
        any_sentence = True
        words.update(tokens)
        padded = [BOS] + tokens + [EOS]
        for k in range(1, order + 1):
            for i in range(len(padded) - k + 1):
                gram = tuple(padded[i : i + k])
                if gram != (BOS,) or k > 1:
                    counts[k][gram] += 1
    if not any_sentence:
        raise ParameterError("no sentences to train the language model on: give at least one transcript")
    # adjusted counts: raw at the highest order and for n-grams starting with <s>, else continuation counts
    adjusted: dict[int, Counter] = {order: counts[order]}
    for k in range(order - 1, 0, -1):
        left = Counter(gram[1:] for gram in counts[k + 1])
        adjusted[k] = Counter({gram: (c if gram[0] == BOS else left[gram]) for gram, c in counts[k].items()})
        adjusted[k] = Counter({g: c for g, c in adjusted[k].items() if c > 0})
    predicted = sorted(words | {EOS})
    probs: dict[int, dict[tuple[str, ...], float]] = {}
    backoffs: dict[int, dict[tuple[str, ...], float]] = defaultdict(dict)
    # unigrams: discounted continuation counts interpolated with the uniform distribution
    d1 = _discount(adjusted[1].values(), discount)
    total1 = sum(adjusted[1].values())
    uniform = 1.0 / len(predicted)
    gamma1 = d1 * len(adjusted[1]) / total1
    lower: dict[tuple[str, ...], float] = {}
    for word in predicted:
        lower[(word,)] = max(adjusted[1][(word,)] - d1, 0.0) / total1 + gamma1 * uniform
    probs[1] = {g: math.log10(p) for g, p in lower.items()}
    probs[1][(BOS,)] = _NEVER
    for k in range(2, order + 1):
        dk = _discount(adjusted[k].values(), discount)
        by_history: dict[tuple[str, ...], dict[str, int]] = defaultdict(dict)
        for gram, c in adjusted[k].items():
            by_history[gram[:-1]][gram[-1]] = c
        current: dict[tuple[str, ...], float] = {}
        for history, followers in by_history.items():
            total = sum(followers.values())
            gamma = dk * len(followers) / total
            backoffs[k - 1][history] = math.log10(gamma)
            for word, c in followers.items():
                p_lower = 10 ** _lookup(probs, backoffs, history[1:], word)
                current[history + (word,)] = (max(c - dk, 0.0) / total) + gamma * p_lower
        probs[k] = {g: math.log10(p) for g, p in current.items()}
    return NGramLM(probs, dict(backoffs))


def _lookup(probs, backoffs, history: tuple[str, ...], word: str) -> float:
    total = 0.0
    while True:
        found = probs.get(len(history) + 1, {}).get(history + (word,))
        if found is not None:
            return total + found
        if not history:
            return total + _NEVER
        total += backoffs.get(len(history), {}).get(history, 0.0)
        history = history[1:]


def read_arpa(path: str | os.PathLike) -> NGramLM:
    """Load an ARPA file; a malformed one raises ParameterError naming the file, the line and what to fix."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParameterError(f"language model {str(path)!r} not found: give the path of an ARPA file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ParameterError(f"language model {str(path)!r} cannot be read as UTF-8 text ({error}): give an ARPA file") from None

    def bad(number: int, what: str) -> ParameterError:
        return ParameterError(f"{path}: line {number}: {what}; not a valid ARPA language model (write one with "
                              "polysense.recognize.ngram.train_ngram(...).write_arpa, or KenLM's lmplz)")

    declared: dict[int, int] = {}
    probs: dict[int, dict[tuple[str, ...], float]] = {}
    backoffs: dict[int, dict[tuple[str, ...], float]] = defaultdict(dict)
    section: str | int | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line == "\\data\\":
            section = "data"
        elif line == "\\end\\":
            section = "end"
        elif line.startswith("\\") and line.endswith("-grams:"):
            try:
                section = int(line[1:-len("-grams:")])
            except ValueError:
                raise bad(number, f"section header {line!r} is not \\N-grams:") from None
            if section not in declared:
                raise bad(number, f"{section}-grams are not declared in the \\data\\ section")
            probs[section] = {}
        elif section == "data":
            key, _, value = line.partition("=")
            if not key.startswith("ngram ") or not value.strip().isdigit() or not key[6:].strip().isdigit():
                raise bad(number, f"{line!r} is not 'ngram N=COUNT'")
            declared[int(key[6:])] = int(value)
        elif isinstance(section, int):
            fields = line.split()
            try:
                prob = float(fields[0])
            except (ValueError, IndexError):
                raise bad(number, f"{line!r} does not start with a log10 probability") from None
            gram = tuple(fields[1 : 1 + section])
            if len(gram) != section or len(fields) > section + 2:
                raise bad(number, f"{line!r} is not 'LOG10PROB {' '.join(['WORD'] * section)} [BACKOFF]'")
            if prob > 0:
                raise bad(number, f"log10 probability {prob} is positive (a probability above 1)")
            probs[section][gram] = prob
            if len(fields) == section + 2:
                try:
                    backoffs[section][gram] = float(fields[-1])
                except ValueError:
                    raise bad(number, f"back-off weight {fields[-1]!r} is not a number") from None
        else:
            raise bad(number, f"{line[:40]!r} is outside any section (expected \\data\\ first)")
    if section != "end":
        raise ParameterError(f"{path}: no \\end\\ line: the ARPA file is truncated or not an ARPA file")
    if not declared or 1 not in probs:
        raise ParameterError(f"{path}: no \\data\\ section or no unigrams: not an ARPA language model")
    for k, n in declared.items():
        if len(probs.get(k, {})) != n:
            raise ParameterError(f"{path}: the \\data\\ section declares {n} {k}-grams but the file lists "
                                 f"{len(probs.get(k, {}))}: the file is truncated or edited")
    return NGramLM(probs, dict(backoffs))
