"""The one model contract: every registered model is a declared Model (kind, modalities,
shared_space, encode, tokenizer, sample_rate) and returns a ModelOutput (loss/losses/metrics)
whose loss trains it and whose type its kind promises; every model that embeds has ``modalities``
and ``encode(modality, batch) -> (B, D)`` unit-length, whatever its kind; every enhancer returns
its estimate. The trainer and the search index are written against only this. ``CONFIGS`` must
name every registered model."""

from __future__ import annotations

import pytest
import torch

from polysense.losses.separation import si_sdr
from polysense.errors import ParameterError
from polysense.models.contract import MODEL_KINDS, Model
from polysense.models.output import (
    ClassifierOutput,
    EmbeddingOutput,
    EnhancementOutput,
    GenerationOutput,
    MatchOutput,
    ModelOutput,
)
from polysense.models.registry import available, build
from tests.models._entangled_doubles import audio_config, audio_text_batch, image_config, text_config

AUDIO = {"name": "audio_cnn", "sample_rate": 8000, "n_fft": 128, "hop_length": 64, "n_mels": 16,
         "channels": [4], "dim": 16}
TEXT = text_config(dim=16)
PAIR = {"audio": AUDIO, "text": TEXT}


def _batch(n: int = 6) -> dict:
    batch = audio_text_batch(n)
    batch["sample_rate"] = 8000
    batch["label"] = torch.arange(n) % 3
    return batch


def _enhancement_batch(n: int = 3, samples: int = 1024) -> dict:
    g = torch.Generator().manual_seed(0)
    clean = torch.randn(n, samples, generator=g) * 0.3
    noise = torch.randn(n, samples, generator=g) * 0.1
    sources = torch.stack([clean, torch.randn(n, samples, generator=g) * 0.3], dim=1)
    return {"noisy": clean + noise, "clean": clean, "mixture": sources.sum(dim=1), "sources": sources,
            "length": torch.full((n,), samples), "sample_rate": 8000}


CONFIGS = {
    "classifier": {"name": "classifier", "modality": "audio", "encoder": AUDIO, "num_classes": 3},
    "fusion_classifier": {"name": "fusion_classifier", "num_classes": 3, "encoders": PAIR,
                          "fusion": {"name": "late", "combine": "mean"}},
    "late_fusion": {"name": "late_fusion", "num_classes": 3, "encoders": PAIR},
    "early_fusion": {"name": "early_fusion", "num_classes": 3, "encoders": PAIR},
    "hybrid_fusion": {"name": "hybrid_fusion", "num_classes": 3, "width": 8, "depth": 2, "fusion_layer": 1,
                      "heads": 2, "encoders": PAIR},
    "cross_modal_fusion": {"name": "cross_modal_fusion", "num_classes": 3, "hidden_dims": [8], "encoders": PAIR},
    "joint_fusion": {"name": "joint_fusion", "num_classes": 3, "dim": 8, "encoders": PAIR},
    "coordinated_fusion": {"name": "coordinated_fusion", "num_classes": 3, "dim": 8, "encoders": PAIR},
    "clip": {"name": "clip", "embed_dim": 8, "audio": AUDIO, "text": TEXT},
    "vsepp": {"name": "vsepp", "embed_dim": 8, "audio": AUDIO, "text": TEXT},
    "vilbert": {"name": "vilbert", "heads": 2, "co_depth": 1, "audio": audio_config(), "text": text_config()},
    "vilt": {"name": "vilt", "depth": 1, "heads": 2, "audio": audio_config(depth=0), "text": text_config(depth=0)},
    "albef": {"name": "albef", "embed_dim": 8, "heads": 2, "fusion_depth": 1, "queue_size": 0,
              "audio": audio_config(), "text": text_config()},
    "mask_unet": {"name": "mask_unet", "sample_rate": 8000, "n_fft": 128, "hop_length": 32, "channels": [4, 8]},
    "mask_unet_separator": {"name": "mask_unet_separator", "sample_rate": 8000, "n_fft": 128, "hop_length": 32,
                            "channels": [4, 8], "rnn_hidden": 8},
    "conv_tasnet": {"name": "conv_tasnet", "sample_rate": 8000, "enc_channels": 16, "bottleneck": 8, "hidden": 16,
                    "blocks": 2, "repeats": 1},
    "speaker_embedding": {"name": "speaker_embedding", "encoder": AUDIO, "num_speakers": 3, "embed_dim": 8},
    "frame_crnn": {"name": "frame_crnn", "sample_rate": 8000, "num_classes": 3, "n_mels": 16, "channels": [4],
                   "rnn_hidden": 4},
    "ctc_recognizer": {"name": "ctc_recognizer", "encoder": AUDIO, "hidden": 8},
    "specgan": {"name": "specgan", "sample_rate": 8000, "num_classes": 3, "n_fft": 64, "hop_length": 16, "frames": 16,
                "latent_dim": 8, "embed_dim": 4, "channels": [8, 4], "discriminator_channels": [4, 8], "feature_mels": 8},
}
ENHANCERS = {"mask_unet", "mask_unet_separator", "conv_tasnet"}
GENERATORS = {"specgan"}
DETECTORS = {"frame_crnn"}
RECOGNIZERS = {"ctc_recognizer"}
#: What each registered model declares itself to be: its kind and whether its modalities share a space.
KINDS = {
    **{name: ("classifier", False) for name in ("classifier", "fusion_classifier", "late_fusion", "early_fusion",
                                                "hybrid_fusion", "cross_modal_fusion", "joint_fusion",
                                                "coordinated_fusion")},
    "clip": ("embedder", True), "vsepp": ("embedder", True), "albef": ("embedder", True),
    "vilbert": ("matcher", False), "vilt": ("matcher", False),
    **{name: ("enhancer", False) for name in ENHANCERS},
    "speaker_embedding": ("speaker", False), "frame_crnn": ("detector", False), "ctc_recognizer": ("recogniser", False),
    "specgan": ("generator", False),
}
#: The output type each kind promises.
OUTPUTS = {"classifier": ClassifierOutput, "embedder": EmbeddingOutput, "matcher": MatchOutput,
           "enhancer": EnhancementOutput, "speaker": ClassifierOutput, "detector": ModelOutput,
           "recogniser": ModelOutput, "generator": GenerationOutput}


def _recognition_batch() -> dict:
    batch = _batch()
    batch["text"] = ["one", "two three", "four", "five six", "seven", "eight nine zero"]  # digit-word transcripts
    return batch


def _detection_batch() -> dict:
    batch = _batch()
    seconds = batch["audio"].shape[-1] / 8000
    batch["events"] = [[(0.1 * seconds, 0.6 * seconds, k % 3)] for k in range(6)]
    return batch


def test_every_registered_model_is_in_the_contract():
    assert sorted(CONFIGS) == available("model"), "add a tiny config for each new model to CONFIGS"
    assert sorted(KINDS) == available("model"), "declare each new model's kind in KINDS"


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_model_declares_what_it_is(name):
    model = build("model", CONFIGS[name])
    kind, shared = KINDS[name]
    assert isinstance(model, Model) and model.kind == kind and kind in MODEL_KINDS
    assert model.shared_space is shared
    assert isinstance(model.modalities, tuple) and (len(model.modalities) >= 2 or not shared)
    assert model.tokenizer is None or hasattr(model.tokenizer, "batch_encode")
    assert model.sample_rate == 8000  # every model here takes audio, at 8 kHz
    if not model.modalities:  # a model that embeds nothing refuses to, saying so
        with pytest.raises(ParameterError, match="embeds no modality"):
            model.encode("audio", _batch())


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_model_returns_the_base_output_and_its_loss_trains_it(name):
    torch.manual_seed(0)
    model = build("model", CONFIGS[name])
    batch = (_enhancement_batch() if name in ENHANCERS else _detection_batch() if name in DETECTORS
             else _recognition_batch() if name in RECOGNIZERS else _batch())
    out = model(batch)
    assert isinstance(out, OUTPUTS[model.kind]), f"a {model.kind} returns a {OUTPUTS[model.kind].__name__}"
    assert out.loss is not None and out.loss.ndim == 0 and torch.isfinite(out.loss)
    assert out.losses and all(v.ndim == 0 for v in out.losses.values())
    assert all(not v.requires_grad for v in out.metrics.values())
    out.loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert any(g is not None and bool(g.abs().sum() > 0) for g in grads), "the loss reaches no parameter"
    assert all(g is None or bool(torch.isfinite(g).all()) for g in grads)
    if isinstance(out, ClassifierOutput):
        assert out.logits.shape == (6, 3)
        expected = (out.logits.argmax(-1) == batch["label"]).float().mean()
        torch.testing.assert_close(out.metrics["accuracy"], expected)
    if isinstance(out, EmbeddingOutput):  # the pair's similarity, rows the first modality
        a, b = model.modalities
        assert set(out.embeddings) == {a, b} and out.similarity.shape == (6, 6)
        scale = out.similarity[0, 0] / (out.embeddings[a][0] @ out.embeddings[b][0])
        torch.testing.assert_close(out.similarity, scale * out.embeddings[a] @ out.embeddings[b].T)
    if isinstance(out, MatchOutput):  # the ITM scores of the pairs it judged, matched and not
        assert out.match_logits.shape == (out.match_labels.shape[0], 2) and set(out.match_labels.tolist()) <= {0, 1}
        accuracy = (out.match_logits.argmax(-1) == out.match_labels).float().mean()
        torch.testing.assert_close(out.metrics["itm_accuracy"], accuracy)
    if isinstance(out, GenerationOutput):
        assert out.generated.shape[0] == 6 and set(out.features) == {"generated", "real"}
        assert out.features["generated"].shape == out.features["real"].shape


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_every_detector_returns_frame_logits_and_events(name):
    torch.manual_seed(0)
    model = build("model", CONFIGS[name]).eval()
    batch = _detection_batch()
    with torch.no_grad():
        out = model(batch)
    assert out.frame_logits.shape[:2] == out.frame_mask.shape and out.frame_logits.shape[0] == 6
    assert len(out.events) == 6 and "event_f1" in out.metrics and model.modalities == ()


@pytest.mark.parametrize("name", sorted(set(CONFIGS) - ENHANCERS - DETECTORS - GENERATORS))
def test_every_model_that_embeds_encodes_unit_vectors(name):
    torch.manual_seed(0)
    model = build("model", CONFIGS[name]).eval()
    batch = _batch()
    assert model.modalities
    for modality in model.modalities:
        with torch.no_grad():
            embedding = model.encode(modality, batch)
        assert embedding.ndim == 2 and embedding.shape[0] == 6
        torch.testing.assert_close(embedding.norm(dim=-1), torch.ones(6))


@pytest.mark.parametrize("name", sorted(ENHANCERS))
def test_every_enhancer_returns_its_estimate_and_scores_it(name):
    torch.manual_seed(0)
    model = build("model", CONFIGS[name]).eval()
    batch = _enhancement_batch()
    with torch.no_grad():
        out = model(batch)
    assert isinstance(out, EnhancementOutput) and model.modalities == ()
    separator = name != "mask_unet"
    reference = batch["sources"] if separator else batch["clean"]
    assert out.estimate.shape == reference.shape and bool(torch.isfinite(out.estimate).all())
    # the metric is the SI-SDR of the estimate against the reference (for a separator: under the
    # assignment the output reorders to), and the improvement is over the input itself
    mixture = batch["mixture"].unsqueeze(1).expand_as(reference) if separator else batch["noisy"]
    torch.testing.assert_close(out.metrics["si_sdr"], si_sdr(out.estimate, reference).mean())
    torch.testing.assert_close(out.metrics["si_sdri"], out.metrics["si_sdr"] - si_sdr(mixture, reference).mean())


@pytest.mark.parametrize("name", ["classifier", "late_fusion"])
def test_a_classifier_without_labels_has_logits_and_no_loss(name):
    model = build("model", CONFIGS[name])
    batch = {k: v for k, v in _batch().items() if k != "label"}
    out = model(batch)
    assert out.loss is None and out.losses == {} and out.metrics == {} and out.logits.shape == (6, 3)


def test_entangled_encode_is_the_unimodal_tower_and_albef_projects_it():
    torch.manual_seed(0)
    batch = _batch()
    vilt = build("model", CONFIGS["vilbert"]).eval()
    expected = vilt.text(batch["input_ids"], batch["text_mask"]).pooled
    torch.testing.assert_close(vilt.encode("text", batch), torch.nn.functional.normalize(expected, dim=-1))
    albef = build("model", CONFIGS["albef"]).eval()
    assert albef.modalities == ("audio", "text")
    visual = albef.visual_proj(albef.visual(batch["audio"], batch["audio_mask"]).pooled)
    torch.testing.assert_close(albef.encode("audio", batch), visual)  # the ITC space, unit already
    assert albef.encode("audio", batch).shape == (6, 8)


def test_single_modality_classifier_overfits_a_tiny_batch():
    """Behaviour, not shapes: one encoder + head learns 6 labelled tones."""
    torch.manual_seed(0)
    model = build("model", CONFIGS["classifier"])
    batch = _batch()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(60):
        optimizer.zero_grad()
        out = model(batch)
        first = float(out.loss.detach()) if first is None else first
        out.loss.backward()
        optimizer.step()
    # train mode: the CNN's BatchNorm running statistics lag behind 60 steps of a 6-item batch
    out = model(batch)
    assert float(out.metrics["accuracy"]) == 1.0 and float(out.loss.detach()) < 0.25 * first


def test_classifier_config_errors_are_clear():
    from polysense.errors import ParameterError

    with pytest.raises(ParameterError, match="modality name"):
        build("model", {**CONFIGS["classifier"], "modality": "an audio"})
    with pytest.raises(ParameterError, match="in_dim"):
        build("model", {**CONFIGS["classifier"], "head": {"name": "linear", "in_dim": 3}})
    with pytest.raises(ParameterError, match="'classifier' model"):
        build("model", {"name": "late_fusion", "num_classes": 3, "encoders": {"audio": AUDIO}})
    model = build("model", CONFIGS["classifier"])
    with pytest.raises(ParameterError, match="no audio input"):
        model({"input_ids": torch.zeros(2, 3, dtype=torch.long)})
    with pytest.raises(ParameterError, match="not one of"):
        model.encode("text", _batch())


def test_image_classifier_is_a_config_too():
    model = build("model", {"name": "classifier", "modality": "image", "encoder": image_config(dim=16),
                            "num_classes": 2, "head": {"name": "mlp", "hidden_dims": [8]}})
    out = model({"image": torch.randn(3, 3, 16, 16), "label": torch.tensor([0, 1, 0])})
    assert out.logits.shape == (3, 2) and set(out.losses) == {"cross_entropy"}


def test_classifier_label_smoothing_equals_the_smoothed_formula():
    import torch.nn.functional as F

    from polysense.errors import ParameterError
    from polysense.models.registry import build_model

    torch.manual_seed(0)
    model = build_model({"name": "classifier", "modality": "image", "num_classes": 3, "label_smoothing": 0.1,
                         "encoder": {"name": "image_cnn", "channels": [4], "dim": 8}}).double()
    batch = {"image": torch.randn(5, 3, 8, 8, dtype=torch.float64), "label": torch.tensor([0, 1, 2, 1, 0])}
    out = model(batch)
    targets = 0.9 * F.one_hot(batch["label"], 3).double() + 0.1 / 3
    expected = -(targets * out.logits.log_softmax(dim=-1)).sum(dim=-1).mean()
    assert torch.allclose(out.loss, expected, atol=1e-12)
    with pytest.raises(ParameterError, match="label_smoothing=1"):
        build_model({"name": "classifier", "modality": "image", "num_classes": 3, "label_smoothing": 1.0,
                     "encoder": {"name": "image_cnn"}})


def test_registration_refuses_a_model_that_declares_nothing_or_an_unknown_kind():
    from polysense.models.registry import register

    class Bare(torch.nn.Module):
        pass

    class Unknown(Model):
        kind = "oracle"

    with pytest.raises(ParameterError, match="is not a polysense.models.contract.Model"):
        register("model", "test-bare")(Bare)
    with pytest.raises(ParameterError, match="kind='oracle'"):
        register("model", "test-unknown")(Unknown)
    assert "test-bare" not in available("model") and "test-unknown" not in available("model")


@pytest.mark.parametrize("name", sorted(n for n, (kind, _) in KINDS.items() if kind == "embedder"))
def test_every_embedder_outputs_the_embeddings_encode_gives(name):
    """What lets the inference path take an EmbeddingOutput's embeddings instead of encoding again."""
    torch.manual_seed(0)
    model = build("model", CONFIGS[name]).eval()
    batch = _batch()
    with torch.no_grad():
        out = model(batch)
        for modality in model.modalities:
            torch.testing.assert_close(out.embeddings[modality], model.encode(modality, batch))
