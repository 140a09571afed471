"""Shared layers: masked mean, positions, MLP, attention, transformer padding invariance, patches."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from polysense.errors import ParameterError
from polysense.models.layers import (
    MLP,
    LearnedPositionalEmbedding,
    MultiHeadAttention,
    PatchEmbed,
    SinusoidalPositionalEmbedding,
    TransformerBlock,
    TransformerEncoder,
    block_mlp,
    lengths_to_mask,
    masked_mean,
    sinusoidal_positions,
)


def test_masked_mean_counts_only_real_positions(rng):
    x = torch.randn(3, 5, 4, generator=rng)
    mask = lengths_to_mask(torch.tensor([5, 2, 0]), 5)
    out = masked_mean(x, mask)
    torch.testing.assert_close(out[0], x[0].mean(0))
    torch.testing.assert_close(out[1], x[1, :2].mean(0))
    torch.testing.assert_close(out[2], torch.zeros(4))  # no real token -> zeros, not NaN
    torch.testing.assert_close(masked_mean(x), x.mean(1))


def test_lengths_to_mask():
    mask = lengths_to_mask(torch.tensor([0, 2, 3]), 4)
    assert mask.tolist() == [[False] * 4, [True, True, False, False], [True, True, True, False]]


def test_sinusoidal_table_matches_formula():
    table = sinusoidal_positions(7, 6, dtype=torch.float64)
    p, i = 5, 1
    assert table[p, 2 * i].item() == pytest.approx(math.sin(p / 10000 ** (2 * i / 6)), abs=1e-12)
    assert table[p, 2 * i + 1].item() == pytest.approx(math.cos(p / 10000 ** (2 * i / 6)), abs=1e-12)
    odd = sinusoidal_positions(4, 5)  # odd widths work too
    assert odd.shape == (4, 5)


def test_positional_embeddings_add_and_check_length():
    x = torch.zeros(2, 4, 8)
    sin = SinusoidalPositionalEmbedding(8, max_length=10)
    torch.testing.assert_close(sin(x, offset=2)[0], sinusoidal_positions(10, 8)[2:6])
    learned = LearnedPositionalEmbedding(8, 4)
    torch.testing.assert_close(learned(x)[1], learned.weight)
    with pytest.raises(ParameterError, match="max_length"):
        learned(torch.zeros(1, 5, 8))


def test_mlp_shapes_and_validation():
    mlp = MLP(6, 3, hidden_dims=(8, 5), activation="relu", dropout=0.1, layer_norm=True)
    assert mlp(torch.randn(4, 2, 6)).shape == (4, 2, 3)
    assert len([m for m in mlp.modules() if isinstance(m, torch.nn.Linear)]) == 3
    with pytest.raises(ParameterError, match="activation"):
        MLP(4, 4, activation="swish2")
    with pytest.raises(ParameterError, match="dropout"):
        MLP(4, 4, dropout=1.5)
    with pytest.raises(ParameterError, match="in_dim"):
        MLP(0, 4)


def test_block_mlp_width_is_dim_times_ratio_and_shared_by_the_blocks():
    from polysense.models.attention import CoAttentionBlock, CrossAttentionBlock

    widths = lambda mlp: [(m.in_features, m.out_features) for m in mlp.modules() if isinstance(m, torch.nn.Linear)]  # noqa: E731
    assert widths(block_mlp(10, 2.5)) == [(10, 25), (25, 10)]
    assert widths(block_mlp(3, 0.1)) == [(3, 1), (1, 3)]  # at least one hidden unit
    assert widths(TransformerBlock(8, 2, mlp_ratio=1.5).mlp) == [(8, 12), (12, 8)]
    assert widths(CrossAttentionBlock(8, 4, 2, mlp_ratio=1.5).mlp) == [(8, 12), (12, 8)]
    assert widths(CoAttentionBlock(8, 4, 2, mlp_ratio=0.5).mlp_b) == [(4, 2), (2, 4)]
    with pytest.raises(ParameterError, match="mlp_ratio"):
        block_mlp(8, 0.0)


def test_attention_equals_its_formula(rng):
    torch.manual_seed(0)
    attention = MultiHeadAttention(8, 2).eval()
    q, kv = torch.randn(2, 3, 8, generator=rng), torch.randn(2, 5, 8, generator=rng)
    key_mask = lengths_to_mask(torch.tensor([5, 3]), 5)
    out, weights = attention(q, kv, key_mask=key_mask, need_weights=True)
    # by hand
    split = lambda t: t.view(2, -1, 2, 4).transpose(1, 2)  # noqa: E731
    Q, K, V = split(attention.query(q)), split(attention.key(kv)), split(attention.value(kv))
    scores = (Q @ K.transpose(-1, -2)) / 2.0
    scores = scores.masked_fill(~key_mask[:, None, None, :], float("-inf"))
    expected = attention.out((scores.softmax(-1) @ V).transpose(1, 2).reshape(2, 3, 8))
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(attention(q, kv, key_mask=key_mask), expected, atol=1e-6, rtol=1e-5)
    assert torch.all(weights[1, :, :, 3:] == 0)  # padded keys get no weight


def test_cross_attention_with_other_width_and_fully_masked_rows():
    attention = MultiHeadAttention(8, 2, kv_dim=6)
    out = attention(torch.randn(2, 3, 8), torch.randn(2, 4, 6), key_mask=torch.tensor([[True] * 4, [False] * 4]))
    assert out.shape == (2, 3, 8) and torch.isfinite(out).all()
    with pytest.raises(ParameterError, match="divisible"):
        MultiHeadAttention(10, 3)


def _padded(x: torch.Tensor, extra: int) -> torch.Tensor:
    return torch.cat([x, torch.randn(x.shape[0], extra, x.shape[2]) * 100], dim=1)


@pytest.mark.parametrize("extra", [1, 7])
def test_transformer_outputs_for_real_tokens_ignore_padding(rng, extra):
    torch.manual_seed(0)
    encoder = TransformerEncoder(16, depth=2, heads=4, dropout=0.1).eval()
    x = torch.randn(2, 6, 16, generator=rng)
    lengths = torch.tensor([6, 4])
    reference = encoder(x, lengths_to_mask(lengths, 6))
    padded = encoder(_padded(x, extra), lengths_to_mask(lengths, 6 + extra))
    torch.testing.assert_close(padded[:, :6][0], reference[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(padded[1, :4], reference[1, :4], atol=1e-5, rtol=1e-5)
    # item 1 alone, unpadded, equals item 1 in the batch
    alone = encoder(x[1:, :4])
    torch.testing.assert_close(alone[0], reference[1, :4], atol=1e-5, rtol=1e-5)


def test_transformer_without_mask_and_hidden_states():
    encoder = TransformerEncoder(8, depth=3, heads=2)
    x = torch.randn(2, 5, 8)
    out, hidden = encoder(x, return_hidden=True)
    assert out.shape == (2, 5, 8) and len(hidden) == 4 and hidden[0] is x
    assert TransformerEncoder(8, depth=0, heads=2)(x).shape == x.shape


def test_transformer_gradients_reach_every_parameter():
    encoder = TransformerEncoder(8, depth=2, heads=2)
    x = torch.randn(3, 4, 8)
    encoder(x, lengths_to_mask(torch.tensor([4, 2, 1]), 4)).sum().backward()
    for name, parameter in encoder.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_transformer_block_is_pre_norm():
    block = TransformerBlock(8, 2).eval()
    x = torch.randn(1, 3, 8)
    h = x + block.attention(block.norm1(x))
    torch.testing.assert_close(block(x), h + block.mlp(block.norm2(h)))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(dim=10, depth=1, heads=3), "divisible"),
        (dict(dim=8, depth=-1, heads=2), "depth"),
        (dict(dim=8, depth=1, heads=2, dropout=2.0), "dropout"),
        (dict(dim=8, depth=1, heads=2, activation="nope"), "activation"),
    ],
)
def test_transformer_bad_config(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        TransformerEncoder(**kwargs)


def test_transformer_rejects_bad_shapes():
    encoder = TransformerEncoder(8, depth=1, heads=2)
    with pytest.raises(ParameterError, match=r"\(batch, seq, 8\)"):
        encoder(torch.randn(2, 3, 6))
    with pytest.raises(ParameterError, match="mask has shape"):
        encoder(torch.randn(2, 3, 8), torch.ones(2, 4, dtype=torch.bool))


def test_patch_embed_is_a_linear_map_of_flattened_patches(rng):
    embed = PatchEmbed(3, (2, 4), 5)
    x = torch.randn(2, 3, 4, 8, generator=rng)
    tokens, grid = embed(x)
    assert grid == (2, 2) and tokens.shape == (2, 4, 5)
    # token (row 1, col 0) is the patch x[:, :, 2:4, 0:4] flattened (channel, row, col)
    patch = x[:, :, 2:4, 0:4].reshape(2, -1)
    torch.testing.assert_close(tokens[:, 2], F.linear(patch, embed.proj.weight, embed.proj.bias))


def test_patch_embed_overlap_equals_unfold_and_pads(rng):
    embed = PatchEmbed(1, 4, 3, stride=(4, 2))
    x = torch.randn(1, 1, 8, 9, generator=rng)  # width 9: patches at 0,2,4,6 cover 0..9 -> pad 1
    tokens, grid = embed(x)
    assert grid == (2, 4)
    padded = F.pad(x, (0, 1))
    patch = padded[:, :, 4:8, 6:10].reshape(1, -1)
    torch.testing.assert_close(tokens[:, 7], F.linear(patch, embed.proj.weight, embed.proj.bias))
    with pytest.raises(ParameterError, match="pad=True"):
        PatchEmbed(1, 4, 3, pad=False)(x)
    with pytest.raises(ParameterError, match="expected"):
        embed(torch.randn(1, 2, 8, 8))
    with pytest.raises(ParameterError, match="patch_size"):
        PatchEmbed(1, (2, 2, 2), 3)


def test_patch_embed_spectrogram_patches():
    embed = PatchEmbed(1, (16, 16), 8, stride=(10, 10))  # AST's overlapping patches
    tokens, (gf, gt) = embed(torch.randn(2, 1, 128, 100))
    assert (gf, gt) == (1 + math.ceil((128 - 16) / 10), 1 + math.ceil((100 - 16) / 10))
    assert tokens.shape == (2, gf * gt, 8)


def test_post_norm_block_is_the_bert_order_by_hand():
    """``post_norm=True``: LN2(y + MLP(y)) with y = LN1(x + Attn(x)) (reference: the sub-modules
    composed by hand; the pretrained check is MiniLM reproducing sentence-transformers)."""
    from polysense.models.layers import TransformerBlock

    torch.manual_seed(0)
    block = TransformerBlock(8, 2, post_norm=True).eval()
    x = torch.randn(2, 5, 8)
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    y = block.norm1(x + block.attention(x, key_mask=mask))
    torch.testing.assert_close(block(x, mask), block.norm2(y + block.mlp(y)))
