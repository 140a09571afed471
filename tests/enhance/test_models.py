"""The learned models by behaviour: they overfit a tiny batch, gradients reach every parameter,
the registry builds them, and bad inputs get clear errors."""

from __future__ import annotations

import pytest
import torch

from polysense.errors import ParameterError
from polysense.losses.separation import si_sdr
from polysense.models.output import EnhancementOutput
from polysense.models.registry import build_model

from .conftest import noisy_batch, vowel


def _train(model, batch, steps, lr):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    first = None
    for _ in range(steps):
        out = model(batch)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        first = float(out.loss) if first is None else first
    return first, float(out.loss)


@pytest.mark.parametrize("loss", ["si_sdr", "stft_l2", "irm", "ibm"])
def test_mask_unet_overfits_a_tiny_batch(loss):
    torch.manual_seed(0)
    batch = noisy_batch(2, snr_db=0.0)
    model = build_model({"name": "mask_unet", "channels": [4, 8], "loss": loss})
    with torch.no_grad():
        before = float(si_sdr(model.eval()(batch).estimate, batch["clean"]).mean())
    model.train()
    first, last = _train(model, batch, 25, 1e-2)
    assert last < first
    model.eval()
    out = model(batch)
    assert isinstance(out, EnhancementOutput) and out.estimate.shape == batch["noisy"].shape
    after = float(si_sdr(out.estimate, batch["clean"]).mean())
    assert after > before + 3, (before, after)
    assert float(out.metrics["si_sdri"]) == pytest.approx(after - float(si_sdr(batch["noisy"], batch["clean"]).mean()),
                                                          abs=1e-4)


def test_mask_unet_gradients_reach_every_parameter_and_binary_mask_is_binary():
    torch.manual_seed(0)
    model = build_model({"name": "mask_unet", "channels": [4, 8], "mask": "binary"})
    model(noisy_batch(2)).loss.backward()
    assert all(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in model.parameters())
    model.eval()
    x = noisy_batch(1)["noisy"]
    with torch.no_grad():
        X = model.stft.analyse(x)
        gain = (torch.sigmoid(model.mask_logits(X)[:, 0]) > 0.5).float()  # what evaluation applies: 0 or 1
        torch.testing.assert_close(model.enhance(x), model.stft.synthesise(gain * X, x.shape[-1]))
        torch.testing.assert_close(model({"noisy": x}).estimate, model.enhance(x))


def test_conv_tasnet_overfits_two_sources_and_is_permutation_invariant():
    torch.manual_seed(0)
    a, b = vowel(0.25, f0=110.0, pad_s=0.02), vowel(0.25, f0=230.0, pad_s=0.02)
    sources = torch.stack([torch.stack([a, b]), torch.stack([b, 0.7 * a])]).float()
    batch = {"mixture": sources.sum(1), "sources": sources}
    model = build_model({"name": "conv_tasnet", "enc_channels": 16, "bottleneck": 16, "hidden": 16, "blocks": 3,
                         "repeats": 1})
    first, last = _train(model, batch, 60, 5e-3)
    assert last < first - 5  # dB of PIT SI-SDR gained
    swapped = {"mixture": batch["mixture"], "sources": sources.flip(1)}
    model.eval()
    assert float(model(swapped).loss) == pytest.approx(float(model(batch).loss), abs=1e-4)
    assert model.separate(batch["mixture"][0]).shape == (2, batch["mixture"].shape[-1])


@pytest.mark.parametrize("rnn_hidden", [0, 8])
def test_mask_unet_separator_overfits_two_sources_and_its_masks_share_the_mixture(rnn_hidden):
    torch.manual_seed(0)
    a, b = vowel(0.25, f0=110.0, pad_s=0.02), vowel(0.25, f0=230.0, pad_s=0.02)
    sources = torch.stack([torch.stack([a, b]), torch.stack([b, 0.7 * a])]).float()
    batch = {"mixture": sources.sum(1), "sources": sources}
    model = build_model({"name": "mask_unet_separator", "channels": [4, 8], "rnn_hidden": rnn_hidden})
    assert model.kind == "enhancer" and model.num_sources == 2
    first, last = _train(model, batch, 40, 1e-2)
    assert last < first - 5  # dB of PIT SI-SDR gained
    model.eval()
    with torch.no_grad():
        out = model(batch)
        swapped = model({"mixture": batch["mixture"], "sources": sources.flip(1)})
        # softmax masks over sources: the estimates add up to the mixture (up to the ISTFT's rounding)
        torch.testing.assert_close(model.separate(batch["mixture"]).sum(1), batch["mixture"], atol=1e-5, rtol=0)
    assert float(swapped.loss) == pytest.approx(float(out.loss), abs=1e-4)
    torch.testing.assert_close(swapped.estimate, out.estimate.flip(1))  # reordered to the references given
    assert float(out.metrics["si_sdri"]) > 5
    assert model.separate(batch["mixture"][0]).shape == (2, batch["mixture"].shape[-1])


def test_models_refuse_inputs_they_cannot_serve():
    unet = build_model({"name": "mask_unet", "channels": [4]})
    with pytest.raises(ParameterError, match="at least 256"):
        unet({"noisy": torch.randn(1, 100)})
    tasnet = build_model({"name": "conv_tasnet", "enc_channels": 8, "bottleneck": 8, "hidden": 8, "blocks": 1,
                          "repeats": 1})
    with pytest.raises(ParameterError, match="num_sources"):
        tasnet({"mixture": torch.randn(1, 400), "sources": torch.randn(1, 3, 400)})
    deep = build_model({"name": "conv_tasnet", "enc_channels": 8, "bottleneck": 8, "hidden": 8, "blocks": 6,
                        "repeats": 2})
    with pytest.raises(ParameterError, match="receptive field of 2032 samples.*segment_s"):
        deep({"mixture": torch.randn(1, 1000), "sources": torch.randn(1, 2, 1000)})
    deep.eval()
    assert deep({"mixture": torch.randn(1, 1000)}).estimate.shape == (1, 2, 1000)  # inference serves any length
    with pytest.raises(ParameterError, match="loss"):
        build_model({"name": "mask_unet", "loss": "l1"})
    separator = build_model({"name": "mask_unet_separator", "channels": [4], "rnn_hidden": 0})
    with pytest.raises(ParameterError, match="mask_unet_separator needs at least 256"):
        separator({"mixture": torch.randn(1, 100)})
    with pytest.raises(ParameterError, match="num_sources"):
        separator({"mixture": torch.randn(1, 400), "sources": torch.randn(1, 3, 400)})
    with pytest.raises(ParameterError, match="num_sources"):
        build_model({"name": "mask_unet_separator", "num_sources": 1})
