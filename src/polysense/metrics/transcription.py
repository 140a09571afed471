"""Word and character error rates of transcripts (jiwer), overall and per group.

``WER = (S + D + I) / N`` over words and ``CER`` the same over characters, where S, D, I are the
substitutions, deletions and insertions of the minimum edit alignment and N the reference
length, summed over all pairs (corpus-level, jiwer's definition, not a mean of per-utterance
rates). Texts are normalised first unless ``normalize=False``: lower case, punctuation removed,
whitespace collapsed (Whisper writes "Seven." for "seven").
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence

import jiwer

from polysense.errors import ParameterError

__all__ = ["error_rates", "error_rates_by_group", "normalize_text", "word_confusions"]


def normalize_text(text: str) -> str:
    """Lower case, punctuation dropped (apostrophes kept inside words), spaces collapsed."""
    text = re.sub(r"[^\w\s']|(?<!\w)'|'(?!\w)", " ", text.lower())
    return " ".join(text.split())


def error_rates(references: Sequence[str], hypotheses: Sequence[str], *, normalize: bool = True) -> dict[str, float]:
    """``{"wer", "cer", "words", "utterances"}`` of ``hypotheses`` against ``references`` (module docstring).

    An empty reference counts its hypothesis words as insertions; all references empty is an error
    (the rate has no denominator).
    """
    if len(references) != len(hypotheses):
        raise ParameterError(f"{len(references)} references but {len(hypotheses)} hypotheses: give one of each per utterance")
    if not references:
        raise ParameterError("no transcripts to score: give at least one reference and hypothesis")
    refs = [normalize_text(r) if normalize else r for r in references]
    hyps = [normalize_text(h) if normalize else h for h in hypotheses]
    words = sum(len(r.split()) for r in refs)
    if words == 0:
        raise ParameterError("every reference is empty: WER has no denominator")
    # jiwer refuses empty strings; an empty side is scored through a one-pair alignment by hand
    word_errors = char_errors = chars = 0
    for ref, hyp in zip(refs, hyps):
        chars += len(ref)
        if not ref or not hyp:
            word_errors += len(ref.split()) + len(hyp.split())
            char_errors += len(ref) + len(hyp)
            continue
        out = jiwer.process_words(ref, hyp)
        word_errors += out.substitutions + out.deletions + out.insertions
        c = jiwer.process_characters(ref, hyp)
        char_errors += c.substitutions + c.deletions + c.insertions
    return {"wer": word_errors / words, "cer": char_errors / max(1, chars), "words": words, "utterances": len(refs)}


def error_rates_by_group(
    references: Sequence[str], hypotheses: Sequence[str], groups: Sequence[str], *, normalize: bool = True
) -> dict[str, dict[str, float]]:
    """:func:`error_rates` per group (e.g. speaker), plus ``"all"``."""
    if len(groups) != len(references):
        raise ParameterError(f"{len(groups)} groups for {len(references)} transcripts: give one group per utterance")
    by = defaultdict(list)
    for ref, hyp, group in zip(references, hypotheses, groups):
        by[str(group)].append((ref, hyp))
    out = {group: error_rates([r for r, _ in pairs], [h for _, h in pairs], normalize=normalize)
           for group, pairs in sorted(by.items())}
    out["all"] = error_rates(references, hypotheses, normalize=normalize)
    return out


def word_confusions(references: Sequence[str], hypotheses: Sequence[str], *, normalize: bool = True) -> Counter:
    """The errors of jiwer's minimum edit alignment, counted: ``(reference word, hypothesis word)``
    for a substitution, ``(word, None)`` for a deletion, ``(None, word)`` for an insertion
    (e.g. which digit words a recogniser confuses)."""
    if len(references) != len(hypotheses):
        raise ParameterError(f"{len(references)} references but {len(hypotheses)} hypotheses: give one of each per utterance")
    counts: Counter = Counter()
    for ref, hyp in zip(references, hypotheses):
        r = (normalize_text(ref) if normalize else ref).split()
        h = (normalize_text(hyp) if normalize else hyp).split()
        if not r or not h:
            counts.update([(w, None) for w in r] + [(None, w) for w in h])
            continue
        for chunk in jiwer.process_words(" ".join(r), " ".join(h)).alignments[0]:
            if chunk.type == "substitute":
                counts.update(zip(r[chunk.ref_start_idx:chunk.ref_end_idx], h[chunk.hyp_start_idx:chunk.hyp_end_idx]))
            elif chunk.type == "delete":
                counts.update((w, None) for w in r[chunk.ref_start_idx:chunk.ref_end_idx])
            elif chunk.type == "insert":
                counts.update((None, w) for w in h[chunk.hyp_start_idx:chunk.hyp_end_idx])
    return counts
