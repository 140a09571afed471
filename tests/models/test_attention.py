"""Cross-attention and co-attention blocks (polysense.models.attention): each stream's output
depends on the other stream, gradients reach both, padding of the other stream is ignored."""

from __future__ import annotations

import pytest
import torch

from polysense.errors import ParameterError
from polysense.models.attention import CoAttentionBlock, CoAttentionEncoder, CrossAttentionBlock


def _streams(batch=2, sa=5, sb=7, da=16, db=24, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, sa, da, generator=gen), torch.randn(batch, sb, db, generator=gen)


@pytest.mark.parametrize("module_cls", [CoAttentionBlock, CoAttentionEncoder])
def test_co_attention_output_changes_when_the_other_stream_changes(module_cls):
    torch.manual_seed(0)
    module = module_cls(16, 24, 1, 4) if module_cls is CoAttentionEncoder else module_cls(16, 24, 4)
    a, b = _streams()
    out_a, out_b = module(a, b)
    assert out_a.shape == a.shape and out_b.shape == b.shape
    b2 = b + torch.randn_like(b)
    out_a2, out_b2 = module(a, b2)
    assert (out_a2 - out_a).abs().max() > 1e-3  # a's queries read b's keys/values
    a2 = a + torch.randn_like(a)
    out_a3, out_b3 = module(a2, b)
    assert (out_b3 - out_b).abs().max() > 1e-3


def test_co_attention_gradients_reach_both_streams_and_every_parameter():
    torch.manual_seed(0)
    module = CoAttentionEncoder(16, 24, 2, 4)
    a, b = _streams()
    a.requires_grad_(True)
    b.requires_grad_(True)
    out_a, _ = module(a, b)
    grad_b = torch.autograd.grad(out_a.square().sum(), b, retain_graph=True)[0]
    assert grad_b.abs().sum() > 0  # a loss on stream a alone trains stream b's input
    out_a, out_b = module(a, b)
    (out_a.square().sum() + out_b.square().sum()).backward()
    assert a.grad.abs().sum() > 0 and b.grad.abs().sum() > 0
    for name, p in module.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_co_attention_ignores_padding_of_the_other_stream():
    torch.manual_seed(0)
    module = CoAttentionBlock(16, 24, 4).eval()
    a, b = _streams()
    mask_b = torch.ones(2, 7, dtype=torch.bool)
    mask_b[:, 4:] = False
    out_a, _ = module(a, b, mask_b=mask_b)
    b_noisy = b.clone()
    b_noisy[:, 4:] = 1e3 * torch.randn(2, 3, 24)
    out_a2, _ = module(a, b_noisy, mask_b=mask_b)
    torch.testing.assert_close(out_a2, out_a, atol=1e-5, rtol=0)
    # and truncating the padding away gives the same result
    out_a3, _ = module(a, b[:, :4])
    torch.testing.assert_close(out_a3, out_a, atol=1e-5, rtol=0)


@pytest.mark.parametrize("self_attention", [True, False])
def test_cross_attention_block_reads_the_context(self_attention):
    torch.manual_seed(0)
    block = CrossAttentionBlock(16, 24, 4, self_attention=self_attention)
    x, context = _streams()
    x.requires_grad_(True)
    context.requires_grad_(True)
    context_mask = torch.ones(2, 7, dtype=torch.bool)
    context_mask[1, 3:] = False
    out = block(x, context, torch.ones(2, 5, dtype=torch.bool), context_mask)
    assert out.shape == x.shape
    out.square().sum().backward()
    assert context.grad[:, :3].abs().sum() > 0
    assert context.grad[1, 3:].abs().max() == 0  # padded context gets no attention
    assert (block(x, context + torch.randn_like(context)) - block(x, context)).abs().max() > 1e-3
    assert (block.self_attention is None) is (not self_attention)


def test_attention_errors():
    with pytest.raises(ParameterError, match="divisible"):
        CoAttentionBlock(10, 24, 4)
    with pytest.raises(ParameterError, match="depth"):
        CoAttentionEncoder(16, 24, 0, 4)
    block = CrossAttentionBlock(16, 24, 4)
    x, context = _streams()
    with pytest.raises(ParameterError, match="context_mask has shape"):
        block(x, context, context_mask=torch.ones(2, 6, dtype=torch.bool))
