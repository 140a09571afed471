"""The shared model registry: a part registered for a while can be removed again."""

from __future__ import annotations

import pytest
import torch

from polysense.errors import ParameterError
from polysense.models.registry import available, build, register, unregister


def test_unregister_removes_a_registered_model_and_refuses_an_unknown_one():
    register("model", "test-only-model")(lambda *, width=2: torch.nn.Linear(width, 1))
    try:
        assert "test-only-model" in available("model")
        assert build("model", {"name": "test-only-model", "width": 3}).in_features == 3
    finally:
        unregister("model", "test-only-model")
    assert "test-only-model" not in available("model")
    with pytest.raises(ParameterError, match="no model named 'test-only-model' is registered"):
        unregister("model", "test-only-model")
