"""Retrieval metrics against cases computed by hand (exact)."""

from __future__ import annotations

import pytest
import torch

from polysense.errors import ParameterError
from polysense.metrics.retrieval import RetrievalMetrics, retrieval_metrics, retrieval_ranks

# Rows: items of a, columns: items of b, positives on the diagonal.
S = torch.tensor([[0.9, 0.1, 0.3],
                  [0.8, 0.2, 0.5],
                  [0.1, 0.7, 0.6]])


def test_hand_computed_ranks_both_directions():
    # a -> b: row 0 beats all (1); row 1: 0.8 and 0.5 beat 0.2 (3); row 2: 0.7 beats 0.6 (2).
    # b -> a: column 0 (1); column 1: 0.7 beats 0.2 (2); column 2: 0.6 beats 0.3 and 0.5 (1).
    assert retrieval_ranks(S).tolist() == [1, 3, 2]
    assert retrieval_ranks(S.T).tolist() == [1, 2, 1]
    m = retrieval_metrics(S, ks=(1, 2, 5))
    assert isinstance(m, RetrievalMetrics)
    assert m.a_to_b.recall == pytest.approx({1: 1 / 3, 2: 2 / 3, 5: 1.0})
    assert m.b_to_a.recall == pytest.approx({1: 2 / 3, 2: 1.0, 5: 1.0})
    assert (m.a_to_b.median_rank, m.a_to_b.mean_rank) == (2.0, 2.0)
    assert m.b_to_a.median_rank == 1.0 and m.b_to_a.mean_rank == pytest.approx(4 / 3)


def test_median_of_an_even_count_averages_the_middle_ranks():
    # a -> b ranks 1, 2, 3, 4 by construction: row i has i negatives scoring above its positive.
    s = torch.tensor([[4.0, 0.0, 0.0, 0.0],
                      [5.0, 4.0, 0.0, 0.0],
                      [5.0, 5.0, 4.0, 0.0],
                      [5.0, 5.0, 5.0, 4.0]])
    m = retrieval_metrics(s, ks=(1, 3))
    assert m.a_to_b.ranks.tolist() == [1, 2, 3, 4]
    assert m.a_to_b.median_rank == 2.5 and m.a_to_b.mean_rank == 2.5
    assert m.a_to_b.recall == {1: 0.25, 3: 0.75}


def test_ties_count_against_the_query():
    m = retrieval_metrics(torch.ones(3, 3), ks=(1,))
    assert m.a_to_b.ranks.tolist() == [3, 3, 3] and m.a_to_b.recall[1] == 0.0


def test_perfect_retrieval_from_embeddings():
    a = torch.eye(5)
    m = retrieval_metrics(a @ a.T, ks=(1,))
    assert m.a_to_b.recall[1] == m.b_to_a.recall[1] == 1.0
    flat = m.as_dict("audio", "text")
    assert flat["audio_to_text/R@1"] == 1.0 and flat["text_to_audio/median_rank"] == 1.0
    assert flat["rsum"] == 200.0


def test_several_positives_per_item():
    # 2 images (rows), 4 captions (columns): captions 0, 1 describe image 0; 2, 3 image 1.
    positives = torch.tensor([[1, 1, 0, 0], [0, 0, 1, 1]], dtype=torch.bool)
    s = torch.tensor([[0.2, 0.9, 0.5, 0.1],
                      [0.6, 0.3, 0.4, 0.2]])
    m = retrieval_metrics(s, positives=positives, ks=(1, 2))
    # image 0: best positive 0.9 is first (1). image 1: best positive 0.4 behind 0.6 (2).
    assert m.a_to_b.ranks.tolist() == [1, 2]
    # caption 0 (0.2 vs 0.6): 2; caption 1 (0.9 vs 0.3): 1; caption 2 (0.4 vs 0.5): 2; caption 3 (0.2 vs 0.1): 1.
    assert m.b_to_a.ranks.tolist() == [2, 1, 2, 1]
    assert m.b_to_a.recall == {1: 0.5, 2: 1.0} and m.b_to_a.median_rank == 1.5


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(similarity=torch.ones(2, 3)), "square"),
        (dict(similarity=torch.ones(3)), "queries, candidates"),
        (dict(similarity=torch.tensor([[1.0, float("nan")], [0.0, 1.0]])), "NaN"),
        (dict(similarity=torch.ones(2, 2), positives=torch.ones(3, 2, dtype=torch.bool)), "shape"),
        (dict(similarity=torch.ones(2, 2), positives=torch.tensor([[1, 0], [1, 0]], dtype=torch.bool)), "column 1"),
        (dict(similarity=torch.ones(2, 2), ks=(0,)), "ks"),
        (dict(similarity=torch.ones(2, 2), ks=5), "ks"),
    ],
)
def test_bad_inputs(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        retrieval_metrics(**kwargs)


def test_ranks_need_a_positive_per_row_only():
    positives = torch.tensor([[1, 0], [1, 0]], dtype=torch.bool)  # column 1 has none: fine one way
    assert retrieval_ranks(torch.eye(2), positives).tolist() == [1, 2]
    with pytest.raises(ParameterError, match="row 1"):
        retrieval_ranks(torch.eye(2), torch.tensor([[1, 0], [0, 0]], dtype=torch.bool))


def test_repeated_captions_are_ranked_once():
    """Two captions, each held by 3 clips: a gallery of 6 identical-caption copies would tie, so
    Recall@1 = @5; against the distinct captions a clip ranks its caption 1st or 2nd."""
    import torch

    from polysense.metrics.retrieval import pair_similarity, retrieval_metrics, text_gallery

    texts = ["one", "two", "one", "two", "one", "two"]
    first, codes = text_gallery(texts)
    assert first.tolist() == [0, 1] and codes.tolist() == [0, 1, 0, 1, 0, 1]
    audio = torch.nn.functional.normalize(torch.tensor([[1.0, 0.2], [0.1, 1.0], [0.2, 1.0], [0.0, 1.0],
                                                        [1.0, 0.0], [1.0, 0.1]]), dim=-1)
    text = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0]] * 3), dim=-1)
    similarity, positives = pair_similarity(audio, text, a="audio", b="text", texts=texts)
    assert similarity.shape == (6, 2) and positives.tolist() == [[True, False], [False, True]] * 3
    metrics = retrieval_metrics(similarity, ks=(1, 2), positives=positives)
    assert metrics.a_to_b.recall[1] == 4 / 6 and metrics.a_to_b.recall[2] == 1.0  # clips 2 and 5 miss at 1
    back, back_positives = pair_similarity(text, audio, a="text", b="audio", texts=texts)
    assert back.shape == (2, 6) and back_positives.tolist() == [[True, False] * 3, [False, True] * 3]
