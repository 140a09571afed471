"""ViLBERT (polysense.models.paradigms.vilbert) built from configs with the project's real
encoders: co-attention makes each stream depend on the other, it overfits 8 pairs, trains every
parameter, works for audio-text, and rejects bad configs."""

from __future__ import annotations

import pytest
import torch

from polysense.errors import ParameterError
from polysense.models.output import ModelOutput
from polysense.models.paradigms.vilbert import ViLBERT
from polysense.models.registry import build
from tests.models._entangled_doubles import (
    all_pairs_accuracy,
    assert_gradients_reach_every_trainable_parameter,
    audio_config,
    audio_text_batch,
    image_config,
    image_text_batch,
    text_config,
    train,
)


def vilbert_config(visual: str = "image", **overrides) -> dict:
    visual_config = image_config() if visual == "image" else audio_config()
    return {"name": "vilbert", "co_depth": 1, "heads": 2, visual: visual_config, "text": text_config(), **overrides}


def test_builds_from_config_and_returns_typed_output():
    torch.manual_seed(0)
    model = build("model", vilbert_config(visual_dim=48, pooled_dim=24))
    assert isinstance(model, ViLBERT)
    out = model(image_text_batch())
    assert isinstance(out, ModelOutput)
    assert set(out.losses) == {"itm", "mlm", "mrm"}
    torch.testing.assert_close(out.loss, sum(out.losses.values()))
    assert all(torch.isfinite(v) for v in out.losses.values())


def test_each_stream_depends_on_the_other():
    torch.manual_seed(0)
    model = build("model", vilbert_config()).eval()
    batch = image_text_batch()
    visual = model.encode_visual(batch)
    text = model.encode_text(batch["input_ids"], batch["text_mask"])
    v, t = model.streams(visual.tokens, visual.mask, text.tokens, batch["text_mask"])
    v2, t2 = model.streams(visual.tokens.roll(1, 0), visual.mask, text.tokens, batch["text_mask"])
    assert (t2 - t).abs().max() > 1e-4  # the text stream reads the visual stream
    v3, t3 = model.streams(visual.tokens, visual.mask, text.tokens.roll(1, 0), batch["text_mask"].roll(1, 0))
    assert (v3 - v).abs().max() > 1e-4


def test_overfits_eight_pairs():
    torch.manual_seed(0)
    model = build("model", vilbert_config())
    batch = image_text_batch()
    losses = train(model, batch, steps=500, lr=1e-3)
    assert sum(losses[-20:]) / 20 < 0.35 * sum(losses[:20]) / 20
    # 64 combinations, 8 matched; seeds 0-3 reach 0.95-1.0 (product pooling learns slower than ViLT)
    assert all_pairs_accuracy(model, batch) >= 0.9


@pytest.mark.parametrize("visual, make_batch", [("image", image_text_batch), ("audio", audio_text_batch)])
def test_gradients_reach_every_parameter(visual, make_batch):
    torch.manual_seed(0)
    model = build("model", vilbert_config(visual, mask_prob=0.5, region_mask_prob=0.5))
    assert_gradients_reach_every_trainable_parameter(model, make_batch())


def test_audio_text_trains():
    torch.manual_seed(0)
    model = build("model", vilbert_config("audio"))
    losses = train(model, audio_text_batch(), steps=30, lr=2e-3)
    assert model.modality == "audio"
    assert sum(losses[-5:]) < sum(losses[:5])


def test_masked_modelling_only_on_matched_pairs(monkeypatch):
    import polysense.models.paradigms.vilbert as vilbert_module

    all_swapped = lambda n, **kw: (torch.arange(n).roll(1), torch.zeros(n, dtype=torch.long))  # noqa: E731
    monkeypatch.setattr(vilbert_module, "random_matching_pairs", all_swapped)
    torch.manual_seed(0)
    out = build("model", vilbert_config())(image_text_batch())
    assert out.losses["mlm"].item() == 0.0 and out.losses["mrm"].item() == 0.0
    assert out.losses["itm"].item() > 0


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"image": None}, "exactly one of image, audio"),
        ({"text": None}, "needs a text encoder"),
        ({"co_depth": 0}, "depth"),
        ({"heads": 3}, "divisible"),
        ({"region_mask_prob": 2}, "region_mask_prob"),
        ({"loss_weights": {"wpa": 1}}, "unknown objective 'wpa'"),
        ({"visual_dim": 0}, "visual_dim"),
        ({"text": {"name": "no_such_encoder"}}, "unknown encoder"),
    ],
)
def test_bad_config_raises_parameter_error(overrides, match):
    with pytest.raises(ParameterError, match=match):
        build("model", {**vilbert_config(), **overrides})
