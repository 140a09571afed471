"""Image encoders: ViT-style patch transformer (ViLT's embedder) and the small CNN."""

from __future__ import annotations

import pytest
import torch

from polysense.errors import ParameterError
from polysense.models.encoders.base import EncoderOutput
from polysense.models.encoders.image import ImageCNN, ImageViT
from polysense.models.registry import build

VIT = {"name": "image_vit", "image_size": 16, "patch_size": 4, "dim": 16, "depth": 2, "heads": 2}
CNN = {"name": "image_cnn", "channels": [4, 8], "dim": 12}


@pytest.fixture
def images(rng):
    return torch.randn(3, 3, 16, 16, generator=rng)


def test_build_from_plain_dicts():
    assert isinstance(build("encoder", VIT), ImageViT)
    assert isinstance(build("encoder", CNN), ImageCNN)


def test_vit_shapes_mask_and_pooled(images):
    encoder = build("encoder", VIT).eval()
    out = encoder(images)
    assert isinstance(out, EncoderOutput)
    assert out.tokens.shape == (3, 1 + 16, 16) and encoder.dim == 16
    assert out.mask.dtype == torch.bool and out.mask.all()
    torch.testing.assert_close(out.pooled, out.tokens[:, 0])  # [CLS]
    mean = build("encoder", {**VIT, "pool": "mean"}).eval()
    mean.load_state_dict(encoder.state_dict())
    torch.testing.assert_close(mean(images).pooled, out.tokens[:, 1:].mean(1))


def test_vit_patch_tokens_are_a_linear_projection(images):
    encoder = build("encoder", {**VIT, "depth": 0}).eval()
    tokens, _ = encoder.embed(images)
    patch = images[:, :, 4:8, 0:4].reshape(3, -1)  # grid cell (1, 0) = token 1 + 4
    expected = patch @ encoder.patch_embed.proj.weight.T + encoder.patch_embed.proj.bias + encoder.pos_embed[0, 5]
    torch.testing.assert_close(tokens[:, 5], expected)


def test_vit_other_image_sizes_interpolate_positions(rng):
    encoder = build("encoder", VIT).eval()
    out = encoder(torch.randn(2, 3, 24, 12, generator=rng))
    assert out.tokens.shape == (2, 1 + 6 * 3, 16)
    torch.testing.assert_close(encoder.position_embeddings((4, 4)), encoder.pos_embed)


@pytest.mark.parametrize("config", [VIT, CNN], ids=["vit", "cnn"])
def test_batch_consistency(config, images):
    encoder = build("encoder", config).eval()
    batch = encoder(images).pooled
    one_by_one = torch.cat([encoder(images[i : i + 1]).pooled for i in range(3)])
    torch.testing.assert_close(batch, one_by_one, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("config", [VIT, CNN], ids=["vit", "cnn"])
def test_gradients_reach_every_parameter(config, images):
    encoder = build("encoder", config).train()
    out = encoder(images)
    (out.tokens.sum() + out.pooled.sum()).backward()
    for name, parameter in encoder.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_cnn_tokens_are_spatial_cells(images):
    encoder = build("encoder", CNN).eval()
    out = encoder(images)
    assert out.tokens.shape == (3, 4 * 4, 12) and encoder.dim == 12  # 16 -> 8 -> 4
    torch.testing.assert_close(out.pooled, out.tokens.mean(1))
    odd = encoder(torch.randn(1, 3, 15, 9))  # ceil-mode pooling keeps the edges
    assert odd.tokens.shape == (1, 4 * 3, 12)


@pytest.mark.parametrize(
    "config, message",
    [
        ({**VIT, "dim": 15}, "divisible"),
        ({**VIT, "patch_size": 0}, "patch_size"),
        ({**VIT, "pool": "max"}, "pool"),
        ({**VIT, "colour": True}, "unexpected keyword"),
        ({**CNN, "channels": []}, "channels"),
        ({**CNN, "dim": -1}, "dim"),
    ],
)
def test_bad_configs_raise_parameter_error(config, message):
    with pytest.raises(ParameterError, match=message):
        build("encoder", config)


def test_bad_inputs_raise_parameter_error():
    encoder = build("encoder", CNN)
    with pytest.raises(ParameterError, match=r"\(batch, 3, height, width\)"):
        encoder(torch.randn(3, 16, 16))
    with pytest.raises(ParameterError, match="float"):
        build("encoder", VIT)(torch.zeros(1, 3, 16, 16, dtype=torch.uint8))


@pytest.mark.parametrize("config", [VIT, CNN], ids=["vit", "cnn"])
def test_encoder_with_a_linear_head_overfits_a_tiny_batch(config, images):
    torch.manual_seed(0)
    encoder = build("encoder", config).train()
    head = torch.nn.Linear(encoder.dim, 3)
    labels = torch.tensor([0, 1, 2])
    optimizer = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=1e-2)
    for _ in range(40):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(head(encoder(images).pooled), labels)
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.1
