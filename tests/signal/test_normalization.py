"""CMVN: zero mean and unit variance per band over the real frames (float64 reference), padding ignored."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from polysense.errors import ParameterError
from polysense.signal import cmvn, sliding_cmvn


@pytest.fixture
def features():
    g = torch.Generator().manual_seed(0)
    # bands with very different offsets and scales, as log-mel in dB
    return torch.randn(3, 8, 40, generator=g, dtype=torch.float64) * torch.linspace(1, 20, 8)[:, None] - 60


def prefix(lengths, total):
    return torch.arange(total) < torch.as_tensor(lengths)[:, None]


def test_cmvn_gives_zero_mean_and_unit_variance_per_band_over_valid_frames(features):
    lengths = [40, 25, 3]
    out = cmvn(features, mask=prefix(lengths, 40), eps=0.0)
    for b, n in enumerate(lengths):
        real = out[b, :, :n]
        assert torch.allclose(real.mean(-1), torch.zeros(8, dtype=torch.float64), atol=1e-12)
        assert torch.allclose(real.var(-1, unbiased=False), torch.ones(8, dtype=torch.float64), atol=1e-12)
        assert bool((out[b, :, n:] == 0).all())


def test_cmvn_matches_a_numpy_reference_and_ignores_what_is_in_the_padding(features):
    mask = prefix([40, 17, 9], 40)
    out = cmvn(features, mask=mask, eps=1e-5)
    junk = features.clone()
    junk[~mask[:, None, :].expand_as(junk)] = 1e6  # padding content must not matter
    assert torch.equal(cmvn(junk, mask=mask, eps=1e-5), out)
    for b, n in enumerate([40, 17, 9]):
        x = features[b, :, :n].numpy()
        ref = (x - x.mean(1, keepdims=True)) / np.sqrt(x.var(1, keepdims=True) + 1e-5)
        np.testing.assert_allclose(out[b, :, :n].numpy(), ref, atol=1e-12)


def test_cmvn_batch_equals_items_one_by_one_and_mean_only_mode(features):
    mask = prefix([40, 30, 20], 40)
    out = cmvn(features, mask=mask)
    for b, n in enumerate([40, 30, 20]):
        assert torch.allclose(out[b, :, :n], cmvn(features[b, :, :n]), atol=1e-12)
    cmn = cmvn(features, variance=False)
    assert torch.allclose(cmn, features - features.mean(-1, keepdim=True), atol=1e-12)


def test_sliding_cmvn_matches_a_direct_window_loop(features):
    mask = prefix([40, 31, 12], 40)
    window = 9
    out = sliding_cmvn(features, mask=mask, window_frames=window, variance=True, eps=1e-5)
    for b, n in enumerate([40, 31, 12]):
        x = features[b, :, :n].numpy()
        for t in range(n):
            seg = x[:, max(0, t - window // 2): t + window // 2 + 1]
            ref = (x[:, t] - seg.mean(1)) / np.sqrt(seg.var(1) + 1e-5)
            np.testing.assert_allclose(out[b, :, t].numpy(), ref, atol=1e-8)  # cumulative sums of ~1e3-scale values
        assert bool((out[b, :, n:] == 0).all())


def test_sliding_cmvn_with_a_window_longer_than_the_utterance_is_cmvn(features):
    mask = prefix([40, 22, 5], 40)
    a = sliding_cmvn(features, mask=mask, window_frames=201, variance=True)
    assert torch.allclose(a, cmvn(features, mask=mask), atol=1e-8)


def test_errors_name_the_argument(features):
    with pytest.raises(ParameterError, match="mask"):
        cmvn(features, mask=torch.ones(3, 39, dtype=torch.bool))
    with pytest.raises(ParameterError, match="NaN"):
        cmvn(torch.full((2, 3), float("nan")))
    with pytest.raises(ParameterError, match="window_frames"):
        sliding_cmvn(features, window_frames=0)
    with pytest.raises(ParameterError, match="features"):
        cmvn(torch.ones(5))
