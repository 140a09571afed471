"""Heads: each equals its formula, builds from a config, and rejects bad configs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from polysense.errors import ParameterError
from polysense.models.heads import LinearHead, MLPHead, ProjectionHead
from polysense.models.registry import build


def test_linear_head_is_a_linear_map():
    head = LinearHead(6, 3)
    x = torch.randn(4, 6)
    expected = x @ head.linear.weight.T + head.linear.bias
    torch.testing.assert_close(head(x), expected)  # reference: the formula, default tolerance


def test_linear_head_norm_normalises_the_input_first():
    head = LinearHead(6, 3, norm=True)
    x = torch.randn(4, 6) * 5 + 2
    expected = head.linear(F.layer_norm(x, (6,)))
    torch.testing.assert_close(head(x), expected)


def test_mlp_head_layers_and_output_width():
    head = MLPHead(6, 3, hidden_dims=[5, 4])
    linears = [m for m in head.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(6, 5), (5, 4), (4, 3)]
    assert head(torch.randn(2, 6)).shape == (2, 3)
    default = MLPHead(6, 3)  # one hidden layer as wide as the input
    assert [m.out_features for m in default.modules() if isinstance(m, torch.nn.Linear)] == [6, 3]


def test_projection_head_normalises_to_unit_length():
    head = ProjectionHead(6, 4, normalize=True)
    z = head(torch.randn(5, 6))
    torch.testing.assert_close(z.norm(dim=-1), torch.ones(5))
    raw = ProjectionHead(6, 4)
    x = torch.randn(5, 6)
    torch.testing.assert_close(raw(x), raw.mlp(x))
    assert raw.dim == 4


@pytest.mark.parametrize(
    "config, cls",
    [
        ({"name": "linear", "in_dim": 8, "num_classes": 2, "dropout": 0.1}, LinearHead),
        ({"name": "mlp", "in_dim": 8, "num_classes": 2, "hidden_dims": 4}, MLPHead),
        ({"name": "projection", "in_dim": 8, "out_dim": 3, "normalize": True}, ProjectionHead),
    ],
)
def test_heads_build_from_plain_configs(config, cls):
    head = build("head", config)
    assert isinstance(head, cls)
    out = head(torch.randn(2, 8))
    assert out.shape[0] == 2


@pytest.mark.parametrize(
    "config, message",
    [
        ({"name": "linear", "in_dim": 8, "num_classes": 0}, "num_classes=0"),
        ({"name": "linear", "in_dim": 8, "num_classes": 2, "dropout": 1.5}, "dropout"),
        ({"name": "mlp", "in_dim": 8, "num_classes": 2, "activation": "swish"}, "activation"),
        ({"name": "mlp", "in_dim": 8, "num_classes": 2, "hidden_dims": [0]}, "hidden_dims"),
        ({"name": "linear", "in_dim": 8, "num_classes": 2, "depth": 3}, "depth"),
        ({"name": "softmax_head", "in_dim": 8, "num_classes": 2}, "softmax_head"),
    ],
)
def test_bad_head_configs_raise_parameter_error(config, message):
    with pytest.raises(ParameterError, match=message):
        build("head", config)
