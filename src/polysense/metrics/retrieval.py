"""Cross-modal retrieval metrics: Recall@K in both directions and the median (and mean) rank.

Given a similarity matrix ``S`` (n_a, n_b) between items of modality a (rows) and b (columns)
and which pairs are positives (by default the diagonal: item ``i`` of a pairs with item ``i``
of b), each row is a query ranking all columns (``a → b``) and each column a query ranking all
rows (``b → a``).

The **rank** of a query is the position of its best-scoring positive in the ranked list, from
1; ties are counted against the query (a negative scoring exactly as high as the positive
ranks ahead of it), so a constant similarity matrix gets the worst ranks, not perfect ones.
``Recall@K`` is the fraction of queries whose rank is at most ``K`` (in [0, 1]). The median
rank is the usual statistical median (mean of the two middle ranks for an even count).

Where a query has several positives (a caption shared by many clips), the mean average precision
``mAP = mean_i (1/|P_i|) Σ_{k ∈ P_i} precision@rank_i(k)`` (in [0, 1]) is reported too
(:func:`mean_average_precision`). :func:`retrieval_report` gives all of them for every pair of
embedded modalities: what validation and ``polysense evaluate`` both report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from dataclasses import dataclass

import torch

from polysense._checks import check_positive_int
from polysense.errors import ParameterError

__all__ = [
    "DEFAULT_KS",
    "DirectionMetrics",
    "RetrievalMetrics",
    "mean_average_precision",
    "pair_similarity",
    "retrieval_metrics",
    "retrieval_ranks",
    "retrieval_report",
    "text_gallery",
]

DEFAULT_KS = (1, 5, 10)


@dataclass
class DirectionMetrics:
    """Retrieval in one direction.

    Attributes:
        recall: ``{K: fraction of queries with rank <= K}``.
        median_rank: median of the ranks (1 = perfect).
        mean_rank: mean of the ranks.
        ranks: (queries,) long tensor, each query's rank (from 1).
    """

    recall: dict[int, float]
    median_rank: float
    mean_rank: float
    ranks: torch.Tensor


@dataclass
class RetrievalMetrics:
    """Retrieval both ways: ``a_to_b`` (rows query columns) and ``b_to_a`` (columns query rows)."""

    a_to_b: DirectionMetrics
    b_to_a: DirectionMetrics

    def as_dict(self, a: str = "a", b: str = "b") -> dict[str, float]:
        """Flat ``{"{a}_to_{b}/R@1": ..., "{a}_to_{b}/median_rank": ..., ...}`` with
        modality names, plus ``rsum`` (the sum of all recalls in percent, a common summary)."""
        flat: dict[str, float] = {}
        for name, direction in ((f"{a}_to_{b}", self.a_to_b), (f"{b}_to_{a}", self.b_to_a)):
            for k, value in direction.recall.items():
                flat[f"{name}/R@{k}"] = value
            flat[f"{name}/median_rank"] = direction.median_rank
            flat[f"{name}/mean_rank"] = direction.mean_rank
        flat["rsum"] = 100.0 * sum(self.a_to_b.recall.values()) + 100.0 * sum(self.b_to_a.recall.values())
        return flat


def retrieval_ranks(similarity: torch.Tensor, positives: torch.Tensor | None = None) -> torch.Tensor:
    """Rank (from 1) of each row's best positive among the columns, ties counted against it.

    Args:
        similarity: (queries, candidates) scores, higher = more similar.
        positives: (queries, candidates) bool, True where a candidate is a correct answer;
            default the diagonal (requires a square matrix). Every row needs at least one.

    Returns:
        (queries,) long tensor: ``1 + #{negatives scoring >= the best positive}``.
    """
    similarity, positives = _check(similarity, positives, axes=(1,))
    best_positive = similarity.masked_fill(~positives, float("-inf")).max(dim=1, keepdim=True).values
    ahead = (similarity >= best_positive) & ~positives
    return 1 + ahead.sum(dim=1)


def retrieval_metrics(
    similarity: torch.Tensor,
    *,
    ks: Sequence[int] = DEFAULT_KS,
    positives: torch.Tensor | None = None,
) -> RetrievalMetrics:
    """Recall@K and median/mean rank in both directions from a similarity matrix.

    Args:
        similarity: (n_a, n_b) scores between items of a (rows) and b (columns), e.g.
            :func:`polysense.losses.cosine_similarity` of two embedding sets.
        ks: the K of Recall@K (default 1, 5, 10).
        positives: (n_a, n_b) bool matrix of correct pairs (e.g. five captions per image);
            default the diagonal. Every row and every column needs at least one positive.

    Returns:
        :class:`RetrievalMetrics`.

    Example::

        >>> s = torch.tensor([[0.9, 0.1], [0.8, 0.2]])
        >>> m = retrieval_metrics(s, ks=(1,))
        >>> m.a_to_b.recall, m.b_to_a.recall
        ({1: 0.5}, {1: 1.0})
    """
    if isinstance(ks, int) or not isinstance(ks, Sequence) or len(ks) == 0:
        raise ParameterError(f"ks={ks!r} is invalid: expected a non-empty list of positive integers (the K of Recall@K)")
    ks = [check_positive_int("ks[]", k) for k in ks]
    similarity, positives = _check(similarity, positives, axes=(1, 0))
    return RetrievalMetrics(
        a_to_b=_direction(retrieval_ranks(similarity, positives), ks),
        b_to_a=_direction(retrieval_ranks(similarity.T, positives.T), ks),
    )


def _direction(ranks: torch.Tensor, ks: Sequence[int]) -> DirectionMetrics:
    as_float = ranks.double()
    return DirectionMetrics(
        recall={k: float((ranks <= k).double().mean()) for k in ks},
        median_rank=float(as_float.quantile(0.5)),  # averages the two middle ranks
        mean_rank=float(as_float.mean()),
        ranks=ranks,
    )


def _check(
    similarity: torch.Tensor, positives: torch.Tensor | None, *, axes: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate; ``axes`` names where every query needs a positive (1: each row, 0: each column)."""
    if not isinstance(similarity, torch.Tensor) or similarity.ndim != 2 or 0 in similarity.shape:
        shape = tuple(similarity.shape) if isinstance(similarity, torch.Tensor) else type(similarity).__name__
        raise ParameterError(f"similarity must be a non-empty (queries, candidates) tensor, got {shape}")
    if not similarity.is_floating_point():
        similarity = similarity.double()
    if torch.isnan(similarity).any():
        raise ParameterError("similarity contains NaN: rankings would be undefined")
    if positives is None:
        if similarity.shape[0] != similarity.shape[1]:
            raise ParameterError(
                f"similarity has shape {tuple(similarity.shape)}: without positives the matrix must be "
                "square (item i of a pairs with item i of b); pass positives for other layouts"
            )
        return similarity, torch.eye(similarity.shape[0], dtype=torch.bool, device=similarity.device)
    if not isinstance(positives, torch.Tensor) or positives.shape != similarity.shape:
        shape = tuple(positives.shape) if isinstance(positives, torch.Tensor) else type(positives).__name__
        raise ParameterError(f"positives must be a bool tensor of shape {tuple(similarity.shape)}, got {shape}")
    positives = positives.bool().to(similarity.device)
    for axis in axes:
        name = "row" if axis == 1 else "column"
        empty = (~positives.any(dim=axis)).nonzero().flatten()
        if len(empty):
            raise ParameterError(
                f"positives has no positive in {name} {int(empty[0])} ({len(empty)} {name}(s) in all): "
                "every query needs at least one correct answer"
            )
    return similarity, positives


def text_gallery(texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Collapse repeated captions into one gallery entry each.

    A gallery holding the same caption 50 times ties those copies, so a wrong caption ranked
    first pushes the right one past rank 50 and Recall@1 = @5 = @10. Retrieval against text
    therefore ranks the *distinct* captions.

    Returns:
        ``(first, codes)``: the index of the first item of each distinct text (U,), and each
        item's distinct-text index (N,), so ``positives = codes[:, None] == arange(U)``.
    """
    index: dict[str, int] = {}
    codes = torch.tensor([index.setdefault(t, len(index)) for t in texts], dtype=torch.long)
    first = torch.tensor([texts.index(t) for t in index], dtype=torch.long) if index else torch.zeros(0, dtype=torch.long)
    return first, codes


def pair_similarity(
    ea: torch.Tensor, eb: torch.Tensor, *, a: str, b: str, texts: Sequence[str] | None, keys: Sequence | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(similarity, positives)`` between the items of modality ``a`` (rows) and ``b`` (columns).

    When one side is text and ``texts`` holds the items' captions, that side becomes the
    distinct captions (:func:`text_gallery`) and an item's positives are its caption; otherwise
    items are positives of each other when their ``keys`` (captions, labels) are equal, or only
    of themselves (the diagonal) without keys.
    """
    if "text" in (a, b) and texts is not None and len(texts) == ea.shape[0]:
        first, codes = text_gallery(list(texts))
        positives = codes[:, None] == torch.arange(len(first))[None, :]
        if a == "text":
            return ea[first] @ eb.T, positives.T
        return ea @ eb[first].T, positives
    if keys is not None and len(keys) == ea.shape[0]:
        index: dict = {}
        codes = torch.tensor([index.setdefault(k, len(index)) for k in keys])
        return ea @ eb.T, codes[:, None] == codes[None, :]
    return ea @ eb.T, torch.eye(ea.shape[0], dtype=torch.bool)


def mean_average_precision(similarity: torch.Tensor, positives: torch.Tensor) -> float:
    """mAP of the rows: AP_i = (1/|P_i|) Σ_{k: item k is a positive} precision@rank(k), the
    candidates ranked by descending similarity (ties in index order); a fraction in [0, 1]."""
    order = similarity.argsort(dim=1, descending=True, stable=True)
    hits = positives.gather(1, order).double()
    cumulative = hits.cumsum(dim=1)
    ranks = torch.arange(1, hits.shape[1] + 1, dtype=torch.float64)
    precision_at_hits = (cumulative / ranks) * hits
    counts = hits.sum(dim=1)
    if bool((counts == 0).any()):
        raise ParameterError("every query needs at least one positive for mAP")
    return float((precision_at_hits.sum(dim=1) / counts).mean())


def retrieval_report(embeddings: Mapping[str, torch.Tensor], *, texts: Sequence[str] | None = None,
                     labels: Sequence[int] | None = None, ks: Sequence[int] = DEFAULT_KS) -> dict[str, dict[str, Any]]:
    """Retrieval both ways between every pair of modalities of ``embeddings`` {modality: (N, D)},
    the modalities in sorted order: ``{"{a}_to_{b}": {"r@K": fraction, "median_rank": rank from 1,
    "map": fraction (only where a query has several positives)}, ...}``.

    Positives (:func:`pair_similarity`): an item's caption against text when ``texts`` holds the
    N captions, else items with the same caption (``texts``) or, without captions, the same label
    (``labels``), else only the pair itself. Pairs of different sizes or widths are skipped.
    """
    result: dict[str, dict[str, Any]] = {}
    texts = list(texts) if texts else None
    names = sorted(embeddings)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            ea, eb = embeddings[a], embeddings[b]
            if ea.shape[0] != eb.shape[0] or ea.shape[1] != eb.shape[1]:
                continue
            keys = texts if texts is not None and len(texts) == ea.shape[0] else (list(labels) if labels else None)
            similarity, positives = pair_similarity(ea, eb, a=a, b=b, texts=texts, keys=keys)
            metrics = retrieval_metrics(similarity, ks=ks, positives=positives)
            for direction, side in ((f"{a}_to_{b}", metrics.a_to_b), (f"{b}_to_{a}", metrics.b_to_a)):
                result[direction] = {**{f"r@{k}": v for k, v in side.recall.items()}, "median_rank": side.median_rank}
            if bool((positives.sum(dim=1) > 1).any()):
                result[f"{a}_to_{b}"]["map"] = mean_average_precision(similarity, positives)
            if bool((positives.sum(dim=0) > 1).any()):
                result[f"{b}_to_{a}"]["map"] = mean_average_precision(similarity.T, positives.T)
    return result
