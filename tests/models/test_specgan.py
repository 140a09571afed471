"""specgan: its representation against an independent STFT, seeded and conditioned generation, and
the direction of each alternating step's objective (the discriminator learns to separate and to
classify, the generator learns to fool a fixed discriminator)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from polysense.errors import ParameterError
from polysense.models.registry import build

TINY = {"name": "specgan", "sample_rate": 8000, "num_classes": 2, "n_fft": 64, "hop_length": 16, "frames": 16,
        "latent_dim": 8, "embed_dim": 4, "channels": [8, 4], "discriminator_channels": [8, 16], "feature_mels": 8,
        "griffin_lim_iters": 4}


def _tones(n: int = 16) -> dict:
    """Class 0: 500 Hz, class 1: 2500 Hz, random phase and level, 0.03 s at 8 kHz."""
    g = torch.Generator().manual_seed(0)
    label = torch.arange(n) % 2
    t = torch.arange(480) / 8000
    freq = torch.where(label == 0, 500.0, 2500.0)
    audio = torch.sin(2 * math.pi * freq[:, None] * t + 6.28 * torch.rand(n, 1, generator=g))
    return {"audio": audio * (0.2 + 0.6 * torch.rand(n, 1, generator=g)), "label": label}


def test_the_representation_is_the_log_magnitude_of_an_independent_stft():
    model = build("model", TINY)
    batch = _tones(4)
    s = model.spectrogram(batch["audio"])
    assert s.shape == (4, 1, 32, 16) and float(s.min()) >= -1 and float(s.max()) <= 1
    # reference: NumPy float64, Hann (periodic), centred with zero padding, peak-normalised to 0.5
    x = batch["audio"][:, : model.clip_samples].double().numpy()
    x = 0.5 * x / np.abs(x).max(axis=1, keepdims=True)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(64) / 64)
    padded = np.pad(x, ((0, 0), (32, 32)))
    frames = np.stack([padded[:, m * 16: m * 16 + 64] * window for m in range(16)], axis=-1)  # (B, 64, T)
    magnitude = np.abs(np.fft.rfft(frames, axis=1))[:, :32]
    eps, top = 1e-3, 0.5 * 64 / 4
    expected = np.clip(2 * (np.log(magnitude + eps) - np.log(eps)) / (np.log(top) - np.log(eps)) - 1, -1, 1)
    # tolerance: the float32 STFT's absolute error δ ≈ 1e-6 (sums of O(10)) moves s by at most
    # 2/(ln 8 − ln 1e-3) · δ/ε ≈ 2e-4 at the floor ε = 1e-3; well above it the error is ~1e-6
    np.testing.assert_allclose(s[:, 0].double().numpy(), expected, atol=5e-4)
    loud = expected > -0.5
    np.testing.assert_allclose(s[:, 0].double().numpy()[loud], expected[loud], atol=1e-5)
    # and back: magnitude() inverts the map wherever it was not clipped
    inside = (expected > -1) & (expected < 1)
    back = model.magnitude(s)[:, :32].double().numpy()
    np.testing.assert_allclose(back[inside], magnitude[inside], rtol=1e-4, atol=1e-6)


def test_generation_is_seeded_and_conditioned():
    torch.manual_seed(0)
    model = build("model", TINY).eval()
    label = torch.tensor([0, 1, 0])
    a = model.generate(label, seed=3)
    assert a.shape == (3, model.clip_samples) and bool(torch.isfinite(a).all())
    torch.testing.assert_close(a.abs().amax(-1), torch.full((3,), 0.5))  # peak-normalised
    assert torch.equal(a, model.generate(label, seed=3))
    assert not torch.equal(a, model.generate(label, seed=4))
    # the same z with another label gives another spectrogram: the label reaches the generator
    s0 = model.sample(torch.zeros(2, dtype=torch.long), generator=torch.Generator().manual_seed(0))
    s1 = model.sample(torch.ones(2, dtype=torch.long), generator=torch.Generator().manual_seed(0))
    assert float((s0 - s1).detach().abs().max()) > 1e-4
    with pytest.raises(ParameterError, match=r"labels must be in 0\.\.1"):
        model.generate(torch.tensor([2]))


def test_the_discriminator_step_leaves_the_generator_without_gradient_and_vice_versa():
    torch.manual_seed(0)
    model = build("model", TINY)
    steps = {s.name: s for s in model.training_steps()}
    assert list(steps) == ["discriminator", "generator"]
    model(_tones(), step="discriminator").loss.backward()
    assert all(p.grad is None for p in steps["generator"].parameters)
    assert all(p.grad is not None for p in steps["discriminator"].parameters if p.ndim > 1)
    model.zero_grad(set_to_none=True)
    model(_tones(), step="generator").loss.backward()
    assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in steps["generator"].parameters)


def _train(model, step: str, iterations: int) -> None:
    own = next(s for s in model.training_steps() if s.name == step)
    optimizer = torch.optim.Adam(own.parameters, lr=2e-3, betas=(0.5, 0.9))
    batch = _tones()
    for _ in range(iterations):
        model.zero_grad(set_to_none=True)
        model(batch, step=step).loss.backward()
        optimizer.step()


def test_each_step_learns_its_objective():
    torch.manual_seed(0)
    model = build("model", TINY)
    batch = _tones()
    before = model(batch, step="discriminator")
    _train(model, "discriminator", 40)
    after = model(batch, step="discriminator")
    # the discriminator separates the tones from the (unchanged) generator's output and tells the tones apart
    assert float(after.loss.detach()) < 0.5 * float(before.loss.detach())
    assert float(after.metrics["d_class_accuracy"]) == 1.0
    fooled_before = float(model(batch, step="generator").losses["g_adversarial"].detach())
    _train(model, "generator", 40)
    fooled_after = float(model(batch, step="generator").losses["g_adversarial"].detach())
    # L_G = −E[d(G(z))]: against a fixed discriminator the generator raises its fakes' scores
    assert fooled_after < fooled_before - 0.5


def test_bad_sizes_are_clear_errors():
    with pytest.raises(ParameterError, match="divisible by 2\\^len\\(channels\\)"):
        build("model", {**TINY, "frames": 10})
    model = build("model", {**TINY, "num_speakers": 2})
    with pytest.raises(ParameterError, match="'speaker' indices"):
        model(_tones(), step="generator")


def test_conditional_norm_takes_scale_and_shift_from_the_condition():
    from polysense.train.trainer import declared_steps

    torch.manual_seed(0)
    model = build("model", {**TINY, "conditional_norm": True})
    declared_steps(model)  # every parameter (the norms' condition maps too) belongs to exactly one step
    norm = model.generator.norm0
    with torch.no_grad():
        norm.affine.weight.normal_()
    x = torch.randn(2, norm.norm.num_features, 2, 2)
    condition = torch.randn(2, norm.affine.in_features)
    norm.eval()
    # y = (1 + γ(c))·BN(x) + β(c), BN in eval mode with fresh statistics: x / sqrt(1 + eps)
    gamma, beta = norm.affine(condition).chunk(2, dim=1)
    expected = (1 + gamma[:, :, None, None]) * x / math.sqrt(1 + norm.norm.eps) + beta[:, :, None, None]
    torch.testing.assert_close(norm(x, condition), expected)
    model.train()
    model(_tones(), step="generator").loss.backward()
    assert float(model.generator.blocks[2].affine.weight.grad.abs().sum()) > 0
