"""VSE++'s max-violation hinge loss against a brute-force Python loop (float64, tolerance 1e-12)."""

from __future__ import annotations

import math

import pytest
import torch

from polysense.errors import ParameterError
from polysense.losses import DEFAULT_MARGIN, RankingOutput, VSEPPLoss, vsepp_loss

TOL = dict(rtol=1e-12, atol=1e-12)


def _cos(u: torch.Tensor, v: torch.Tensor) -> float:
    dot = sum(float(x) * float(y) for x, y in zip(u, v))
    return dot / math.sqrt(sum(float(x) ** 2 for x in u) * sum(float(y) ** 2 for y in v))


def _brute_force(a: torch.Tensor, b: torch.Tensor, margin: float, max_violation: bool) -> tuple[float, float]:
    """Each a_i against every b_j (j != i), and each b_i against every a_j, one pair at a time."""
    n = a.shape[0]
    rows = cols = 0.0
    for i in range(n):
        positive = _cos(a[i], b[i])
        row_costs = [max(0.0, margin + _cos(a[i], b[j]) - positive) for j in range(n) if j != i]
        col_costs = [max(0.0, margin + _cos(a[j], b[i]) - positive) for j in range(n) if j != i]
        rows += max(row_costs, default=0.0) if max_violation else sum(row_costs)
        cols += max(col_costs, default=0.0) if max_violation else sum(col_costs)
    return rows, cols


@pytest.mark.parametrize("n, dim, max_violation", [(6, 5, True), (9, 3, True), (6, 5, False), (1, 4, True)])
def test_vsepp_equals_brute_force_loop(rng, n, dim, max_violation):
    a = torch.randn(n, dim, generator=rng, dtype=torch.float64)
    b = a + 0.8 * torch.randn(n, dim, generator=rng, dtype=torch.float64)  # some hinges active, some not
    out = vsepp_loss(a, b, max_violation=max_violation)
    rows, cols = _brute_force(a, b, DEFAULT_MARGIN, max_violation)
    assert isinstance(out, RankingOutput)
    torch.testing.assert_close(out.loss_a, torch.tensor(rows, dtype=torch.float64), **TOL)
    torch.testing.assert_close(out.loss_b, torch.tensor(cols, dtype=torch.float64), **TOL)
    torch.testing.assert_close(out.loss, torch.tensor(rows + cols, dtype=torch.float64), **TOL)


def test_margin_is_0_2_and_hinges_are_active_in_the_test_data(rng):
    assert DEFAULT_MARGIN == 0.2
    a = torch.randn(8, 4, generator=rng, dtype=torch.float64)
    b = a + 0.8 * torch.randn(8, 4, generator=rng, dtype=torch.float64)
    assert vsepp_loss(a, b).loss > 0
    torch.testing.assert_close(
        vsepp_loss(a, b, margin=0.5).loss, torch.tensor(sum(_brute_force(a, b, 0.5, True)), dtype=torch.float64), **TOL
    )


def test_hardest_negative_indices(rng):
    a = torch.randn(7, 4, generator=rng, dtype=torch.float64)
    b = torch.randn(7, 4, generator=rng, dtype=torch.float64)
    out = vsepp_loss(a, b)
    for i in range(7):
        row = [_cos(a[i], b[j]) if j != i else -math.inf for j in range(7)]
        col = [_cos(a[j], b[i]) if j != i else -math.inf for j in range(7)]
        assert out.hardest_b[i] == max(range(7), key=row.__getitem__)
        assert out.hardest_a[i] == max(range(7), key=col.__getitem__)
    torch.testing.assert_close(out.similarity_b, out.similarity_a.T)


def test_pairs_separated_by_more_than_the_margin_give_zero_loss():
    a = torch.eye(4, dtype=torch.float64)  # positives at cosine 1, negatives at 0
    assert vsepp_loss(a, a).loss == 0
    assert vsepp_loss(a, a, margin=1.0).loss == 0  # exactly at the margin: hinge inactive
    assert vsepp_loss(a, a, margin=1.5).loss == pytest.approx(2 * 4 * 0.5)


def test_mean_reduction_and_module(rng):
    a = torch.randn(5, 3, generator=rng, dtype=torch.float64)
    b = torch.randn(5, 3, generator=rng, dtype=torch.float64)
    total = vsepp_loss(a, b).loss
    torch.testing.assert_close(vsepp_loss(a, b, reduction="mean").loss, total / 5, **TOL)
    module = VSEPPLoss()
    assert list(module.parameters()) == []
    torch.testing.assert_close(module(a, b).loss, total, **TOL)
    assert "margin=0.2" in repr(module)


def test_gradcheck_float64(rng):
    a = torch.randn(4, 3, generator=rng, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, 3, generator=rng, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, y: vsepp_loss(x, y).loss, (a, b))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(margin=-0.1), "margin"),
        (dict(reduction="max"), "reduction"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        vsepp_loss(torch.randn(3, 4), torch.randn(3, 4), **kwargs)
    with pytest.raises(ParameterError, match=match):
        VSEPPLoss(**kwargs)


def test_unpaired_inputs_raise():
    with pytest.raises(ParameterError, match="paired row by row"):
        vsepp_loss(torch.randn(3, 4), torch.randn(4, 4))


def test_positive_mask_keeps_duplicates_out_of_the_negatives():
    """Items 0 and 1 share a caption and b_1 is the hardest 'negative' of a_0: with the mask the
    hinge of a_0 uses the next hardest, by hand."""
    a = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    b = torch.tensor([[0.8, 0.6], [1.0, 0.0], [0.0, 1.0]])
    mask = torch.tensor([[True, True, False], [True, True, False], [False, False, True]])
    out = vsepp_loss(a, b, margin=0.2, positive_mask=mask)
    sim = a @ torch.nn.functional.normalize(b, dim=-1).T
    # row 0: positive 0.8, negatives {col 2: 0.0} -> max(0, 0.2 + 0.0 - 0.8) = 0
    # row 1: positive 1.0, negatives {col 2: 0.0} -> 0; row 2: positive 1, negatives 0.6, 0 -> 0
    # cols: b_0 (pos 0.8) vs a_2 (0.6): 0.2 + 0.6 - 0.8 = 0.0; b_1: vs a_2 (0): 0; b_2: vs a_0/a_1 (0): 0
    assert float(out.loss) == pytest.approx(0.0, abs=1e-6)
    unmasked = vsepp_loss(a, b, margin=0.2)
    # without the mask a_0's hardest negative is b_1 (1.0): 0.2 + 1.0 - 0.8 = 0.4
    assert float(unmasked.loss_a) == pytest.approx(0.4 + max(0.0, 0.2 + float(sim[1, 0]) - 1.0), abs=1e-6)
