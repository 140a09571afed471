"""Word and character error rates against counts done by hand (the edit operations written out)."""

from __future__ import annotations

import pytest

from polysense.errors import ParameterError
from polysense.metrics.transcription import error_rates, error_rates_by_group, normalize_text


def test_normalisation():
    assert normalize_text("  Seven.  ") == "seven"
    assert normalize_text("It's four, five!") == "it's four five"


def _levenshtein(a, b) -> int:
    """Minimum substitutions + deletions + insertions turning sequence a into b (plain DP)."""
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


def test_wer_and_cer_by_hand():
    # "four one five five" -> "four five five nine": delete "one", insert "nine": 2 edits / 4 words
    rates = error_rates(["four one five five"], ["Four five five nine."])
    assert rates["wer"] == pytest.approx(2 / 4)
    assert _levenshtein("four one five five".split(), "four five five nine".split()) == 2
    # characters: the minimum edit distance of the two strings over the reference's 18 characters
    assert rates["cer"] == pytest.approx(_levenshtein("four one five five", "four five five nine") / 18)
    # corpus level: errors summed over utterances, then divided by all reference words (2 + 0) / (4 + 1)
    rates = error_rates(["four one five five", "seven"], ["four five five nine", "Seven."])
    assert rates["wer"] == pytest.approx(2 / 5) and rates["words"] == 5 and rates["utterances"] == 2


def test_empty_hypothesis_counts_deletions_and_empty_reference_insertions():
    assert error_rates(["one two", ""], ["", "three"])["wer"] == pytest.approx((2 + 1) / 2)


def test_per_group():
    out = error_rates_by_group(["one", "two", "three"], ["one", "too", "three"], ["a", "b", "a"])
    assert out["a"]["wer"] == 0 and out["b"]["wer"] == 1 and out["all"]["wer"] == pytest.approx(1 / 3)


def test_errors_name_the_problem():
    with pytest.raises(ParameterError, match="2 references but 1 hypotheses"):
        error_rates(["a", "b"], ["a"])
    with pytest.raises(ParameterError, match="every reference is empty"):
        error_rates([""], ["a"])
    with pytest.raises(ParameterError, match="1 groups for 2 transcripts"):
        error_rates_by_group(["a", "b"], ["a", "b"], ["g"])


def test_word_confusions_count_each_edit():
    from polysense.metrics.transcription import word_confusions

    got = word_confusions(["one two three", "four five", "six", ""], ["one too three six", "five", "", "seven"])
    assert got == {("two", "too"): 1, (None, "six"): 1, ("four", None): 1, ("six", None): 1, (None, "seven"): 1}
    # as many edits as the WER counts
    from polysense.metrics.transcription import error_rates

    rates = error_rates(["one two three", "four five", "six"], ["one too three six", "five", "nine"])
    assert sum(word_confusions(["one two three", "four five", "six"], ["one too three six", "five", "nine"]).values()) \
        == round(rates["wer"] * rates["words"])
