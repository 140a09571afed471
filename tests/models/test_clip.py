"""CLIP paradigm: built from config dicts, loss = clip_loss on its embeddings, overfits a tiny
batch (R@1 = 100% both ways on 8 pairs), gradients reach every parameter, bad configs raise."""

from __future__ import annotations

import math

import pytest
import torch

from polysense.errors import ParameterError
from polysense.evaluate.zero_shot import TEMPLATES, zero_shot_classifier
from polysense.losses import clip_loss
from polysense.models.paradigms.clip import CLIP
from polysense.models.output import EmbeddingOutput
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

def _clip(pair, **kwargs) -> CLIP:
    torch.manual_seed(0)
    return CLIP(embed_dim=8, **doubles(pair), **kwargs)


@pytest.mark.parametrize("pair", PAIRS)
def test_forward_gives_unit_embeddings_and_the_clip_loss(pair):
    model = _clip(pair)
    batch = paired_batch(pair)
    out = model(batch)
    assert isinstance(out, EmbeddingOutput) and set(out.losses) == {"clip"}
    assert model.modalities == pair and set(out.embeddings) == set(pair)
    for embedding in out.embeddings.values():
        assert embedding.shape == (8, 8)
        torch.testing.assert_close(embedding.norm(dim=1), torch.ones(8))
    expected = clip_loss(*(out.embeddings[m] for m in pair), logit_scale=model.logit_scale)
    torch.testing.assert_close(out.loss, expected.loss)
    torch.testing.assert_close(out.similarity, expected.logits_a)
    torch.testing.assert_close(out.metrics["logit_scale"], torch.tensor(1 / 0.07))


def test_logit_scale_starts_at_1_over_0_07_and_is_clamped_at_100():
    model = _clip(("audio", "text"))
    assert float(model.objective.logit_scale.log_scale.detach()) == pytest.approx(math.log(1 / 0.07))
    with torch.no_grad():
        model.objective.logit_scale.log_scale.fill_(10.0)
    assert float(model.logit_scale.detach()) == pytest.approx(100.0)
    assert float(model(paired_batch(("audio", "text"))).metrics["logit_scale"]) == pytest.approx(100.0)


def test_one_modality_gives_embeddings_without_loss():
    model = _clip(("image", "text"))
    batch = {k: v for k, v in paired_batch(("image", "text")).items() if k == "image"}
    out = model(batch)
    assert out.loss is None and out.similarity is None and out.losses == {} and list(out.embeddings) == ["image"]
    with pytest.raises(ParameterError, match="neither of the model's modalities"):
        model({"label": torch.zeros(2)})
    with pytest.raises(ParameterError, match="no text input"):
        model.encode("text", batch)
    with pytest.raises(ParameterError, match="not one of"):
        model.encode("audio", batch)


@pytest.mark.parametrize("pair", PAIRS)
def test_gradients_reach_every_parameter(pair):
    model = _clip(pair)
    model(paired_batch(pair)).loss.backward()
    assert params_without_gradient(model) == []
    assert model.objective.logit_scale.log_scale.grad != 0


def test_overfits_eight_pairs():
    pair = ("audio", "text")
    model = _clip(pair)
    batch = paired_batch(pair)
    losses = train(model, batch, steps=150)
    assert losses[-1] < 0.1 * losses[0]
    assert recall_at_1(model, batch) == (1.0, 1.0)


def test_frozen_temperature_option():
    model = _clip(("audio", "text"), learn_logit_scale=False, logit_scale=20.0)
    assert "objective.logit_scale.log_scale" not in dict(model.named_parameters())
    assert float(model.logit_scale.detach()) == pytest.approx(20.0)


@pytest.mark.parametrize("pair", PAIRS)
def test_real_encoders_from_a_config_dict(pair):
    torch.manual_seed(0)
    config = {"name": "clip", "embed_dim": 8, **{m: ENCODERS[m] for m in pair}}
    model = build("model", config)
    assert isinstance(model, CLIP) and model.modalities == pair
    out = model(real_batch(pair))
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    out.loss.backward()
    assert params_without_gradient(model) == []


def test_real_encoders_overfit_eight_pairs():
    torch.manual_seed(0)
    model = build("model", {"name": "clip", "embed_dim": 8, "audio": ENCODERS["audio"], "text": ENCODERS["text"]})
    batch = real_batch(("audio", "text"))
    train(model, batch, steps=120, lr=3e-3)
    assert recall_at_1(model, batch) == (1.0, 1.0)


def test_zero_shot_with_a_trained_model_and_its_tokenizer(tmp_path):
    """Train on 4 tones named by words; classify held-out tones by their class names alone, with
    the tokenizer the model was built with and the audio prompt templates."""
    from polysense.models.encoders.tokenizer import train_tokenizer
    from polysense.signal.sampling import sinusoid

    names = ["low hum", "mid tone", "high beep", "very high whistle"]
    freqs = [200.0, 600.0, 1400.0, 3000.0]
    prompts = [template.format(name) for template in TEMPLATES["audio"] for name in names]
    path = train_tokenizer(prompts, vocab_size=300).save(tmp_path / "tokenizer.json")
    torch.manual_seed(0)
    text_config = {k: v for k, v in ENCODERS["text"].items() if k != "vocab_size"}
    model = build("model", {
        "name": "clip", "embed_dim": 8, "audio": ENCODERS["audio"], "text": dict(text_config, tokenizer=str(path)),
    })
    tokenizer = model.tokenizer
    assert tokenizer is not None and model.encoders["text"].vocab_size == tokenizer.vocab_size
    g = torch.Generator().manual_seed(1)

    def tones(labels):
        phases = torch.rand(len(labels), generator=g).tolist()
        return torch.stack([
            sinusoid(freq_hz=freqs[c], sample_rate=8000, num_samples=1600, phase=p, dtype=torch.float32)
            for c, p in zip(labels, phases)
        ])

    labels = [0, 1, 2, 3] * 2
    captions = [f"the sound of {names[c]}." for c in labels]
    text = tokenizer.batch_encode(captions).as_dict()
    batch = {"audio": tones(labels), "input_ids": text["input_ids"], "text_mask": text["text_mask"], "text": captions}
    # the two clips of a class share a caption: positives of each other, not negatives
    train(model, batch, steps=100, lr=3e-3)
    model.eval()
    classifier = zero_shot_classifier(model, names, modality="audio")
    assert classifier.logit_scale == pytest.approx(float(model.logit_scale.detach()))
    test_labels = torch.tensor([3, 2, 1, 0, 0, 1, 2, 3])
    with torch.no_grad():
        embeddings = model.encode("audio", {"audio": tones(test_labels.tolist())})
    assert classifier.accuracy(embeddings, test_labels) == {1: 1.0}


@pytest.mark.parametrize(
    "config, match",
    [
        ({"name": "clip", "embed_dim": 8, "text": ENCODERS["text"]}, "exactly two modalities"),
        ({"name": "clip", "embed_dim": 8, **ENCODERS}, "exactly two modalities"),
        ({"name": "clip", "embed_dim": 0, "audio": ENCODERS["audio"], "text": ENCODERS["text"]}, "embed_dim"),
        ({"name": "clip", "video": {"name": "image_vit"}, "text": ENCODERS["text"]}, "video"),
        ({"name": "clip", "audio": {"name": "no_such_encoder"}, "text": ENCODERS["text"]}, "no_such_encoder"),
        ({"name": "clip", "audio": "audio_cnn", "text": ENCODERS["text"]}, "encoder config dict"),
        ({"name": "clip", "audio": ENCODERS["audio"], "text": ENCODERS["text"], "projection": {"out_dim": 3}},
         "out_dim"),
        ({"name": "clip", "audio": ENCODERS["audio"], "text": ENCODERS["text"], "logit_scale": 500.0}, "max_scale"),
        ({"name": "clip", "audio": ENCODERS["audio"], "text": ENCODERS["text"], "logit_scale": -1.0}, "init"),
    ],
)
def test_bad_config_raises_parameter_error(config, match):
    with pytest.raises(ParameterError, match=match):
        build("model", config)


def test_items_with_the_same_text_or_label_are_positives_not_negatives():
    """FSDD pairs 2,000 clips with 40 captions: equal captions in a batch must not be negatives."""
    model = _clip(("audio", "text"))
    batch = paired_batch(("audio", "text"))
    batch["text"] = ["one", "two", "one", "three", "two", "four", "five", "six"]
    out = model(batch)
    same = torch.tensor([[s == t for t in batch["text"]] for s in batch["text"]])
    a, b = out.embeddings["audio"], out.embeddings["text"]
    expected = clip_loss(a, b, logit_scale=model.logit_scale, positive_mask=same)
    torch.testing.assert_close(out.loss, expected.loss)
    assert not torch.allclose(out.loss, clip_loss(a, b, logit_scale=model.logit_scale).loss)
    # without strings, equal input_ids rows (over the real tokens) identify equal captions
    del batch["text"]
    for key in ("input_ids", "text_mask"):
        batch[key][2], batch[key][4] = batch[key][0], batch[key][1]
    out = model(batch)
    a, b = out.embeddings["audio"], out.embeddings["text"]
    expected = clip_loss(a, b, logit_scale=model.logit_scale, positive_mask=same)
    torch.testing.assert_close(out.loss, expected.loss)
    # labels instead of text, when the config says so
    by_label = _clip(("audio", "text"), positives="label")
    batch["label"] = torch.tensor([0, 1, 0, 2, 1, 3, 4, 5])
    torch.testing.assert_close(by_label(batch).loss, expected.loss)
    none = _clip(("audio", "text"), positives="none")
    torch.testing.assert_close(none(batch).loss, clip_loss(a, b, logit_scale=model.logit_scale).loss)
    with pytest.raises(ParameterError, match="positives"):
        _clip(("audio", "text"), positives="caption")
    with pytest.raises(ParameterError, match="needs labels"):
        by_label({k: v for k, v in batch.items() if k != "label"})


def test_vsepp_passes_the_text_positives_too():
    from polysense.losses import vsepp_loss
    from polysense.models.paradigms.vsepp import VSEPP

    torch.manual_seed(0)
    model = VSEPP(embed_dim=8, **doubles(("image", "text")))
    batch = paired_batch(("image", "text"))
    batch["text"] = ["x", "y", "x", "z", "y", "w", "v", "u"]
    out = model(batch)
    same = torch.tensor([[s == t for t in batch["text"]] for s in batch["text"]])
    expected = vsepp_loss(out.embeddings["image"], out.embeddings["text"], positive_mask=same)
    torch.testing.assert_close(out.loss, expected.loss)


def test_a_text_tower_exposes_its_tokenizer(tmp_path):
    from polysense.models.encoders.tokenizer import train_tokenizer

    tokenizer = train_tokenizer(["the digit one", "the digit two", "a dog barks"], vocab_size=300)
    path = tokenizer.save(tmp_path / "tokenizer.json")
    text = {"name": "text_transformer", "tokenizer": str(path), "dim": 16, "depth": 1, "heads": 2}
    model = build("model", {"name": "clip", "embed_dim": 8, "image": {"name": "image_cnn", "dim": 8}, "text": text})
    assert model.tokenizer.vocab_size == tokenizer.vocab_size == model.encoders["text"].vocab_size
    assert model.encoders["text"].pad_id == tokenizer.pad_id
    # a table larger than the tokenizer (trained towards a vocab_size it did not reach) is fine
    assert build("encoder", {**text, "vocab_size": 1000}).vocab_size == 1000
    with pytest.raises(ParameterError, match="smaller than the tokenizer"):
        build("encoder", {**text, "vocab_size": 10})
    no_tokenizer = build("model", {"name": "clip", "embed_dim": 8, "image": {"name": "image_cnn", "dim": 8},
                                   "text": ENCODERS["text"]})
    assert no_tokenizer.tokenizer is None
    assert build("model", {"name": "clip", "embed_dim": 8, "image": {"name": "image_cnn", "dim": 8},
                           "audio": ENCODERS["audio"]}).tokenizer is None
    vilt = build("model", {"name": "vilt", "depth": 1, "heads": 2, "text": {**text, "depth": 0},
                           "image": {"name": "image_vit", "image_size": 16, "patch_size": 8, "dim": 16, "depth": 0}})
    assert vilt.tokenizer is model.encoders["text"].tokenizer or vilt.tokenizer.vocab_size == tokenizer.vocab_size
    assert vilt.mask_token_id == tokenizer.mask_id
