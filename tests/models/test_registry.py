"""The shared model registry: a part registered for a while can be removed again."""

from __future__ import annotations

import pytest
import torch

from polysense.errors import ParameterError
from polysense.models.contract import Model
from polysense.models.registry import available, build, register, unregister


class _Probe(Model):
    kind = "classifier"

    def __init__(self, width: int = 2) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(width, 1)


def test_unregister_removes_a_registered_model_and_refuses_an_unknown_one():
    register("model", "test-only-model")(lambda *, width=2: _Probe(width))
    try:
        assert "test-only-model" in available("model")
        assert build("model", {"name": "test-only-model", "width": 3}).linear.in_features == 3
    finally:
        unregister("model", "test-only-model")
    assert "test-only-model" not in available("model")
    with pytest.raises(ParameterError, match="no model named 'test-only-model' is registered"):
        unregister("model", "test-only-model")


def test_a_builder_function_whose_model_breaks_the_contract_is_refused_when_built():
    register("model", "test-linear")(lambda *, width=2: torch.nn.Linear(width, 1))
    try:
        with pytest.raises(ParameterError, match="'test-linear' .* is not a polysense.models.contract.Model"):
            build("model", {"name": "test-linear"})
    finally:
        unregister("model", "test-linear")
