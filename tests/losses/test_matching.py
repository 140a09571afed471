"""Image-text matching (polysense.losses.matching): the loss against its formula, and the
negative samplers: never a positive (diagonal or duplicates), frequencies following the
softmax of the similarities with the positives zeroed (ALBEF), uniform random negatives (ViLT).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from polysense.errors import ParameterError
from polysense.losses.matching import (
    ImageTextMatchingLoss,
    duplicate_mask,
    itm_loss,
    random_matching_pairs,
    random_negatives,
    sample_hard_negatives,
)


def test_itm_loss_equals_cross_entropy_formula():
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.7], [-3.0, 1.0]], dtype=torch.float64)
    labels = torch.tensor([0, 0, 1])
    out = itm_loss(logits, labels)
    expected = -sum(logits[i].log_softmax(0)[labels[i]] for i in range(3)) / 3
    assert float(out.loss) == pytest.approx(float(expected), abs=1e-12)
    assert float(out.accuracy) == pytest.approx(2 / 3)
    module = ImageTextMatchingLoss(6)
    fused = torch.randn(3, 6)
    assert module(fused, labels).loss.item() == pytest.approx(F.cross_entropy(module.head(fused), labels).item())


def test_hard_negative_sampler_never_returns_the_positive():
    # the positive is by far the most similar: a plain softmax would pick it almost always
    similarity = torch.randn(6, 6, generator=torch.Generator().manual_seed(0)) + 50 * torch.eye(6)
    gen = torch.Generator().manual_seed(1)
    for _ in range(20):
        negatives = sample_hard_negatives(similarity, generator=gen)
        assert (negatives != torch.arange(6)).all()
    # 60 000 draws at once: 10 000 copies of the batch, each copy's diagonal the positives
    reps = 10_000
    negatives = sample_hard_negatives(
        similarity.repeat(reps, 1), positive_mask=torch.eye(6, dtype=torch.bool).repeat(reps, 1), generator=gen
    )
    assert (negatives != torch.arange(6).repeat(reps)).all()


def test_hard_negative_sampler_never_returns_a_duplicate_caption():
    captions = torch.tensor([[5, 6, 7], [8, 9, 0], [5, 6, 7], [1, 2, 3], [8, 9, 0], [4, 4, 4]])
    images = torch.randn(6, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    positives = duplicate_mask(captions) | duplicate_mask(images)
    similarity = torch.randn(6, 6, generator=torch.Generator().manual_seed(2)) + 20 * positives.float()
    gen = torch.Generator().manual_seed(3)
    negatives = sample_hard_negatives(similarity, positive_mask=positives, generator=gen)
    assert not positives[torch.arange(6), negatives].any()
    assert not torch.equal(captions[negatives[0]], captions[0])
    reps = 10_000
    negatives = sample_hard_negatives(
        similarity.repeat(reps, 1), positive_mask=positives.repeat(reps, 1), generator=gen
    ).view(reps, 6)
    assert not positives[torch.arange(6), negatives].any()
    assert not (captions[negatives] == captions[None]).all(-1).any()


def test_hard_negative_frequencies_follow_softmax_with_positives_zeroed():
    base = torch.tensor([[0.0, 1.0, 2.0, 0.5], [1.0, 0.0, -1.0, 3.0], [0.2, 0.1, 9.0, 0.3], [2.0, 2.0, 0.0, 1.0]])
    reps = 20_000
    similarity = base.repeat(reps, 1)
    positives = torch.eye(4, dtype=torch.bool).repeat(reps, 1)
    negatives = sample_hard_negatives(similarity, positive_mask=positives, generator=torch.Generator().manual_seed(0))
    counts = torch.zeros(4, 4)
    counts.index_put_((torch.arange(4).repeat(reps), negatives), torch.ones(4 * reps), accumulate=True)
    weights = base.softmax(1) * (1 - torch.eye(4))  # ALBEF: softmax, diagonal zeroed, renormalised
    expected = weights / weights.sum(1, keepdim=True)
    # 20 000 draws per row: the standard error of a frequency is at most 0.0036
    torch.testing.assert_close(counts / reps, expected, atol=0.015, rtol=0)
    assert counts.diagonal().sum() == 0


def test_random_negatives_are_uniform_over_non_positives():
    reps = 1000
    gen = torch.Generator().manual_seed(0)
    draws = torch.stack([random_negatives(5, generator=gen) for _ in range(reps)])
    assert (draws != torch.arange(5)).all()
    counts = torch.stack([(draws == j).float().mean(0) for j in range(5)], dim=1)  # (anchor, candidate)
    expected = (1 - torch.eye(5)) / 4
    # 1000 draws per anchor: standard error 0.014
    torch.testing.assert_close(counts, expected, atol=0.05, rtol=0)


def test_random_matching_pairs_swap_half_with_negatives():
    captions = torch.tensor([[1], [2], [1], [3], [4], [5], [6], [7]])
    positives = duplicate_mask(captions)
    gen = torch.Generator().manual_seed(0)
    swapped = 0
    for _ in range(400):
        partner, labels = random_matching_pairs(8, positive_mask=positives, generator=gen)
        is_positive = positives[torch.arange(8), partner]
        assert torch.equal(labels.bool(), is_positive)
        assert torch.equal(partner[labels == 1], torch.arange(8)[labels == 1])
        swapped += int((labels == 0).sum())
    assert swapped / (400 * 8) == pytest.approx(0.5, abs=0.03)


def test_duplicate_mask():
    a = torch.tensor([[1, 2], [3, 4], [1, 2]])
    b = torch.tensor([[0.0], [0.0], [1.0]])
    expected = torch.tensor([[1, 0, 1], [0, 1, 0], [1, 0, 1]], dtype=torch.bool)
    assert torch.equal(duplicate_mask(a), expected)
    assert torch.equal(duplicate_mask(a, b), torch.eye(3, dtype=torch.bool))


def test_errors():
    with pytest.raises(ParameterError, match=r"anchor\(s\) \[1\] have no negative"):
        positives = torch.tensor([[True, False], [True, True]])
        sample_hard_negatives(torch.zeros(2, 2), positive_mask=positives)
    with pytest.raises(ParameterError, match="no diagonal"):
        sample_hard_negatives(torch.zeros(2, 3))
    with pytest.raises(ParameterError, match="batch_size"):
        random_negatives(1)
    with pytest.raises(ParameterError, match="logits"):
        itm_loss(torch.zeros(3, 3), torch.zeros(3))
    with pytest.raises(ParameterError, match="negative_prob"):
        random_matching_pairs(4, negative_prob=2.0)
