"""ALBEF (polysense.models.paradigms.albef) built from configs with the project's real encoders:
the ITC loss against its formula (momentum keys, queue, soft targets), the momentum encoders
and queues during training, the alpha ramp, hard negatives never positive, overfitting 8 pairs,
gradients, audio-text, and bad configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F

from polysense.errors import ParameterError
from polysense.losses.matching import duplicate_mask
from polysense.models.paradigms.albef import ALBEF
from polysense.models.output import ModelOutput
from polysense.models.registry import build
from tests._multiprocess import run_in_processes
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


def albef_config(visual: str = "image", **overrides) -> dict:
    visual_config = image_config() if visual == "image" else audio_config()
    return {"name": "albef", "embed_dim": 16, "fusion_depth": 1, "heads": 2, "queue_size": 12,
            "alpha_warmup_steps": 4, visual: visual_config, "text": text_config(), **overrides}


def _momentum_features(model: ALBEF, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    twin = model.momentum_model
    with torch.no_grad():
        visual = twin["visual_proj"](model.encode_visual(batch, encoder=twin["visual"]).pooled)
        text = twin["text_proj"](twin["text"](batch["input_ids"], batch["text_mask"]).pooled)
    return visual, text


def test_builds_from_config_and_returns_typed_output():
    torch.manual_seed(0)
    model = build("model", albef_config())
    assert isinstance(model, ALBEF)
    out = model(image_text_batch())
    assert isinstance(out, ModelOutput)
    assert set(out.losses) == {"itc", "itm", "mlm"}
    torch.testing.assert_close(out.loss, sum(out.losses.values()))
    assert {"itm_accuracy", "mlm_accuracy", "alpha", "logit_scale"} <= set(out.metrics)
    assert out.metrics["logit_scale"].item() == pytest.approx(1 / 0.07, rel=1e-5)
    embeddings = model.embed(image_text_batch())
    assert embeddings["image"].shape == embeddings["text"].shape == (8, 16)
    torch.testing.assert_close(embeddings["text"].norm(dim=1), torch.ones(8))


@pytest.mark.parametrize("queued", [0, 5])
def test_itc_equals_formula_with_momentum_keys_queue_and_soft_targets(queued):
    torch.manual_seed(0)
    model = build("model", albef_config(alpha=0.4)).eval()  # eval: no EMA step, alpha at its final value
    batch = image_text_batch()
    gen = torch.Generator().manual_seed(1)
    model.visual_queue.enqueue(F.normalize(torch.randn(queued, 16, generator=gen), dim=1))
    model.text_queue.enqueue(F.normalize(torch.randn(queued, 16, generator=gen), dim=1))
    with torch.no_grad():
        # perturb the online model so it differs from its momentum twin
        for p in model.text_proj.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=gen))
        out = model(batch)
        v = model.visual_proj(model.encode_visual(batch).pooled)
        t = model.text_proj(model.encode_text(batch["input_ids"], batch["text_mask"]).pooled)
        v_m, t_m = _momentum_features(model, batch)
        keys_t = torch.cat([t_m, model.text_queue.features()])
        keys_v = torch.cat([v_m, model.visual_queue.features()])
        s = 1 / 0.07
        eye = torch.eye(8, 8 + queued)

        def direction(queries, queries_m, keys):
            targets = 0.4 * (s * queries_m @ keys.T).softmax(1) + 0.6 * eye
            return -(targets * (s * queries @ keys.T).log_softmax(1)).sum(1).mean()

        expected = (direction(v, v_m, keys_t) + direction(t, t_m, keys_v)) / 2
    assert out.losses["itc"].item() == pytest.approx(expected.item(), rel=1e-5)


def test_training_updates_momentum_by_ema_and_gives_it_no_gradient():
    torch.manual_seed(0)
    model = build("model", albef_config())
    with torch.no_grad():
        for p in model.text.parameters():
            p.add_(0.05 * torch.randn_like(p))
    before = {k: v.clone() for k, v in model.momentum_model.named_parameters()}
    online = {f"{part}.{k}": v.detach().clone() for part in ("visual", "visual_proj", "text", "text_proj")
              for k, v in getattr(model, part).named_parameters()}
    model.train()
    out = model(image_text_batch())
    out.loss.backward()
    for name, p in model.momentum_model.named_parameters():
        expected = 0.995 * before[name] + 0.005 * online[name]
        torch.testing.assert_close(p, expected, rtol=1e-6, atol=1e-7)
        assert not p.requires_grad and p.grad is None
    assert all(p.grad is not None for p in model.text.parameters())


def test_queues_hold_the_last_momentum_features_in_order():
    torch.manual_seed(0)
    model = build("model", albef_config(queue_size=12))
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    recorded = []
    for seed in range(3):
        batch = image_text_batch(seed=seed)
        out = model.train()(batch)
        recorded.append(_momentum_features(model, batch))  # the twin is unchanged since the forward
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        assert len(model.text_queue) == min(8 * (seed + 1), 12)
    # 8 + 8 + 8 features through 12 slots: the last 4 of step 2, then all 8 of step 3
    expected_visual = torch.cat([recorded[1][0][4:], recorded[2][0]])
    expected_text = torch.cat([recorded[1][1][4:], recorded[2][1]])
    torch.testing.assert_close(model.visual_queue.features(), expected_visual)
    torch.testing.assert_close(model.text_queue.features(), expected_text)


def test_eval_forward_changes_no_state():
    torch.manual_seed(0)
    model = build("model", albef_config())
    train(model, image_text_batch(), steps=2, lr=1e-3)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    model.eval()
    with torch.no_grad():
        model(image_text_batch(seed=5))
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key
    assert int(model.step) == 2


def test_alpha_ramps_up_over_the_warmup_steps():
    torch.manual_seed(0)
    model = build("model", albef_config(alpha=0.4, alpha_warmup_steps=4))
    batch = image_text_batch()
    alphas = []
    for _ in range(6):
        out = model.train()(batch)
        alphas.append(out.metrics["alpha"].item())
    assert alphas == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4, 0.4])
    assert model.eval()(batch).metrics["alpha"].item() == pytest.approx(0.4)


def test_hard_negatives_are_never_positives_even_with_duplicate_captions(monkeypatch):
    import polysense.models.paradigms.albef as albef_module

    draws = []
    original = albef_module.sample_hard_negatives

    def spy(similarity, **kwargs):
        chosen = original(similarity, **kwargs)
        draws.append(chosen)
        return chosen

    monkeypatch.setattr(albef_module, "sample_hard_negatives", spy)
    torch.manual_seed(0)
    model = build("model", albef_config())
    batch = image_text_batch()
    for key in ("input_ids", "text_mask", "word_ids"):
        batch[key][3] = batch[key][0]  # captions 0 and 3 are the same
        batch[key][5] = batch[key][0]  # and 5
    positives = duplicate_mask(batch["input_ids"]) | duplicate_mask(batch["image"])
    assert positives.sum() == 8 + 6
    train(model, batch, steps=25, lr=2e-3)  # the similarities sharpen, the duplicates grow alike
    assert len(draws) == 50
    for chosen in draws:
        assert not positives[torch.arange(8), chosen].any()


def test_overfits_eight_pairs():
    torch.manual_seed(0)
    model = build("model", albef_config())
    batch = image_text_batch()
    losses = train(model, batch, steps=300, lr=2e-3)
    # the ITC part keeps a floor: soft targets and queued negatives are never fitted exactly
    assert sum(losses[-20:]) / 20 < 0.3 * sum(losses[:20]) / 20
    assert all_pairs_accuracy(model, batch) >= 0.95


@pytest.mark.parametrize("visual, make_batch", [("image", image_text_batch), ("audio", audio_text_batch)])
def test_gradients_reach_every_trainable_parameter(visual, make_batch):
    torch.manual_seed(0)
    model = build("model", albef_config(visual, mask_prob=0.5))
    assert_gradients_reach_every_trainable_parameter(model, make_batch())
    assert all(p.grad is None for p in model.momentum_model.parameters())


def test_audio_text_trains_without_queue():
    torch.manual_seed(0)
    model = build("model", albef_config("audio", queue_size=0))
    assert model.visual_queue is None
    losses = train(model, audio_text_batch(), steps=30, lr=2e-3)
    assert sum(losses[-5:]) < sum(losses[:5])


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"image": None}, "exactly one of image, audio"),
        ({"momentum": 1.5}, "momentum"),
        ({"alpha": -0.1}, "alpha"),
        ({"alpha_warmup_steps": 0}, "alpha_warmup_steps"),
        ({"queue_size": -1}, "queue_size"),
        ({"temperature": 0}, "temperature"),
        ({"temperature": 0.001}, "max_scale"),
        ({"embed_dim": 0}, "embed_dim"),
        ({"fusion_depth": 0}, "fusion_depth"),
        ({"loss_weights": {"mrm": 1}}, "unknown objective 'mrm'"),
    ],
)
def test_bad_config_raises_parameter_error(overrides, match):
    with pytest.raises(ParameterError, match=match):
        build("model", {**albef_config(), **overrides})


# --------------------------------------------------------------------------- two processes

WORLD, SIZES = 2, (3, 5)


def _itc_model_and_batch() -> tuple[ALBEF, dict]:
    """The same model (eval: no EMA step, no queue update) and global batch in every process,
    in float64 so that the comparison can be tight."""
    torch.manual_seed(0)
    model = build("model", albef_config(queue_size=6)).eval().double()
    gen = torch.Generator().manual_seed(1)
    model.visual_queue.enqueue(F.normalize(torch.randn(4, 16, generator=gen), dim=1))
    model.text_queue.enqueue(F.normalize(torch.randn(4, 16, generator=gen), dim=1))
    batch = image_text_batch(sum(SIZES))
    return model, dict(batch, image=batch["image"].double())


def _itc_and_grads(model: ALBEF, batch: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    model.zero_grad()
    itc = model(batch).losses["itc"]
    itc.backward()
    return itc.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def _itc_worker(rank: int, reference_loss: torch.Tensor, reference_grads: dict) -> None:
    model, batch = _itc_model_and_batch()
    start, stop = sum(SIZES[:rank]), sum(SIZES[: rank + 1])
    loss, grads = _itc_and_grads(model, {k: v[start:stop] for k, v in batch.items()})
    dist.all_reduce(loss)
    torch.testing.assert_close(loss / WORLD, reference_loss, rtol=1e-10, atol=1e-12)
    assert grads.keys() == reference_grads.keys()
    for name, grad in grads.items():
        dist.all_reduce(grad)  # DistributedDataParallel averages the gradients over processes
        torch.testing.assert_close(grad / WORLD, reference_grads[name], rtol=1e-8, atol=1e-12, msg=name)


def test_itc_over_two_processes_equals_one_process_on_the_global_batch(tmp_path: Path):
    """Momentum keys gathered from both processes, targets offset by rank: the mean of the two
    local losses (and of their gradients) equals the loss of one process on all 8 pairs."""
    model, batch = _itc_model_and_batch()
    reference_loss, reference_grads = _itc_and_grads(model, batch)
    run_in_processes(_itc_worker, world_size=WORLD, store=tmp_path / "store", args=(reference_loss, reference_grads),
                     collective_timeout_s=60, deadline_s=120, name="the 2-process ALBEF test")
