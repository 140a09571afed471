"""AAM-softmax against its formula computed by hand in float64."""

from __future__ import annotations

import math

import pytest
import torch

from polysense.errors import ParameterError
from polysense.losses.margin import AAMSoftmax, aam_softmax_loss


def hand_loss(cosine, target, m, s):
    total = 0.0
    for i in range(cosine.shape[0]):
        logits = [s * (math.cos(math.acos(float(c)) + m) if j == int(target[i]) else float(c))
                  for j, c in enumerate(cosine[i])]
        top = max(logits)
        total += -(logits[int(target[i])] - top - math.log(sum(math.exp(v - top) for v in logits)))
    return total / cosine.shape[0]


@pytest.mark.parametrize("margin, scale", [(0.0, 1.0), (0.2, 30.0), (0.5, 10.0)])
def test_aam_softmax_equals_the_formula(margin, scale):
    g = torch.Generator().manual_seed(0)
    cosine = torch.rand(6, 5, generator=g, dtype=torch.float64) * 1.8 - 0.9
    target = torch.randint(0, 5, (6,), generator=g)
    got = aam_softmax_loss(cosine, target, margin=margin, scale=scale)
    assert float(got) == pytest.approx(hand_loss(cosine, target, margin, scale), rel=1e-9)
    if margin == 0.0:
        assert float(got) == pytest.approx(float(torch.nn.functional.cross_entropy(scale * cosine, target)), rel=1e-12)


def test_the_margin_makes_the_loss_larger_for_the_same_embeddings():
    head = AAMSoftmax(8, 4, margin=0.0)
    x, y = torch.randn(10, 8), torch.randint(0, 4, (10,))
    plain = head(x, y)[0]
    head.margin = 0.3
    assert head(x, y)[0] > plain


def test_bad_margin_is_refused():
    with pytest.raises(ParameterError, match=r"margin=2.0 is invalid"):
        AAMSoftmax(8, 4, margin=2.0)
