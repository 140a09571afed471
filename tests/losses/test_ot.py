"""IPOT optimal transport and word-patch alignment (polysense.losses.ot).

References: the exact OT cost between two uniform sets of equal size is the optimal assignment's
mean cost (Birkhoff), computed with scipy's ``linear_sum_assignment``; IPOT converges to it
(Xie et al. 2018).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from polysense.errors import ParameterError
from polysense.losses.ot import (
    WordPatchAlignmentLoss,
    cosine_cost,
    ipot,
    ot_distance,
    word_patch_alignment_loss,
)


def _features(*shape: int, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def test_cosine_cost_matches_formula_and_zeroes_padding():
    x, y = _features(2, 3, 4), _features(2, 5, 4, seed=1)
    y_mask = torch.tensor([[True] * 5, [True, True, False, False, False]])
    cost = cosine_cost(x, y, y_mask=y_mask)
    for b in range(2):
        for i in range(3):
            for j in range(5):
                expected = 1 - F.cosine_similarity(x[b, i], y[b, j], dim=0) if y_mask[b, j] else 0.0
                assert float(cost[b, i, j]) == pytest.approx(float(expected), abs=1e-12)


def test_ipot_plan_has_uniform_marginals_with_padding():
    x, y = _features(3, 6, 8), _features(3, 7, 8, seed=1)
    x_mask = torch.ones(3, 6, dtype=torch.bool)
    x_mask[0, 4:] = False
    y_mask = torch.ones(3, 7, dtype=torch.bool)
    y_mask[1, 3:] = False
    plan = ot_distance(x, y, x_mask=x_mask, y_mask=y_mask).plan
    n_real, m_real = x_mask.sum(1, keepdim=True).double(), y_mask.sum(1, keepdim=True).double()
    # columns are scaled last, so they are exact; rows converge (50 steps: within 1 % of 1/n)
    torch.testing.assert_close(plan.sum(1), y_mask / m_real, atol=1e-10, rtol=0)
    torch.testing.assert_close(plan.sum(2), x_mask / n_real, atol=0.01 / 6, rtol=0)
    assert plan.sum((1, 2)).sub(1).abs().max() < 1e-9
    assert plan[0, 4:].abs().max() == 0 and plan[1, :, 3:].abs().max() == 0
    assert (plan >= 0).all()


@pytest.mark.parametrize("iterations, tolerance", [(50, 2e-3), (1000, 1e-6)])
def test_ipot_distance_converges_to_exact_optimal_transport(iterations, tolerance):
    x, y = _features(4, 6, 8), _features(4, 6, 8, seed=1)
    out = ot_distance(x, y, iterations=iterations)
    for b in range(4):
        cost = out.cost[b].numpy()
        rows, cols = linear_sum_assignment(cost)
        exact = cost[rows, cols].mean()
        assert float(out.distance[b]) == pytest.approx(exact, abs=tolerance)


def test_ot_distance_lower_for_aligned_than_shuffled_features():
    x = _features(8, 6, 16)
    permutation = torch.randperm(6, generator=torch.Generator().manual_seed(3))
    aligned = x[:, permutation] + 0.05 * _features(8, 6, 16, seed=2)  # same set, other order, noisy
    shuffled = aligned.roll(1, dims=0)  # another item's tokens
    d_aligned = ot_distance(x, aligned).distance
    d_shuffled = ot_distance(x, shuffled).distance
    assert (d_aligned < 0.01).all()
    assert (d_aligned < d_shuffled).all()


def test_distance_ignores_padding_values_and_count():
    x, y = _features(2, 4, 8), _features(2, 5, 8, seed=1)
    base = ot_distance(x, y).distance
    y_padded = torch.cat([y, 100 * _features(2, 3, 8, seed=5)], dim=1)
    y_mask = torch.cat([torch.ones(2, 5, dtype=torch.bool), torch.zeros(2, 3, dtype=torch.bool)], dim=1)
    torch.testing.assert_close(ot_distance(x, y_padded, y_mask=y_mask).distance, base, atol=1e-12, rtol=0)


def test_gradient_flows_through_cost_not_plan():
    x = _features(2, 4, 8).requires_grad_(True)
    y = _features(2, 5, 8, seed=1).requires_grad_(True)
    out = ot_distance(x, y)
    assert not out.plan.requires_grad
    out.distance.sum().backward()
    assert x.grad.abs().sum() > 0 and y.grad.abs().sum() > 0
    # d<C, T>/dC = T with the plan held fixed (the envelope theorem for the OT value)
    cost = cosine_cost(x.detach().requires_grad_(True), y.detach())
    assert torch.allclose((cost * out.plan).sum((1, 2)), out.distance.detach())


def test_ipot_works_in_float32():
    x, y = _features(2, 5, 8, dtype=torch.float32), _features(2, 5, 8, seed=1, dtype=torch.float32)
    out = ot_distance(x, y)
    assert out.distance.dtype == torch.float32 and torch.isfinite(out.plan).all()


def test_word_patch_alignment_loss_formula():
    text, patches = _features(4, 3, 8), _features(4, 5, 8, seed=1)
    matched = torch.tensor([True, False, True, False])
    out = word_patch_alignment_loss(text, patches, matched=matched)
    d = ot_distance(text, patches).distance
    expected = (d[matched].sum() - d[~matched].sum()) / 4
    assert float(out.loss) == pytest.approx(float(expected), abs=1e-12)
    module = WordPatchAlignmentLoss(iterations=50)
    assert float(module(text, patches, matched=matched.long()).loss) == pytest.approx(float(expected), abs=1e-12)


def test_errors_name_the_problem():
    x, y = _features(2, 3, 4), _features(2, 5, 4)
    with pytest.raises(ParameterError, match="y_mask marks no real token in batch row"):
        ot_distance(x, y, y_mask=torch.tensor([[True] * 5, [False] * 5]))
    with pytest.raises(ParameterError, match="same batch and dim"):
        ot_distance(x, _features(2, 5, 6))
    with pytest.raises(ParameterError, match="x_mask has shape"):
        ot_distance(x, y, x_mask=torch.ones(2, 4, dtype=torch.bool))
    with pytest.raises(ParameterError, match="beta"):
        ipot(torch.zeros(1, 2, 2), beta=0)
    with pytest.raises(ParameterError, match="iterations"):
        ipot(torch.zeros(1, 2, 2), iterations=0)
    with pytest.raises(ParameterError, match="matched has shape"):
        word_patch_alignment_loss(x, y, matched=torch.ones(3, dtype=torch.bool))
