"""Momentum encoders and the feature queue (polysense.models.momentum), against their formulas
(MoCo / ALBEF: theta_m <- m theta_m + (1 - m) theta; a FIFO of the last K features)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from polysense.errors import ParameterError
from polysense.models.momentum import FeatureQueue, alpha_ramp, ema_update, momentum_copy


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Linear(6, 3))


def test_queue_holds_last_k_features_in_order_with_wrap_around():
    queue = FeatureQueue(size=5, dim=2)
    assert len(queue) == 0 and queue.features().shape == (0, 2)
    seen = []
    for start in range(0, 14, 2):  # batches of 2: rows 0,1 then 2,3, ... 12,13
        batch = torch.tensor([[start, -start], [start + 1, -start - 1]], dtype=torch.float32)
        queue.enqueue(batch)
        seen.extend(batch)
        expected = torch.stack(seen[-5:])
        assert torch.equal(queue.features(), expected), f"after {len(seen)} rows"
        assert len(queue) == min(len(seen), 5)


def test_queue_batch_larger_than_capacity_keeps_the_newest():
    queue = FeatureQueue(size=3, dim=1)
    queue.enqueue(torch.arange(1.0, 3.0)[:, None])
    queue.enqueue(torch.arange(10.0, 17.0)[:, None])
    assert queue.features().flatten().tolist() == [14.0, 15.0, 16.0]
    queue.enqueue(torch.tensor([[20.0]]))
    assert queue.features().flatten().tolist() == [15.0, 16.0, 20.0]


def test_queue_is_state_and_detached():
    queue = FeatureQueue(size=4, dim=3)
    features = torch.randn(2, 3, requires_grad=True)
    queue.enqueue(features)
    assert not queue.features().requires_grad
    state = queue.state_dict()
    assert set(state) == {"queue", "pointer", "count"}
    other = FeatureQueue(size=4, dim=3)
    other.load_state_dict(state)
    assert torch.equal(other.features(), features.detach())
    other.clear()
    assert len(other) == 0
    assert list(queue.parameters()) == []


def test_ema_update_matches_formula_and_copies_buffers():
    online = _net()
    twin = momentum_copy(online)
    with torch.no_grad():
        for p in online.parameters():
            p.add_(torch.randn_like(p))
    online.train()
    online(torch.randn(8, 4))  # changes the batch-norm running statistics
    before = {k: v.clone() for k, v in twin.named_parameters()}
    ema_update(twin, online, momentum=0.995)
    for name, p in online.named_parameters():
        expected = 0.995 * before[name] + 0.005 * p.detach()
        # float32: lerp rounds differently from the two-term sum, within a few ulps
        torch.testing.assert_close(dict(twin.named_parameters())[name], expected, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(twin[1].running_mean, online[1].running_mean)
    ema_update(twin, online, momentum=0.0)  # m = 0: a plain copy
    for p, q in zip(twin.parameters(), online.parameters()):
        assert torch.equal(p, q)


def test_momentum_params_get_no_gradient():
    online = _net()
    twin = momentum_copy(online)
    assert all(not p.requires_grad for p in twin.parameters())
    x = torch.randn(8, 4)
    (online(x).sum() + twin(x).sum()).backward()
    assert all(p.grad is None for p in twin.parameters())
    assert all(p.grad is not None for p in online.parameters())
    ema_update(twin, online)
    assert all(not p.requires_grad for p in twin.parameters())


def test_ema_update_rejects_mismatched_modules_and_momentum():
    with pytest.raises(ParameterError, match="differ in their parameters"):
        ema_update(nn.Linear(2, 3), nn.Linear(3, 3))
    with pytest.raises(ParameterError, match="momentum"):
        ema_update(nn.Linear(2, 3), nn.Linear(2, 3), momentum=1.5)


def test_alpha_ramp():
    assert alpha_ramp(0, final=0.4, warmup_steps=100) == 0.0
    assert alpha_ramp(25, final=0.4, warmup_steps=100) == pytest.approx(0.1)
    assert alpha_ramp(100, final=0.4, warmup_steps=100) == pytest.approx(0.4)
    assert alpha_ramp(10_000, final=0.4, warmup_steps=100) == pytest.approx(0.4)
    values = [alpha_ramp(s, final=0.4, warmup_steps=10) for s in range(12)]
    assert values == sorted(values)
    with pytest.raises(ParameterError, match="warmup_steps"):
        alpha_ramp(1, final=0.4, warmup_steps=0)
    with pytest.raises(ParameterError, match="final"):
        alpha_ramp(1, final=1.4, warmup_steps=10)


def test_queue_errors():
    with pytest.raises(ParameterError, match="size"):
        FeatureQueue(size=0, dim=2)
    with pytest.raises(ParameterError, match=r"expected \(batch, 2\)"):
        FeatureQueue(size=3, dim=2).enqueue(torch.zeros(2, 3))
