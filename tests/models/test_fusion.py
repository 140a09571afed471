"""Fusion strategies: forward semantics by hand, missing modalities, gradients, overfitting, configs.

Most tests use tiny test-double encoders (a Linear map of a feature vector to a few tokens) so
every number can be recomputed by hand; one test builds the classifier from F's real audio and
image encoders.
"""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from polysense.errors import ParameterError
from polysense.evaluate.missing_modality import evaluate_missing_modality
from polysense.losses.contrastive import clip_loss
from polysense.models.encoders.base import EncoderOutput
from polysense.models.classifier import FusionClassifier
from polysense.models.encoders.features import FeatureInput
from polysense.models.fusion import (
    CoordinatedFusion,
    CrossModalFusion,
    EarlyFusion,
    HybridFusion,
    JointFusion,
    LateFusion,
)
from polysense.models.registry import build

NUM_CLASSES = 4


class VectorEncoder(nn.Module):
    """Test double: a (B, in_dim) feature vector → ``seq`` tokens of width ``dim`` (one Linear),
    all real; pooled = mean of the tokens."""

    def __init__(self, in_dim: int, dim: int, seq: int = 3) -> None:
        super().__init__()
        self.dim, self.seq = dim, seq
        self.linear = nn.Linear(in_dim, dim * seq)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> EncoderOutput:
        tokens = torch.tanh(self.linear(x)).view(x.shape[0], self.seq, self.dim)
        real = torch.ones(x.shape[0], self.seq, dtype=torch.bool)
        return EncoderOutput(tokens=tokens, mask=real, pooled=tokens.mean(dim=1))


def encoders():
    return {"a": VectorEncoder(5, 6), "b": VectorEncoder(7, 4)}


def make_batch(n: int = 8, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {
        "a": torch.randn(n, 5, generator=g),
        "b": torch.randn(n, 7, generator=g),
        "label": torch.arange(n) % NUM_CLASSES,
    }


#: one config per fusion strategy (and per late-fusion combination rule), tiny widths
MODELS = {
    "early": {"name": "early_fusion", "head": {"name": "mlp", "hidden_dims": [16]}},
    "late_mean": {"name": "late_fusion", "combine": "mean"},
    "late_weighted": {"name": "late_fusion", "combine": "weighted"},
    "late_vote": {"name": "late_fusion", "combine": "vote"},
    "hybrid": {"name": "hybrid_fusion", "width": 8, "depth": 2, "fusion_layer": 1, "heads": 2},
    "cross_modal": {"name": "cross_modal_fusion", "hidden_dims": [8]},
    "joint": {"name": "joint_fusion", "dim": 8},
    "coordinated_cosine": {"name": "coordinated_fusion", "dim": 8, "constraint": "cosine"},
    "coordinated_contrastive": {"name": "coordinated_fusion", "dim": 8, "constraint": "contrastive"},
}


def make_model(key: str, seed: int = 0, **overrides) -> FusionClassifier:
    torch.manual_seed(seed)
    config = {**MODELS[key], "encoders": encoders(), "num_classes": NUM_CLASSES, **overrides}
    return build("model", config)


def by_hand_features(model: FusionClassifier, batch: dict) -> dict[str, EncoderOutput]:
    return {m: model.encoders[m](batch[m]) for m in model.modalities}


# --------------------------------------------------------------------------- forward semantics


def test_early_fusion_concatenates_pooled_features():
    model = make_model("early").eval()
    batch = make_batch()
    out = model(batch)
    features = by_hand_features(model, batch)
    expected = torch.cat([features["a"].pooled, features["b"].pooled], dim=-1)
    torch.testing.assert_close(out.fused, expected)  # reference: torch.cat by hand
    torch.testing.assert_close(out.logits, model.head(expected))
    assert model.fusion.dim == 6 + 4


def test_early_fusion_fills_a_missing_modality_with_its_vector():
    model = make_model("early").eval()
    with torch.no_grad():
        model.fusion.missing["b"].copy_(torch.arange(4.0))
    batch = make_batch()
    batch["b_present"] = torch.tensor([False, True] * 4)
    out = model(batch)
    torch.testing.assert_close(out.fused[0, 6:], torch.arange(4.0))
    torch.testing.assert_close(out.fused[1, 6:], by_hand_features(model, batch)["b"].pooled[1])
    zeros = EarlyFusion({"a": 6, "b": 4}, missing="zeros")
    assert not any(p.requires_grad for p in zeros.parameters())


def test_late_mean_equals_the_mean_of_per_modality_probabilities():
    model = make_model("late_mean").eval()
    batch = make_batch()
    out = model(batch)
    features = by_hand_features(model, batch)
    p_a = model.fusion.heads["a"](features["a"].pooled).softmax(-1)
    p_b = model.fusion.heads["b"](features["b"].pooled).softmax(-1)
    torch.testing.assert_close(out.logits.exp(), (p_a + p_b) / 2)  # reference: the mean by hand


def test_late_weighted_with_given_weights_by_hand():
    model = make_model("late_mean", combine="weighted", weights={"a": 3.0, "b": 1.0}).eval()
    batch = make_batch()
    out = model(batch)
    features = by_hand_features(model, batch)
    p_a = model.fusion.heads["a"](features["a"].pooled).softmax(-1)
    p_b = model.fusion.heads["b"](features["b"].pooled).softmax(-1)
    torch.testing.assert_close(out.logits.exp(), 0.75 * p_a + 0.25 * p_b)
    # a missing modality: the remaining weights are renormalised (here: b alone)
    batch["a_present"] = torch.tensor([False] + [True] * 7)
    torch.testing.assert_close(model(batch).logits[0].exp(), p_b[0])


def test_late_learned_weights_are_a_softmax_and_start_equal():
    model = make_model("late_weighted")
    torch.testing.assert_close(model.fusion.modality_weights(), torch.tensor([0.5, 0.5]))
    with torch.no_grad():
        model.fusion.weight_logits.copy_(torch.tensor([math.log(3.0), 0.0]))
    torch.testing.assert_close(model.fusion.modality_weights(), torch.tensor([0.75, 0.25]))


def identity_late_fusion(modalities, combine, **kwargs) -> LateFusion:
    """Late fusion whose per-modality 'classifiers' are the identity: features are logits."""
    fusion = LateFusion({m: 3 for m in modalities}, num_classes=3, combine=combine, **kwargs)
    fusion.heads = nn.ModuleDict({m: nn.Identity() for m in modalities})
    return fusion


def as_features(logits: dict[str, list[list[float]]]) -> dict[str, EncoderOutput]:
    out = {}
    for m, rows in logits.items():
        x = torch.tensor(rows).log()  # rows are probabilities; softmax(log p) = p
        out[m] = FeatureInput(3)(x)
    return out


def test_majority_vote_by_hand_including_ties():
    probs = {
        # sample 0: votes 0, 0, 1      -> 0 (majority)
        # sample 1: votes 2, 1, 1      -> 1 (majority, although 2 is most confident)
        # sample 2: votes 0, 1, (c absent) -> tie 0:1; mean prob of 1 is higher -> 1
        # sample 3: votes 0, 1, 2      -> three-way tie; mean probs 0.4/0.35/0.25 -> 0
        "a": [[0.5, 0.4, 0.1], [0.1, 0.1, 0.8], [0.5, 0.3, 0.2], [0.6, 0.2, 0.2]],
        "b": [[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.8, 0.1], [0.3, 0.5, 0.2]],
        "c": [[0.2, 0.7, 0.1], [0.3, 0.4, 0.3], [0.9, 0.05, 0.05], [0.3, 0.35, 0.35 + 1e-3]],
    }
    present = {m: torch.ones(4, dtype=torch.bool) for m in probs}
    present["c"] = torch.tensor([True, True, False, True])
    fusion = identity_late_fusion(["a", "b", "c"], "vote")
    out = fusion(as_features(probs), present)

    expected = []
    for i in range(4):  # by hand: count votes of the present modalities, ties by mean probability
        voters = [m for m in probs if bool(present[m][i])]
        votes = [0, 0, 0]
        for m in voters:
            row = probs[m][i]
            votes[row.index(max(row))] += 1
        mean = [sum(probs[m][i][c] for m in voters) / len(voters) for c in range(3)]
        best = max(votes)
        tied = [c for c in range(3) if votes[c] == best]
        expected.append(max(tied, key=lambda c: mean[c]))
    assert expected == [0, 1, 1, 0]
    assert out.fused.argmax(-1).tolist() == expected
    torch.testing.assert_close(out.fused.exp().sum(-1), torch.ones(4))  # a distribution


def test_late_fusion_averages_only_present_modalities():
    probs = {"a": [[0.7, 0.2, 0.1]], "b": [[0.1, 0.1, 0.8]]}
    fusion = identity_late_fusion(["a", "b"], "mean")
    both = fusion(as_features(probs), {"a": torch.tensor([True]), "b": torch.tensor([True])})
    torch.testing.assert_close(both.fused.exp(), torch.tensor([[0.4, 0.15, 0.45]]))
    only_a = fusion(as_features(probs), {"a": torch.tensor([True]), "b": torch.tensor([False])})
    torch.testing.assert_close(only_a.fused.exp(), torch.tensor([[0.7, 0.2, 0.1]]))


def test_late_fusion_objective_trains_each_modality_on_its_own():
    model = make_model("late_mean")
    batch = make_batch()
    out = model(batch)
    ce = [F.cross_entropy(out.modality_logits[m], batch["label"]) for m in ("a", "b")]
    torch.testing.assert_close(out.loss, (ce[0] + ce[1]) / 2)


def test_hybrid_fusion_layers_split_at_the_fusion_layer():
    fusion = HybridFusion({"a": 6, "b": 4}, width=8, depth=3, fusion_layer=2, heads=2)
    assert all(len(fusion.specific[m].blocks) == 2 for m in ("a", "b"))
    assert len(fusion.shared.blocks) == 1
    early = HybridFusion({"a": 6, "b": 4}, width=8, depth=3, fusion_layer=0, heads=2)
    assert early.specific is None and len(early.shared.blocks) == 3


def test_hybrid_fusion_mixes_modalities_only_after_the_merge():
    model = make_model("hybrid").eval()
    batch = make_batch()
    fusion = model.fusion
    features = by_hand_features(model, batch)
    x_a = fusion.specific["a"](fusion.projections["a"](features["a"].tokens) + fusion.type_embeddings["a"])
    other = dict(batch, b=torch.randn(8, 7))
    x_a2 = fusion.specific["a"](
        fusion.projections["a"](by_hand_features(model, other)["a"].tokens) + fusion.type_embeddings["a"]
    )
    torch.testing.assert_close(x_a, x_a2)  # the specific layers of a ignore b
    assert not torch.allclose(model(batch).fused, model(other).fused)  # the shared layers do not


def test_cross_modal_loss_is_mse_to_the_detached_target_by_hand():
    model = make_model("cross_modal").eval()
    batch = make_batch()
    out = model(batch)
    features = by_hand_features(model, batch)
    a, b = features["a"].pooled, features["b"].pooled
    mse_ab = (model.fusion.translate("a", "b", a) - b).pow(2).mean()
    mse_ba = (model.fusion.translate("b", "a", b) - a).pow(2).mean()
    torch.testing.assert_close(out.losses["translation"], (mse_ab + mse_ba) / 2)
    torch.testing.assert_close(out.fused, torch.cat([a, b], dim=-1))


def test_cross_modal_cosine_loss_by_hand_and_no_gradient_into_the_target():
    model = make_model("cross_modal", pairs=[["a", "b"]], loss="cosine")
    batch = make_batch()
    out = model(batch)
    features = by_hand_features(model, batch)
    predicted = model.fusion.translate("a", "b", features["a"].pooled)
    expected = (1 - F.cosine_similarity(predicted, features["b"].pooled, dim=-1)).mean()
    torch.testing.assert_close(out.losses["translation"], expected)
    out.losses["translation"].backward()
    assert all(p.grad is None for p in model.encoders["b"].parameters())  # target detached
    assert all(p.grad is not None for p in model.encoders["a"].parameters())


def test_cross_modal_substitutes_the_translation_for_a_missing_modality():
    model = make_model("cross_modal").eval()
    batch = make_batch()
    batch["b_present"] = torch.tensor([False, True] * 4)
    out = model(batch)
    a = by_hand_features(model, batch)["a"].pooled
    translated = model.fusion.translate("a", "b", a)
    torch.testing.assert_close(out.features["b"][0], translated[0])
    torch.testing.assert_close(out.fused[0], torch.cat([a[0], translated[0]]))
    # with b absent from the whole batch the same translation stands in
    absent = {k: v for k, v in batch.items() if k not in ("b", "b_present")}
    torch.testing.assert_close(model(absent).features["b"], translated)


def test_joint_fusion_is_one_shared_space_by_hand():
    model = make_model("joint").eval()
    batch = make_batch()
    batch["a_present"] = torch.tensor([False] + [True] * 7)
    out = model(batch)
    fusion, features = model.fusion, by_hand_features(model, batch)
    z_a = fusion.projections["a"](features["a"].pooled)
    z_b = fusion.projections["b"](features["b"].pooled)
    torch.testing.assert_close(out.fused[1:], fusion.shared(fusion.norm((z_a + z_b) / 2))[1:])
    torch.testing.assert_close(out.fused[0], fusion.shared(fusion.norm(z_b))[0])


def test_coordinated_cosine_constraint_by_hand():
    model = make_model("coordinated_cosine").eval()
    batch = make_batch()
    out = model(batch)
    z_a, z_b = out.features["a"], out.features["b"]
    torch.testing.assert_close(z_a.norm(dim=-1), torch.ones(8))  # a space per modality, unit vectors
    expected = (1 - F.cosine_similarity(z_a, z_b, dim=-1)).mean()
    torch.testing.assert_close(out.losses["constraint"], expected)
    torch.testing.assert_close(out.fused, (z_a + z_b) / 2)


def test_coordinated_contrastive_constraint_is_clip_loss():
    model = make_model("coordinated_contrastive").eval()
    batch = make_batch()
    batch["b_present"] = torch.tensor([True] * 6 + [False] * 2)
    out = model(batch)
    z_a, z_b = out.features["a"][:6], out.features["b"][:6]
    expected = clip_loss(z_a, z_b, logit_scale=1 / 0.07).loss  # only the paired samples
    torch.testing.assert_close(out.losses["constraint"], expected)


# --------------------------------------------------------------------------- missing modalities


@pytest.mark.parametrize("key", list(MODELS))
def test_missing_modality_runs_and_changes_only_the_affected_samples(key):
    model = make_model(key).eval()
    batch = make_batch()
    with torch.no_grad():
        full = model(batch).logits
        masked_batch = dict(batch, b_present=torch.tensor([False, True] * 4))
        masked = model(masked_batch).logits
        # masked samples ignore their (garbage) input; the others are untouched
        scrambled = model(dict(masked_batch, b=torch.where(masked_batch["b_present"][:, None], batch["b"], 99.0))).logits
        absent = model({k: v for k, v in batch.items() if k != "b"}).logits
        all_masked = model(dict(batch, b_present=torch.zeros(8, dtype=torch.bool))).logits
    assert torch.isfinite(masked).all() and torch.isfinite(absent).all()
    torch.testing.assert_close(masked[1::2], full[1::2])
    assert not torch.allclose(masked[0::2], full[0::2])
    torch.testing.assert_close(scrambled, masked)
    torch.testing.assert_close(absent, all_masked)  # an absent input = every sample masked
    torch.testing.assert_close(absent[0::2], masked[0::2])


def test_modality_dropout_drops_in_training_only_and_never_everything():
    model = make_model("joint", modality_dropout=0.6)
    torch.manual_seed(1)
    batch = make_batch(64)
    present = model(batch).present
    stacked = torch.stack([present["a"], present["b"]], dim=1)
    assert bool(stacked.any(dim=1).all())
    assert 0 < int((~stacked).sum()) < 64
    model.eval()
    assert all(bool(p.all()) for p in model(batch).present.values())


# --------------------------------------------------------------------------- training


def partially_missing_batch() -> dict:
    batch = make_batch()
    batch["a_present"] = torch.tensor([False, True, True, True, True, True, True, False])
    batch["b_present"] = torch.tensor([True, False, True, True, True, True, False, True])
    return batch


@pytest.mark.parametrize("key", list(MODELS))
def test_gradients_reach_every_learnable_parameter(key):
    model = make_model(key)
    out = model(partially_missing_batch())
    out.loss.backward()
    missing = [
        name
        for name, p in model.named_parameters()
        if p.requires_grad and (p.grad is None or not bool((p.grad != 0).any()))
    ]
    assert not missing, f"no gradient reaches {missing}"


@pytest.mark.parametrize("key", list(MODELS))
def test_every_fusion_model_overfits_a_tiny_batch(key):
    model = make_model(key, seed=0)
    batch = make_batch(8, seed=1)
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-2)
    accuracy = 0.0
    for step in range(300):
        out = model(batch)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        if step % 10 == 9:
            with torch.no_grad():
                accuracy = float((model.eval()(batch).logits.argmax(-1) == batch["label"]).float().mean())
            model.train()
            if accuracy == 1.0:
                break
    assert accuracy == 1.0, f"{key}: train accuracy {accuracy} after {step + 1} steps"


# --------------------------------------------------------------------------- configs


def test_every_strategy_is_registered_by_name():
    from polysense.models.registry import available

    assert {"early", "late", "hybrid", "cross_modal", "joint", "coordinated"} <= set(available("fusion"))
    names = {"fusion_classifier", "early_fusion", "late_fusion", "hybrid_fusion", "cross_modal_fusion",
             "joint_fusion", "coordinated_fusion"}
    assert names <= set(available("model"))


def test_models_build_from_json_configs_with_nested_encoders():
    config = {
        "name": "fusion_classifier",
        "num_classes": 4,
        "encoders": {"a": {"name": "features", "dim": 5}, "b": {"name": "features", "dim": 7}},
        "fusion": {"name": "late", "combine": "weighted", "weights": [2, 1], "head": {"name": "mlp"}},
        "modality_dropout": 0.1,
    }
    model = build("model", json.loads(json.dumps(config)))
    assert isinstance(model.fusion, LateFusion) and model.fusion.combine == "weighted"
    torch.testing.assert_close(model.fusion.modality_weights(), torch.tensor([2 / 3, 1 / 3]))
    out = model(make_batch())
    assert out.logits.shape == (8, 4) and out.loss is not None
    fusion = build("fusion", {"name": "coordinated", "dims": {"a": 5, "b": 7}, "dim": 4})
    assert isinstance(fusion, CoordinatedFusion) and fusion.dim == 4
    assert isinstance(build("fusion", {"name": "cross_modal", "dims": {"a": 5, "b": 7}}), CrossModalFusion)
    assert isinstance(build("fusion", {"name": "joint", "dims": {"a": 5, "b": 7}}), JointFusion)


def test_fusion_classifier_with_the_real_audio_and_image_encoders():
    config = {
        "name": "hybrid_fusion",
        "num_classes": 3,
        "width": 8,
        "heads": 2,
        "encoders": {
            "audio": {"name": "audio_cnn", "sample_rate": 8000, "n_fft": 128, "hop_length": 64, "n_mels": 16,
                      "channels": [4], "dim": 8},
            "image": {"name": "image_cnn", "channels": [4], "dim": 8},
        },
    }
    model = build("model", config)
    g = torch.Generator().manual_seed(0)
    batch = {
        "audio": torch.randn(4, 2000, generator=g) * 0.1,
        "audio_mask": torch.arange(2000)[None, :] < torch.tensor([2000, 1500, 1000, 2000])[:, None],
        "sample_rate": 8000,
        "image": torch.randn(4, 3, 16, 16, generator=g),
        "image_present": torch.tensor([True, True, False, True]),
        "label": torch.tensor([0, 1, 2, 0]),
    }
    out = model(batch)
    out.loss.backward()
    assert out.logits.shape == (4, 3) and torch.isfinite(out.loss)
    assert all(p.grad is not None for p in model.encoders["audio"].parameters() if p.requires_grad)
    del batch["image_present"]  # dropping audio must leave every sample something
    result = evaluate_missing_modality(model, [batch], how="mask")
    assert set(result) == {"all", "without audio", "without image"}


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"name": "median_fusion"}, "median_fusion"),
        ({"name": "late_fusion", "combine": "median"}, "combine"),
        ({"name": "late_fusion", "combine": "weighted", "weights": [1.0]}, "weights"),
        ({"name": "late_fusion", "combine": "weighted", "weights": [1.0, -1.0]}, "weights"),
        ({"name": "late_fusion", "combine": "weighted", "weights": {"a": 1.0, "c": 1.0}}, "weights"),
        ({"name": "late_fusion", "combine": "mean", "weights": [1.0, 2.0]}, "weights are only used"),
        ({"name": "late_fusion", "head": {"name": "linear"}}, "inside the fusion config"),
        ({"name": "hybrid_fusion", "depth": 2, "fusion_layer": 2}, "fusion_layer=2"),
        ({"name": "hybrid_fusion", "width": 6, "heads": 4}, "divisible"),
        ({"name": "cross_modal_fusion", "pairs": [["a", "c"]]}, "pairs modality"),
        ({"name": "cross_modal_fusion", "pairs": [["a", "a"]]}, "into itself"),
        ({"name": "cross_modal_fusion", "pairs": [["a", "b"], ["a", "b"]]}, "twice"),
        ({"name": "cross_modal_fusion", "loss": "l1"}, "loss"),
        ({"name": "coordinated_fusion", "constraint": "euclid"}, "constraint"),
        ({"name": "joint_fusion", "dim": 0}, "dim=0"),
        ({"name": "early_fusion", "missing": "mean"}, "missing"),
        ({"name": "early_fusion", "bogus_option": 1}, "bogus_option"),
        ({"name": "joint_fusion", "modality_dropout": 1.0}, "modality_dropout"),
        ({"name": "joint_fusion", "num_classes": 0}, "num_classes=0"),
    ],
)
def test_bad_model_configs_raise_parameter_error(overrides, message):
    config = {"name": "joint_fusion", "encoders": encoders(), "num_classes": NUM_CLASSES}
    with pytest.raises(ParameterError, match=message):
        build("model", {**config, **overrides})


def test_bad_classifier_configs_raise_parameter_error():
    with pytest.raises(ParameterError, match="two or more"):
        FusionClassifier({"a": VectorEncoder(5, 6)}, {"name": "joint"}, 3)
    with pytest.raises(ParameterError, match="must not set dims"):
        FusionClassifier(encoders(), {"name": "joint", "dims": {"a": 1, "b": 1}}, 3)
    with pytest.raises(ParameterError, match="'dim'"):
        FusionClassifier({"a": nn.Linear(2, 2), "b": VectorEncoder(7, 4)}, {"name": "joint"}, 3)
    with pytest.raises(ParameterError, match="unknown encoder"):
        FusionClassifier({"a": {"name": "no_such_encoder"}, "b": VectorEncoder(7, 4)}, {"name": "joint"}, 3)
    with pytest.raises(ParameterError, match="num_classes is required"):
        LateFusion({"a": 2, "b": 2})
    with pytest.raises(ParameterError, match="at least two"):
        JointFusion({"a": 2})
