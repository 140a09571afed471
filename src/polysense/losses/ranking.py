"""VSE++'s max-violation hinge (triplet ranking) loss on cosine similarity.

With ``s(a, b)`` the cosine similarity and ``(a_i, b_i)`` the positive pairs (Faghri et al.
2018, "VSE++: Improving Visual-Semantic Embeddings with Hard Negatives")::

    L = Σ_i max_{j≠i} [α + s(a_i, b_j) − s(a_i, b_i)]₊      (each a against its hardest b)
      + Σ_i max_{j≠i} [α + s(a_j, b_i) − s(a_i, b_i)]₊      (each b against its hardest a)

with margin ``α = 0.2``. With ``max_violation=False`` the maxima become sums over all
negatives (the VSE0 loss of Kiros et al.). Under ``torch.distributed`` the negatives span the
global batch (see :mod:`polysense.losses.distributed` for the convention).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from polysense._checks import check_choice, check_positive_float
from polysense.losses.contrastive import _check_embeddings, cosine_similarity
from polysense.losses.distributed import ProcessLayout, gather_pairs, pair_positive_mask, share_of_global

#: VSE++'s margin.
DEFAULT_MARGIN = 0.2


@dataclass
class RankingOutput:
    """VSE++'s loss and its parts.

    Attributes:
        loss: ``loss_a + loss_b`` (this process's share under torch.distributed).
        loss_a: hinge of each ``a`` against negative ``b`` (summed or averaged over rows).
        loss_b: hinge of each ``b`` against negative ``a``.
        similarity_a: (local a, global b) cosine similarities.
        similarity_b: (local b, global a) cosine similarities.
        hardest_b: (local a,) index of each ``a``'s most similar negative ``b``.
        hardest_a: (local b,) index of each ``b``'s most similar negative ``a``.
    """

    loss: torch.Tensor
    loss_a: torch.Tensor
    loss_b: torch.Tensor
    similarity_a: torch.Tensor
    similarity_b: torch.Tensor
    hardest_b: torch.Tensor
    hardest_a: torch.Tensor


def vsepp_loss(
    embeddings_a: torch.Tensor,
    embeddings_b: torch.Tensor,
    *,
    margin: float = DEFAULT_MARGIN,
    max_violation: bool = True,
    reduction: str = "sum",
    gather: bool = True,
    local_loss: bool = True,
    positive_mask: torch.Tensor | None = None,
    group: torch.distributed.ProcessGroup | None = None,
) -> RankingOutput:
    """VSE++'s hinge loss with the hardest negative per row and per column.

    Args:
        embeddings_a: (N, D) embeddings of modality a (normalised here; any scale works).
        embeddings_b: (N, D) embeddings of modality b, paired row by row with ``a``.
        margin: hinge margin α (default 0.2).
        max_violation: only the hardest negative counts (VSE++); False sums over all
            negatives (VSE0).
        reduction: "sum" over the batch (VSE++) or "mean".
        gather, local_loss, group: as in :func:`polysense.losses.clip_loss`.
        positive_mask: optional (N, N) bool, True where item j is also a positive of item i
            (the same caption twice in a batch): such items are never negatives (the hinge
            compares each pair only with true negatives). The diagonal is always a positive.

    Returns:
        :class:`RankingOutput`.
    """
    margin = check_positive_float("margin", margin, allow_zero=True, what="hinge margin")
    check_choice("reduction", reduction, ("sum", "mean"))
    _check_embeddings("embeddings_a", embeddings_a)
    _check_embeddings("embeddings_b", embeddings_b, dim=embeddings_a.shape[1], rows=embeddings_a.shape[0])
    pairs = gather_pairs(embeddings_a, embeddings_b, gather=gather, local_loss=local_loss, group=group)
    similarity_a = cosine_similarity(pairs.queries_a, pairs.keys_b)
    similarity_b = cosine_similarity(pairs.queries_b, pairs.keys_a)
    hinge = dict(offset=pairs.label_offset, margin=margin, max_violation=max_violation,
                 layout=pairs.layout, reduction=reduction)
    positives_a = positives_b = None
    if positive_mask is not None:
        positives_a = pair_positive_mask(positive_mask, pairs, group=group)
        positives_b = pair_positive_mask(positive_mask.T, pairs, group=group)
    loss_a, hardest_b = _hinge(similarity_a, positives=positives_a, **hinge)
    loss_b, hardest_a = _hinge(similarity_b, positives=positives_b, **hinge)
    return RankingOutput(
        loss=loss_a + loss_b,
        loss_a=loss_a,
        loss_b=loss_b,
        similarity_a=similarity_a,
        similarity_b=similarity_b,
        hardest_b=hardest_b,
        hardest_a=hardest_a,
    )


class VSEPPLoss(nn.Module):
    """Module form of :func:`vsepp_loss` (no parameters)."""

    def __init__(
        self,
        *,
        margin: float = DEFAULT_MARGIN,
        max_violation: bool = True,
        reduction: str = "sum",
        gather: bool = True,
        local_loss: bool = True,
    ) -> None:
        super().__init__()
        self.margin = check_positive_float("margin", margin, allow_zero=True, what="hinge margin")
        self.reduction = check_choice("reduction", reduction, ("sum", "mean"))
        self.max_violation, self.gather, self.local_loss = max_violation, gather, local_loss

    def forward(
        self, embeddings_a: torch.Tensor, embeddings_b: torch.Tensor, *, positive_mask: torch.Tensor | None = None
    ) -> RankingOutput:
        return vsepp_loss(
            embeddings_a,
            embeddings_b,
            positive_mask=positive_mask,
            margin=self.margin,
            max_violation=self.max_violation,
            reduction=self.reduction,
            gather=self.gather,
            local_loss=self.local_loss,
        )

    def extra_repr(self) -> str:
        return f"margin={self.margin}, max_violation={self.max_violation}, reduction={self.reduction!r}"


def _hinge(
    similarity: torch.Tensor,
    *,
    offset: int,
    margin: float,
    max_violation: bool,
    layout: ProcessLayout | None,
    reduction: str,
    positives: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-query hinge against negatives; row ``i``'s pair is column ``i + offset``, and the
    other ``positives`` (queries, keys) are not negatives."""
    rows = torch.arange(similarity.shape[0], device=similarity.device)
    is_positive = torch.zeros_like(similarity, dtype=torch.bool)
    is_positive[rows, rows + offset] = True
    if positives is not None:
        is_positive |= positives
    positive = similarity[rows, rows + offset].unsqueeze(1)
    # Costs are >= 0, so a zero cost on the positive leaves it out of both the max and the sum.
    cost = (margin + similarity - positive).clamp(min=0).masked_fill(is_positive, 0)
    per_row = cost.max(dim=1).values if max_violation else cost.sum(dim=1)
    hardest = similarity.masked_fill(is_positive, float("-inf")).argmax(dim=1)
    return share_of_global(per_row, layout, reduction), hardest
