"""Audio encoders: the log-mel CNN and the audio spectrogram transformer (AST).

Padding invariance reference: the same item encoded alone, unpadded; tolerance 1e-5 (eval mode).
"""

from __future__ import annotations

import math

import pytest
import torch

from polysense.errors import ParameterError
from polysense.models.encoders.audio import AudioCNN, AudioSpectrogramTransformer, normalize_features
from polysense.models.encoders.base import EncoderOutput
from polysense.models.layers import lengths_to_mask
from polysense.models.registry import build

SR = 8000
FRONT = {"sample_rate": SR, "n_fft": 128, "hop_length": 64, "n_mels": 16}
CNN = {"name": "audio_cnn", **FRONT, "channels": [4, 8], "dim": 12}
AST = {"name": "audio_spectrogram_transformer", **FRONT, "patch_size": [8, 4], "dim": 16, "depth": 2, "heads": 2,
       "max_frames": 128}
AST_OVERLAP = {**AST, "patch_size": 8, "patch_stride": [4, 3], "pool": "mean"}
CONFIGS = [CNN, AST, AST_OVERLAP]
IDS = ["cnn", "ast", "ast-overlap-mean"]


def _waveforms(rng, lengths=(4000, 2500, 1111)):
    """A padded batch of chirpy tones with noise; returns (waveform (B, T), mask (B, T))."""
    t = torch.arange(max(lengths)) / SR
    rows = []
    for i, n in enumerate(lengths):
        x = 0.5 * torch.sin(2 * math.pi * (300 + 200 * i) * t * (1 + t)) + 0.05 * torch.randn(len(t), generator=rng)
        x[n:] = 0.0
        rows.append(x)
    mask = lengths_to_mask(torch.tensor(lengths), max(lengths))
    return torch.stack(rows).float(), mask


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_build_shapes_and_masks(config, rng):
    encoder = build("encoder", config).eval()
    assert isinstance(encoder, AudioCNN | AudioSpectrogramTransformer)
    waveform, mask = _waveforms(rng)
    out = encoder(waveform, mask)
    assert isinstance(out, EncoderOutput)
    b, s, d = out.tokens.shape
    assert (b, d) == (3, encoder.dim) and out.mask.shape == (3, s) and out.pooled.shape == (3, d)
    assert out.mask.dtype == torch.bool
    real = out.mask.sum(1)
    assert real[0] > real[1] > real[2] > 0  # longer audio, more real tokens
    assert torch.isfinite(out.tokens).all()


def test_frame_mask_follows_valid_lengths(rng):
    encoder = build("encoder", CNN)
    waveform, mask = _waveforms(rng)
    features, frame_mask = encoder.features(waveform, mask)
    assert features.shape[:2] == (3, 16)
    assert frame_mask.sum(1).tolist() == [1 + n // 64 for n in (4000, 2500, 1111)]
    assert (features[~frame_mask.unsqueeze(1).expand_as(features)] == 0).all()  # padded frames zeroed


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_padded_item_equals_unpadded_item(config, rng):
    encoder = build("encoder", config).eval()
    waveform, mask = _waveforms(rng)
    batch = encoder(waveform, mask)
    for i, n in enumerate((4000, 2500, 1111)):
        alone = encoder(waveform[i : i + 1, :n])
        torch.testing.assert_close(batch.pooled[i], alone.pooled[0], atol=1e-5, rtol=1e-5)
        real = batch.mask[i]
        torch.testing.assert_close(batch.tokens[i][real], alone.tokens[0][alone.mask[0]], atol=1e-5, rtol=1e-5)
    # padding content is ignored: garbage after the valid end changes nothing
    noisy = waveform + (~mask) * torch.randn(waveform.shape, generator=rng)
    torch.testing.assert_close(encoder(noisy, mask).pooled, batch.pooled, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_precomputed_features_match_waveform_path(config, rng):
    encoder = build("encoder", config).eval()
    waveform, mask = _waveforms(rng)
    raw, frame_mask = encoder.frontend(waveform, mask)
    from_waveform = encoder(waveform, mask).pooled
    torch.testing.assert_close(encoder(raw, frame_mask).pooled, from_waveform, atol=1e-5, rtol=1e-5)
    features_only = build("encoder", {**config, "input": "log_mel"}).eval()
    assert features_only.frontend is None
    features_only.load_state_dict(encoder.state_dict())
    torch.testing.assert_close(features_only(raw, frame_mask).pooled, from_waveform, atol=1e-5, rtol=1e-5)
    with pytest.raises(ParameterError, match="input='log_mel'"):
        features_only(waveform, mask)


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_gradients_reach_every_parameter(config, rng):
    encoder = build("encoder", config).train()
    waveform, mask = _waveforms(rng)
    out = encoder(waveform, mask)
    (out.pooled.square().sum() + out.tokens.sum()).backward()
    for name, parameter in encoder.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
    assert not any(p.requires_grad for p in encoder.frontend.parameters())  # filter banks are buffers


def test_front_end_moves_with_the_model():
    encoder = build("encoder", CNN)
    buffers = dict(encoder.named_buffers())
    assert any(name.startswith("frontend.") for name in buffers)
    encoder.double()
    out = encoder(torch.randn(1, 2000, dtype=torch.float64))
    assert out.pooled.dtype == torch.float64


def test_ast_patches_are_time_major_with_positions():
    encoder = build("encoder", {**AST, "input": "log_mel", "depth": 0, "normalize": "none"}).eval()
    features = torch.randn(1, 16, 12)
    tokens, mask = encoder.embed(features)
    assert tokens.shape == (1, 1 + 3 * 2, 16) and mask.all()  # 3 time patches x 2 freq patches
    # token 1 + (t=1)*2 + (f=1): frames 4..7 of mel bins 8..15
    patch = features[:, 8:16, 4:8].reshape(1, -1)
    proj = encoder.patch_embed.proj
    expected = patch @ proj.weight.T + proj.bias + encoder.freq_pos[1] + encoder.time_pos[1]
    torch.testing.assert_close(tokens[:, 1 + 1 * 2 + 1], expected)


def test_ast_time_patch_count():
    encoder = build("encoder", {**AST_OVERLAP, "input": "log_mel"})
    frames = torch.tensor([0, 1, 8, 9, 11, 12])
    # fewest patches of 8 every 3 covering the frames
    assert encoder.time_patches(frames).tolist() == [0, 1, 1, 2, 2, 3]


def test_normalize_features_uses_real_frames_only():
    features = torch.randn(2, 4, 6) * 10 + 3
    mask = lengths_to_mask(torch.tensor([6, 3]), 6)
    out = normalize_features(features, mask)
    real = out[1, :, :3]
    assert real.mean().abs() < 1e-5 and (real.std(unbiased=False) - 1).abs() < 1e-3
    assert (out[1, :, 3:] == 0).all()
    torch.testing.assert_close(normalize_features(features, mask, mode="none")[0], features[0])


@pytest.mark.parametrize(
    "config, message",
    [
        ({**CNN, "channels": []}, "channels"),
        ({**CNN, "input": "mfcc"}, "input"),
        ({**CNN, "normalize": "batch"}, "normalize"),
        ({**CNN, "hop_length": 0}, "hop_length"),
        ({**CNN, "f_max_hz": 6000}, "Nyquist"),
        ({**AST, "dim": 15}, "divisible"),
        ({**AST, "patch_size": [32, 4]}, "n_mels"),
        ({**AST, "pool": "max"}, "pool"),
        ({**AST, "patchsize": 4}, "unexpected keyword"),
    ],
)
def test_bad_configs_raise_parameter_error(config, message):
    with pytest.raises(ParameterError, match=message):
        build("encoder", config)


def test_bad_inputs_raise_parameter_error(rng):
    encoder = build("encoder", AST)
    with pytest.raises(ParameterError, match="mask has shape"):
        encoder(torch.randn(2, 1000), torch.ones(2, 999, dtype=torch.bool))
    with pytest.raises(ParameterError, match="n_mels=16"):
        encoder(torch.randn(2, 20, 30))
    with pytest.raises(ParameterError, match="float"):
        encoder(torch.zeros(2, 1000, dtype=torch.int16))
    with pytest.raises(ParameterError, match="max_frames"):
        encoder(torch.randn(1, 64 * 200))


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_encoder_with_a_linear_head_overfits_a_tiny_batch(config, rng):
    torch.manual_seed(0)
    encoder = build("encoder", config).train()
    head = torch.nn.Linear(encoder.dim, 3)
    waveform, mask = _waveforms(rng)
    labels = torch.tensor([0, 1, 2])
    optimizer = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=1e-2)
    for _ in range(40):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(head(encoder(waveform, mask).pooled), labels)
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1
