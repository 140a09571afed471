"""Image-text matching (ITM): the matched-or-not head, its loss, and the negative samplers.

ITM is a binary classification of a fused pair representation (ViLBERT's "alignment
prediction", ViLT's and ALBEF's ITM): ``loss = CE(head(h), y)``, ``y = 1`` for a true pair.
Negatives come from the batch:

- :func:`random_negatives` / :func:`random_matching_pairs` (ViLT, ViLBERT): a uniformly
  drawn partner that is not a positive, with probability 0.5 per pair.
- :func:`sample_hard_negatives` (ALBEF): one partner per anchor drawn with probability
  ``softmax(sim)`` over the anchor's in-batch similarities, the positives' weights set to zero
  (and the rest renormalised), so the positive is never returned.

"Positive" means the diagonal and, with :func:`duplicate_mask`, every other item equal to the
anchor's own partner (a caption or an image that occurs twice in the batch), so no true pair is
ever labelled unmatched.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from polysense._checks import check_positive_int, check_unit_interval
from polysense.errors import ParameterError


@dataclass
class MatchingOutput:
    """Typed output of :func:`itm_loss`.

    Attributes:
        loss: scalar cross-entropy.
        accuracy: scalar share of pairs classified right.
        logits: (batch, 2) matched-or-not logits (index 1 = matched).
        labels: (batch,) long, 1 for matched pairs.
    """

    loss: Tensor
    accuracy: Tensor
    logits: Tensor
    labels: Tensor


def itm_loss(logits: Tensor, labels: Tensor) -> MatchingOutput:
    """Cross-entropy of matched-or-not logits (batch, 2) against labels (batch,) in {0, 1}."""
    if logits.ndim != 2 or logits.shape[-1] != 2 or labels.shape != logits.shape[:1]:
        raise ParameterError(
            f"logits {tuple(logits.shape)} and labels {tuple(labels.shape)} do not fit: "
            "expected (batch, 2) and (batch,)"
        )
    labels = labels.long()
    loss = F.cross_entropy(logits, labels)
    accuracy = (logits.detach().argmax(-1) == labels).float().mean()
    return MatchingOutput(loss=loss, accuracy=accuracy, logits=logits, labels=labels)


class ITMHead(nn.Module):
    """Matched-or-not classifier on a fused pair vector: ``Linear(dim, 2)``."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.classifier = nn.Linear(check_positive_int("dim", dim, what="width of the fused vector"), 2)

    def forward(self, fused: Tensor) -> Tensor:
        return self.classifier(fused)


class ImageTextMatchingLoss(nn.Module):
    """Module form: an :class:`ITMHead` and :func:`itm_loss` on its logits."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.head = ITMHead(dim)

    def forward(self, fused: Tensor, labels: Tensor) -> MatchingOutput:
        return itm_loss(self.head(fused), labels)


def duplicate_mask(*items: Tensor) -> Tensor:
    """(batch, batch) bool, True where items i and j are equal in every tensor given.

    Pass the tensors that identify a sample (e.g. the padded ``input_ids`` of the captions, or
    the images); equal rows mean the same caption or image appears twice in the batch. The
    diagonal is always True. For the pair-level "is j a positive for anchor i" mask, OR the masks
    of the two modalities: ``duplicate_mask(input_ids) | duplicate_mask(images)``.
    """
    if not items:
        raise ParameterError("duplicate_mask needs at least one tensor of shape (batch, ...)")
    batch = items[0].shape[0]
    same = torch.ones(batch, batch, dtype=torch.bool, device=items[0].device)
    for item in items:
        if item.shape[0] != batch:
            raise ParameterError(f"all tensors need the same batch size: got {item.shape[0]} and {batch}")
        flat = item.reshape(batch, -1)
        same &= (flat[:, None, :] == flat[None, :, :]).all(dim=-1)
    return same


def _positive_mask(positive_mask: Tensor | None, rows: int, cols: int, device: torch.device) -> Tensor:
    if positive_mask is None:
        if rows != cols:
            raise ParameterError(
                f"a {rows}x{cols} similarity has no diagonal of positives: pass positive_mask "
                f"of shape ({rows}, {cols})"
            )
        return torch.eye(rows, dtype=torch.bool, device=device)
    if positive_mask.shape != (rows, cols):
        raise ParameterError(f"positive_mask has shape {tuple(positive_mask.shape)}: expected ({rows}, {cols})")
    return positive_mask.bool().to(device)


@torch.no_grad()
def sample_hard_negatives(
    similarity: Tensor,
    *,
    positive_mask: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """One negative per anchor, drawn in proportion to ``softmax`` of the anchor's similarities.

    The weights are ``softmax(similarity[i])`` with the positives zeroed and renormalised, i.e.
    a softmax over the non-positives only, so a positive is never drawn (ALBEF). No gradient
    flows through the sampling.

    Args:
        similarity: (anchors, candidates) similarity logits (e.g. cosine / temperature).
        positive_mask: (anchors, candidates) bool, True for the anchor's positives; None means
            the diagonal (requires a square matrix).
        generator: torch random generator (on the similarity's device).

    Returns:
        (anchors,) long indices of the sampled candidates.

    Raises:
        ParameterError: if some anchor has no negative candidate at all.
    """
    if similarity.ndim != 2 or not similarity.is_floating_point():
        raise ParameterError(
            f"similarity has shape {tuple(similarity.shape)} and dtype {similarity.dtype}: "
            "expected floating point (anchors, candidates)"
        )
    positives = _positive_mask(positive_mask, *similarity.shape, similarity.device)
    no_negative = positives.all(dim=1)
    if bool(no_negative.any()):
        rows = no_negative.nonzero().flatten().tolist()
        raise ParameterError(
            f"anchor(s) {rows} have no negative in the batch (every candidate is a positive): "
            "use a larger batch or fewer duplicates"
        )
    weights = torch.softmax(similarity.float().masked_fill(positives, float("-inf")), dim=1)
    return torch.multinomial(weights, 1, generator=generator).squeeze(1)


def random_negatives(
    batch_size: int,
    *,
    positive_mask: Tensor | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """One negative per anchor, drawn uniformly among the non-positives (the diagonal by default).

    The same sampler as :func:`sample_hard_negatives` with equal similarities.
    """
    batch_size = check_positive_int("batch_size", batch_size, minimum=2, what="a negative needs another item")
    if positive_mask is not None:
        device = positive_mask.device
    similarity = torch.zeros(batch_size, batch_size, device=device)
    return sample_hard_negatives(similarity, positive_mask=positive_mask, generator=generator)


def random_matching_pairs(
    batch_size: int,
    *,
    negative_prob: float = 0.5,
    positive_mask: Tensor | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> tuple[Tensor, Tensor]:
    """ViLT's ITM pairs: keep each item's partner, or with ``negative_prob`` swap in a random negative.

    Returns:
        ``(partner, labels)``: (batch,) long index of the partner to pair anchor i with, and
        (batch,) long labels, 1 where the partner is a positive, 0 where it was swapped.
    """
    negative_prob = check_unit_interval("negative_prob", negative_prob)
    negatives = random_negatives(batch_size, positive_mask=positive_mask, generator=generator, device=device)
    swap = torch.rand(batch_size, device=negatives.device, generator=generator) < negative_prob
    partner = torch.where(swap, negatives, torch.arange(batch_size, device=negatives.device))
    return partner, (~swap).long()
