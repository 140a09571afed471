"""ViLT (polysense.models.paradigms.vilt) built from configs with the project's real encoders
(at depth 0, ViLT's light embedders): overfits 8 pairs, trains every parameter, works for
audio-text, and rejects bad configs."""

from __future__ import annotations

import pytest
import torch

from polysense.errors import ParameterError
from polysense.models.output import ModelOutput
from polysense.models.paradigms.vilt import ViLT
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


def vilt_config(visual: str = "image", **overrides) -> dict:
    visual_config = image_config(depth=0) if visual == "image" else audio_config(depth=0)
    return {"name": "vilt", "depth": 2, "heads": 2, visual: visual_config, "text": text_config(depth=0), **overrides}


def test_builds_from_config_and_returns_typed_output():
    torch.manual_seed(0)
    model = build("model", vilt_config())
    assert isinstance(model, ViLT) and model.modality == "image" and model.visual_cls == 1
    out = model(image_text_batch())
    assert isinstance(out, ModelOutput)
    assert set(out.losses) == {"itm", "mlm", "wpa"}
    expected = out.losses["itm"] + out.losses["mlm"] + 0.1 * out.losses["wpa"]
    torch.testing.assert_close(out.loss, expected)
    assert all(torch.isfinite(v) for v in out.losses.values())
    assert set(out.metrics) == {"itm_accuracy", "mlm_accuracy"}


def test_overfits_eight_pairs():
    torch.manual_seed(0)
    model = build("model", vilt_config())
    batch = image_text_batch()
    losses = train(model, batch, steps=300, lr=2e-3)
    assert sum(losses[-20:]) / 20 < 0.3 * sum(losses[:20]) / 20
    assert all_pairs_accuracy(model, batch) >= 0.95  # 64 combinations, 8 of them matched


@pytest.mark.parametrize("visual, make_batch", [("image", image_text_batch), ("audio", audio_text_batch)])
def test_gradients_reach_every_parameter(visual, make_batch):
    torch.manual_seed(0)
    model = build("model", vilt_config(visual, mask_prob=0.5))
    assert_gradients_reach_every_trainable_parameter(model, make_batch())


def test_audio_text_trains():
    torch.manual_seed(0)
    model = build("model", vilt_config("audio"))
    losses = train(model, audio_text_batch(), steps=30, lr=2e-3)
    assert model.modality == "audio"
    assert sum(losses[-5:]) < sum(losses[:5])


def test_text_part_depends_on_the_image():
    torch.manual_seed(0)
    model = build("model", vilt_config()).eval()
    batch = image_text_batch()
    other = dict(batch, image=batch["image"].roll(1, dims=0))
    assert (model.match_logits(batch) - model.match_logits(other)).abs().max() > 1e-4


def test_mlm_masks_whole_words_from_the_batch_word_ids():
    torch.manual_seed(0)
    model = build("model", vilt_config(mask_prob=0.5))
    batch = image_text_batch(batch=64)
    masked = model.mask_text(batch, whole_word=True)
    for row in range(64):
        words = batch["word_ids"][row]
        for w in words[words >= 0].unique():
            flags = masked.picked[row][words == w]
            assert flags.all() or not flags.any()
    assert not masked.picked[batch["word_ids"] < 0].any()  # [CLS], [SEP], padding
    assert masked.picked.any()


def test_matching_never_pairs_a_duplicate_caption_as_negative(monkeypatch):
    import polysense.models.paradigms.vilt as vilt_module

    seen = []
    original = vilt_module.random_matching_pairs

    def spy(*args, **kwargs):
        partner, labels = original(*args, **kwargs)
        seen.append((partner, labels))
        return partner, labels

    monkeypatch.setattr(vilt_module, "random_matching_pairs", spy)
    torch.manual_seed(0)
    model = build("model", vilt_config())
    batch = image_text_batch()
    for key in ("input_ids", "text_mask", "word_ids"):
        batch[key][1] = batch[key][0]  # caption 1 duplicates caption 0
    for _ in range(20):
        model(batch)
    for partner, labels in seen:
        swapped_to_twin = (labels == 0) & (((torch.arange(8) == 0) & (partner == 1)) | ((torch.arange(8) == 1) & (partner == 0)))
        assert not swapped_to_twin.any()


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"image": None}, "exactly one of image, audio"),
        ({"audio": audio_config(depth=0)}, "exactly one of image, audio"),
        ({"text": None}, "needs a text encoder"),
        ({"loss_weights": {"itc": 1.0}}, "unknown objective 'itc'"),
        ({"loss_weights": {"wpa": -1}}, "expected a number >= 0"),
        ({"depth": 0}, "depth"),
        ({"mask_prob": 1.5}, "mask_prob"),
        ({"mask_token_id": 99}, "mask_token_id=99 is outside"),
        ({"itm_negative_prob": -0.1}, "itm_negative_prob"),
        ({"ot_beta": 0}, "beta"),
        ({"no_such_option": 1}, "cannot build model 'vilt'"),
    ],
)
def test_bad_config_raises_parameter_error(overrides, match):
    with pytest.raises(ParameterError, match=match):
        build("model", {**vilt_config(), **overrides})


def test_bad_batch_raises_parameter_error():
    model = build("model", vilt_config())
    batch = image_text_batch()
    with pytest.raises(ParameterError, match="no image input"):
        model({k: v for k, v in batch.items() if k != "image"})
    with pytest.raises(ParameterError, match="input_ids"):
        model({"image": batch["image"]})
    with pytest.raises(ParameterError, match="must be paired"):
        model(dict(batch, image=batch["image"][:4]))
