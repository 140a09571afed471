"""InfoNCE / CLIP loss against its formula computed directly in float64, soft targets, extra
negatives, and the clamped learnable temperature."""

from __future__ import annotations

import math

import pytest
import torch

from polysense.errors import ParameterError
from polysense.losses import (
    DEFAULT_LOGIT_SCALE,
    MAX_LOGIT_SCALE,
    ClipLoss,
    ContrastiveOutput,
    LogitScale,
    clip_loss,
    cosine_similarity,
    info_nce,
)

# Reference: the formulas written out element by element in float64 Python; tolerance 1e-12.
TOL = dict(rtol=1e-12, atol=1e-12)


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=1, keepdim=True)


def _cross_entropy_by_hand(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """-(1/N) sum_i sum_j t_ij log softmax(z_i)_j, targets given as distributions."""
    total = 0.0
    for i in range(logits.shape[0]):
        row = [float(z) for z in logits[i]]
        log_norm = math.log(sum(math.exp(z) for z in row))
        total -= sum(float(t) * (z - log_norm) for z, t in zip(row, targets[i]))
    return total / logits.shape[0]


@pytest.fixture
def pair(rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    return (torch.randn(5, 7, generator=rng, dtype=torch.float64),
            torch.randn(5, 7, generator=rng, dtype=torch.float64))


def test_clip_loss_equals_formula_float64(pair):
    a, b = pair
    scale = 1 / 0.07
    out = clip_loss(a, b, logit_scale=scale)
    assert isinstance(out, ContrastiveOutput) and out.loss.dtype == torch.float64
    logits = scale * _unit(a) @ _unit(b).T
    eye = torch.eye(5, dtype=torch.float64)
    expected_a = _cross_entropy_by_hand(logits, eye)
    expected_b = _cross_entropy_by_hand(logits.T, eye)
    torch.testing.assert_close(out.loss_a, torch.tensor(expected_a, dtype=torch.float64), **TOL)
    torch.testing.assert_close(out.loss_b, torch.tensor(expected_b, dtype=torch.float64), **TOL)
    torch.testing.assert_close(out.loss, torch.tensor((expected_a + expected_b) / 2, dtype=torch.float64), **TOL)
    torch.testing.assert_close(out.logits_a, logits, **TOL)
    torch.testing.assert_close(out.logits_b, logits.T, **TOL)


def test_loss_is_invariant_to_embedding_norm_and_symmetric(pair):
    a, b = pair
    base = clip_loss(a, b).loss
    torch.testing.assert_close(clip_loss(3 * a, 0.5 * b).loss, base, **TOL)
    torch.testing.assert_close(clip_loss(b, a).loss, base, **TOL)


def test_perfectly_aligned_pairs_give_small_loss_and_random_pairs_large():
    a = torch.eye(6, dtype=torch.float64)
    assert clip_loss(a, a, logit_scale=100.0).loss < 1e-30
    # all similarities equal -> loss = log N exactly
    same = torch.ones(6, 3, dtype=torch.float64)
    torch.testing.assert_close(clip_loss(same, same).loss, torch.tensor(math.log(6), dtype=torch.float64))


def test_soft_targets_and_extra_negatives_equal_formula(pair, rng):
    a, b = pair
    queue = torch.randn(3, 7, generator=rng, dtype=torch.float64)
    soft = torch.softmax(torch.randn(5, 8, generator=rng, dtype=torch.float64), dim=1)
    out = clip_loss(a, b, logit_scale=10.0, targets_a=soft, extra_b=queue)
    logits_a = 10.0 * _unit(a) @ _unit(torch.cat([b, queue])).T
    assert out.logits_a.shape == (5, 8) and out.logits_b.shape == (5, 5)
    torch.testing.assert_close(out.logits_a, logits_a, **TOL)
    expected_a = _cross_entropy_by_hand(logits_a, soft)
    expected_b = _cross_entropy_by_hand(10.0 * _unit(b) @ _unit(a).T, torch.eye(5, dtype=torch.float64))
    torch.testing.assert_close(out.loss_a, torch.tensor(expected_a, dtype=torch.float64), **TOL)
    torch.testing.assert_close(out.loss_b, torch.tensor(expected_b, dtype=torch.float64), **TOL)


def test_one_hot_soft_targets_equal_hard_targets(pair):
    a, b = pair
    hard = info_nce(a, b, logit_scale=5.0)
    soft = info_nce(a, b, logit_scale=5.0, targets=torch.eye(5, dtype=torch.float64))
    torch.testing.assert_close(hard.loss, soft.loss, **TOL)
    assert hard.targets.tolist() == [0, 1, 2, 3, 4]


def test_info_nce_label_offset_and_sum_reduction(rng):
    keys = torch.randn(6, 4, generator=rng, dtype=torch.float64)
    queries = keys[2:5] + 0.01 * torch.randn(3, 4, generator=rng, dtype=torch.float64)
    out = info_nce(queries, keys, logit_scale=3.0, label_offset=2, reduction="sum")
    assert out.targets.tolist() == [2, 3, 4]
    logits = 3.0 * _unit(queries) @ _unit(keys).T
    onehot = torch.zeros(3, 6, dtype=torch.float64)
    onehot[range(3), [2, 3, 4]] = 1
    torch.testing.assert_close(out.loss, torch.tensor(3 * _cross_entropy_by_hand(logits, onehot), dtype=torch.float64), **TOL)


def test_cosine_similarity_matches_torch(pair):
    a, b = pair
    expected = torch.nn.functional.cosine_similarity(a[:, None], b[None], dim=-1)
    torch.testing.assert_close(cosine_similarity(a, b), expected)


def test_logit_scale_initialised_to_one_over_0_07_and_stored_as_log():
    scale = LogitScale()
    torch.testing.assert_close(scale.log_scale.detach(), torch.tensor(math.log(1 / 0.07)))
    torch.testing.assert_close(scale().detach(), torch.tensor(DEFAULT_LOGIT_SCALE))
    assert isinstance(scale.log_scale, torch.nn.Parameter)
    assert not isinstance(LogitScale(learnable=False).log_scale, torch.nn.Parameter)


def test_logit_scale_is_clamped_at_100_and_has_no_gradient_there():
    scale = LogitScale()
    with torch.no_grad():
        scale.log_scale.fill_(math.log(1000.0))
    value = scale()
    torch.testing.assert_close(value.detach(), torch.tensor(MAX_LOGIT_SCALE))
    value.backward()
    assert scale.log_scale.grad == 0


def test_training_cannot_push_the_scale_past_100(rng):
    # Separable but similar pairs (cosine 1 on the pairs, 20/21 off them): the loss keeps
    # asking for a larger scale, far beyond 100.
    loss_fn = ClipLoss().double()
    opt = torch.optim.Adam(loss_fn.parameters(), lr=0.1)
    a = torch.eye(4, dtype=torch.float64) + 2.0
    seen = []
    for _ in range(40):  # Adam moves log_scale ~0.1 a step: ln 100 - ln(1/0.07) = 1.95
        out = loss_fn(a, a)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        seen.append(float(out.logit_scale.detach()))
    assert max(seen) <= MAX_LOGIT_SCALE + 1e-4
    assert seen[-1] == pytest.approx(MAX_LOGIT_SCALE, rel=1e-5)


def test_clip_loss_module_gradient_reaches_scale_and_embeddings(pair):
    a, b = (x.clone().requires_grad_() for x in pair)
    module = ClipLoss().double()
    module(a, b).loss.backward()
    assert module.logit_scale.log_scale.grad is not None and module.logit_scale.log_scale.grad != 0
    assert a.grad.abs().sum() > 0 and b.grad.abs().sum() > 0


def test_gradcheck_float64(pair):
    a, b = (x[:3, :4].clone().requires_grad_() for x in pair)
    scale = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, y, s: clip_loss(x, y, logit_scale=s).loss, (a, b, scale))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: clip_loss(torch.randn(3, 4), torch.randn(2, 4)), "paired row by row"),
        (lambda: clip_loss(torch.randn(3, 4), torch.randn(3, 5)), "dim 5"),
        (lambda: clip_loss(torch.randn(3), torch.randn(3)), r"\(batch, dim\)"),
        (lambda: clip_loss(torch.zeros(0, 4), torch.zeros(0, 4)), "0 rows"),
        (lambda: clip_loss(torch.randn(3, 4), torch.randn(3, 4), logit_scale=-1.0), "logit_scale"),
        (lambda: clip_loss(torch.randn(3, 4), torch.randn(3, 4), targets_a=torch.rand(3, 5)), "soft targets"),
        (lambda: info_nce(torch.randn(3, 4), torch.randn(3, 4), logit_scale=1.0, targets=torch.tensor([0, 1, 3])),
         "column indices"),
        (lambda: info_nce(torch.randn(3, 4), torch.randn(3, 4), logit_scale=1.0, label_offset=1), "label_offset"),
        (lambda: info_nce(torch.randn(3, 4), torch.randn(3, 4), logit_scale=1.0, reduction="max"), "reduction"),
        (lambda: LogitScale(200.0), "max_scale"),
    ],
)
def test_bad_inputs_raise_parameter_error(call, match):
    with pytest.raises(ParameterError, match=match):
        call()


def test_positive_mask_gives_uniform_targets_over_duplicates_by_hand():
    """Items 0 and 2 share a caption: each row's target is uniform over its positives, so the
    loss is ``-mean_i mean_{j in P(i)} log softmax(s a_i . b_j)`` (float64 formula below)."""
    g = torch.Generator().manual_seed(0)
    a = torch.nn.functional.normalize(torch.randn(4, 5, generator=g, dtype=torch.float64), dim=-1)
    b = torch.nn.functional.normalize(torch.randn(4, 5, generator=g, dtype=torch.float64), dim=-1)
    mask = torch.eye(4, dtype=torch.bool)
    mask[0, 2] = mask[2, 0] = True
    out = clip_loss(a, b, logit_scale=10.0, positive_mask=mask)

    def direction(q, k):
        logp = (10.0 * q @ k.T).log_softmax(dim=1)
        return torch.stack([-(logp[i][mask[i]]).mean() for i in range(4)]).mean()

    torch.testing.assert_close(out.loss, (direction(a, b) + direction(b, a)) / 2, rtol=1e-12, atol=1e-12)
    # without duplicates the mask changes nothing
    plain = clip_loss(a, b, logit_scale=10.0)
    torch.testing.assert_close(clip_loss(a, b, logit_scale=10.0, positive_mask=torch.eye(4, dtype=torch.bool)).loss, plain.loss)
    with pytest.raises(ParameterError, match="not both"):
        clip_loss(a, b, positive_mask=mask, targets_a=torch.arange(4))
    with pytest.raises(ParameterError, match="bool"):
        clip_loss(a, b, positive_mask=mask.float())
