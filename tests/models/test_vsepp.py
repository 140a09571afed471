"""VSE++ paradigm: built from config dicts, loss = vsepp_loss on its embeddings, overfits a tiny
batch (R@1 = 100% both ways on 8 pairs), gradients reach every parameter, bad configs raise."""

from __future__ import annotations

import pytest
import torch

from polysense.errors import ParameterError
from polysense.losses import vsepp_loss
from polysense.models.paradigms.vsepp import VSEPP
from polysense.models.registry import build
from tests.models._dual_encoder_doubles import (
    ENCODERS,
    PAIRS,
    doubles,
    paired_batch,
    params_without_gradient,
    real_batch,
    recall_at_1,
    train,
)


def _vsepp(pair, **kwargs) -> VSEPP:
    torch.manual_seed(0)
    return VSEPP(embed_dim=8, **doubles(pair), **kwargs)


@pytest.mark.parametrize("pair", PAIRS)
def test_forward_gives_unit_embeddings_and_the_vsepp_loss(pair):
    model = _vsepp(pair)
    out = model(paired_batch(pair))
    assert set(out.losses) == {"vsepp"} and model.modalities == pair
    for embedding in out.embeddings.values():
        torch.testing.assert_close(embedding.norm(dim=1), torch.ones(8))
    expected = vsepp_loss(*(out.embeddings[m] for m in pair), margin=0.2)
    torch.testing.assert_close(out.loss, expected.loss)
    torch.testing.assert_close(out.similarity, expected.similarity_a)
    assert out.loss > 0  # hinges active at initialisation, so the gradient test below means something


def test_options_reach_the_loss():
    model = _vsepp(("image", "text"), margin=0.5, max_violation=False, reduction="mean")
    out = model(paired_batch(("image", "text")))
    expected = vsepp_loss(out.embeddings["image"], out.embeddings["text"], margin=0.5, max_violation=False,
                          reduction="mean")
    torch.testing.assert_close(out.loss, expected.loss)


@pytest.mark.parametrize("pair", PAIRS)
def test_gradients_reach_every_parameter(pair):
    model = _vsepp(pair)
    model(paired_batch(pair)).loss.backward()
    assert params_without_gradient(model) == []


def test_overfits_eight_pairs():
    pair = ("image", "text")
    model = _vsepp(pair)
    batch = paired_batch(pair)
    losses = train(model, batch, steps=150)
    assert losses[-1] == 0.0  # every positive beats every negative by the margin
    assert recall_at_1(model, batch) == (1.0, 1.0)


def test_real_encoders_overfit_eight_pairs():
    torch.manual_seed(0)
    config = {"name": "vsepp", "embed_dim": 8, "image": ENCODERS["image"], "text": ENCODERS["text"]}
    model = build("model", config)
    assert isinstance(model, VSEPP)
    batch = real_batch(("image", "text"))
    model(batch).loss.backward()
    assert params_without_gradient(model) == []
    model.zero_grad()
    train(model, batch, steps=120, lr=3e-3)
    assert recall_at_1(model, batch) == (1.0, 1.0)


@pytest.mark.parametrize(
    "config, match",
    [
        ({"name": "vsepp", "image": ENCODERS["image"]}, "exactly two modalities"),
        ({"name": "vsepp", "embed_dim": -2, "image": ENCODERS["image"], "text": ENCODERS["text"]}, "embed_dim"),
        ({"name": "vsepp", "margin": -0.2, "image": ENCODERS["image"], "text": ENCODERS["text"]}, "margin"),
        ({"name": "vsepp", "reduction": "max", "image": ENCODERS["image"], "text": ENCODERS["text"]}, "reduction"),
        ({"name": "vsepp", "image": ENCODERS["image"], "text": {"name": "text_transformer"}}, "vocab_size"),
        ({"name": "vsepp", "image": ENCODERS["image"], "text": ENCODERS["text"], "temperature": 0.1}, "temperature"),
    ],
)
def test_bad_config_raises_parameter_error(config, match):
    with pytest.raises(ParameterError, match=match):
        build("model", config)
