"""The units a CTC recogniser emits: whole words of a closed vocabulary, or the characters that spell them.

``UnitTable(vocabulary, units="word")``: id 0 is the blank, ids 1..V the vocabulary's words.
``units="char"``: id 0 the blank, then the characters of the vocabulary's words and the space
(the word separator), sorted. :meth:`encode` turns a transcript (words separated by spaces, case
ignored) into ids and refuses, naming it, a word or character the table cannot spell;
:meth:`decode` turns ids back into text, :meth:`words` into the list of words with the index of
the unit each word starts at (for word timestamps).
"""

from __future__ import annotations

from collections.abc import Sequence

from polysense._checks import check_choice
from polysense.errors import ParameterError

__all__ = ["BLANK", "UNITS", "UnitTable"]

BLANK = 0
UNITS = ("word", "char")


class UnitTable:
    """Word or character units of a vocabulary, blank first (module docstring)."""

    def __init__(self, vocabulary: Sequence[str], *, units: str = "word") -> None:
        self.units = check_choice("units", units, UNITS)
        words = [str(w).strip().lower() for w in vocabulary] if not isinstance(vocabulary, str) else []
        if not words or any(not w or " " in w for w in words) or len(set(words)) != len(words):
            raise ParameterError(f"vocabulary={vocabulary!r} is invalid: give a list of distinct single words, "
                                 "e.g. ['zero', 'one', ..., 'nine']")
        self.vocabulary = tuple(words)
        self.symbols = ("<blank>",) + (self.vocabulary if self.units == "word"
                                       else tuple(sorted({c for w in words for c in w} | {" "})))
        self._ids = {s: i for i, s in enumerate(self.symbols)}
        self.space = self._ids.get(" ") if self.units == "char" else None

    def __len__(self) -> int:
        """Symbols, the blank included (the width of the recogniser's output)."""
        return len(self.symbols)

    def split(self, text: str) -> list[str]:
        """The transcript's words (lower case, split on whitespace)."""
        return str(text).lower().split()

    def encode(self, text: str) -> list[int]:
        """Unit ids of a transcript; a ParameterError naming a word/character outside the table."""
        words = self.split(text)
        if self.units == "word":
            unknown = [w for w in words if w not in self._ids or w == "<blank>"]
            if unknown:
                raise ParameterError(f"transcript {text!r} has word(s) {sorted(set(unknown))} outside the recogniser's "
                                     f"vocabulary {list(self.vocabulary)}: fix the transcript or add the words to the "
                                     "model's vocabulary")
            return [self._ids[w] for w in words]
        joined = " ".join(words)
        unknown = sorted({c for c in joined if c not in self._ids})
        if unknown:
            raise ParameterError(f"transcript {text!r} has character(s) {unknown} outside the recogniser's units "
                                 f"{''.join(self.symbols[1:])!r}: fix the transcript or add words that use them "
                                 "to the model's vocabulary")
        return [self._ids[c] for c in joined]

    def decode(self, ids: Sequence[int]) -> str:
        """Text of unit ids (blanks skipped)."""
        return " ".join(word for word, _ in self.words(ids))

    def words(self, ids: Sequence[int]) -> list[tuple[str, int]]:
        """``[(word, index in ids of its first unit), ...]``; blanks skipped, spaces separate (char units)."""
        if self.units == "word":
            return [(self.symbols[i], k) for k, i in enumerate(ids) if i != BLANK]
        out: list[tuple[str, int]] = []
        current, start = "", 0
        for k, i in enumerate(list(ids) + [self.space]):
            if i == BLANK:
                continue
            if i == self.space:
                if current:
                    out.append((current, start))
                current = ""
            else:
                if not current:
                    start = k
                current += self.symbols[i]
        return out

    def word_id(self, word: str) -> int | None:
        """The unit id of ``word`` (word units), None when it is not in the vocabulary."""
        return self._ids.get(word) if self.units == "word" else None
