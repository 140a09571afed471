"""LogMelFrontEnd options (CMVN, speed, VTLP, SpecAugment: training only) and the speech_cnn encoder.

References: the plain front end (training perturbations must vanish in eval mode and at α = 1),
:func:`polysense.signal.cmvn` (float32 tolerance 1e-5), the item encoded alone (padding, 1e-5).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from polysense.errors import ParameterError
from polysense.models.encoders.audio import LogMelFrontEnd
from polysense.models.layers import lengths_to_mask
from polysense.models.registry import build
from polysense.signal import cmvn

SR = 8000
LENGTHS = (4000, 2500, 1111)
FRONT = dict(sample_rate=SR, n_fft=256, hop_length=80, n_mels=24)
SPEECH = {"name": "speech_cnn", "channels": [4, 8], "dim": 16, "n_mels": 24}


def waveforms(seed=0, lengths=LENGTHS):
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(max(lengths)) / SR
    rows = []
    for i, n in enumerate(lengths):
        x = 0.5 * torch.sin(2 * math.pi * (300 + 200 * i) * t * (1 + t)) + 0.05 * torch.randn(len(t), generator=g)
        x[n:] = 0.0
        rows.append(x)
    return torch.stack(rows).float(), lengths_to_mask(torch.tensor(lengths), max(lengths))


def test_cmvn_front_end_gives_zero_mean_unit_variance_per_band_over_real_frames():
    x, mask = waveforms()
    plain, frame_mask = LogMelFrontEnd(**FRONT)(x, mask)
    normed, frame_mask2 = LogMelFrontEnd(**FRONT, normalize="cmvn")(x, mask)
    assert torch.equal(frame_mask, frame_mask2)
    torch.testing.assert_close(normed, cmvn(plain, mask=frame_mask), atol=1e-5, rtol=1e-5)
    for b, n in enumerate(frame_mask.sum(-1).tolist()):
        real = normed[b, :, :n].double()
        assert real.mean(-1).abs().max() < 1e-4
        assert (real.var(-1, unbiased=False) - 1).abs().max() < 1e-2  # σ²/(σ² + 1e-5) on dB scales
        assert bool((normed[b, :, n:] == 0).all())


def test_training_perturbations_are_off_in_eval_mode():
    x, mask = waveforms()
    plain = LogMelFrontEnd(**FRONT, normalize="cmvn").eval()
    perturbed = LogMelFrontEnd(**FRONT, normalize="cmvn", speed_perturb=[0.9, 1.1], vtlp_alpha=[0.9, 1.1],
                               spec_augment={"freq_masks": 2, "time_masks": 2}, seed=0).eval()
    a, ma = plain(x, mask)
    b, mb = perturbed(x, mask)
    assert torch.equal(a, b) and torch.equal(ma, mb)


def test_vtlp_at_alpha_one_in_training_equals_the_plain_front_end():
    x, mask = waveforms()
    plain, frame_mask = LogMelFrontEnd(**FRONT).train()(x, mask)
    warped, warped_mask = LogMelFrontEnd(**FRONT, vtlp_alpha=[1.0, 1.0]).train()(x, mask)
    assert torch.equal(frame_mask, warped_mask)
    torch.testing.assert_close(warped, plain, atol=1e-4, rtol=1e-5)  # dB, float32: two matmul orders


def test_training_perturbations_change_features_keep_masks_and_follow_the_seed():
    x, mask = waveforms()
    kw = dict(**FRONT, normalize="cmvn", vtlp_alpha=[0.9, 1.1], seed=4)
    plain, frame_mask = LogMelFrontEnd(**FRONT, normalize="cmvn").train()(x, mask)
    a, ma = LogMelFrontEnd(**kw).train()(x, mask)
    b, _ = LogMelFrontEnd(**kw).train()(x, mask)
    assert torch.equal(a, b) and torch.equal(ma, frame_mask)
    assert not torch.allclose(a, plain, atol=1e-3)
    # speed perturbation changes the number of real frames; the mask follows it
    fast, fast_mask = LogMelFrontEnd(**FRONT, speed_perturb=[1.2, 1.2]).train()(x, mask)
    expected = [1 + round(n / 1.2) // 80 for n in LENGTHS]
    assert all(abs(a - b) <= 1 for a, b in zip(fast_mask.sum(-1).tolist(), expected))


def test_spec_augment_in_the_front_end_fills_with_the_normalised_mean_and_spares_padding():
    x, mask = waveforms()
    front = LogMelFrontEnd(**FRONT, normalize="cmvn", seed=1,
                           spec_augment={"freq_masks": 1, "freq_mask_param": 6, "time_masks": 1, "time_mask_param": 5})
    clean, frame_mask = LogMelFrontEnd(**FRONT, normalize="cmvn")(x, mask)
    out, out_mask = front.train()(x, mask)
    assert torch.equal(out_mask, frame_mask)
    changed = out != clean
    assert changed.any()
    assert bool((out[changed].abs() < 1e-5).all())  # the item's mean after CMVN is 0
    assert not changed[~frame_mask.unsqueeze(1).expand_as(changed)].any()


def test_front_end_options_are_checked():
    with pytest.raises(ParameterError, match="normalize"):
        LogMelFrontEnd(**FRONT, normalize="global")
    with pytest.raises(ParameterError, match="vtlp_alpha"):
        LogMelFrontEnd(**FRONT, vtlp_alpha=[1.1, 0.9])
    with pytest.raises(ParameterError, match="speed_perturb"):
        LogMelFrontEnd(**FRONT, speed_perturb=3)
    with pytest.raises(ParameterError, match="spec_augment"):
        LogMelFrontEnd(**FRONT, spec_augment={"time_warp": 5})
    with pytest.raises(ParameterError, match="max_time_fraction"):
        LogMelFrontEnd(**FRONT, spec_augment={"max_time_fraction": 2.0})


def test_audio_cnn_takes_front_end_options_from_its_config():
    encoder = build("encoder", {"name": "audio_cnn", **FRONT, "normalize": "none", "channels": [4],
                                "frontend": {"normalize": "cmvn", "vtlp_alpha": [0.9, 1.1]}})
    assert encoder.frontend.normalize == "cmvn" and encoder.frontend.vtlp_alpha == (0.9, 1.1)
    with pytest.raises(ParameterError, match="encoder's own"):
        build("encoder", {"name": "audio_cnn", **FRONT, "frontend": {"n_fft": 512}})


@pytest.mark.parametrize("rnn", ["none", "gru"])
def test_speech_cnn_padded_item_equals_the_item_alone(rnn):
    encoder = build("encoder", {**SPEECH, "rnn": rnn}).eval()
    x, mask = waveforms()
    batch = encoder(x, mask)
    assert batch.pooled.shape == (3, 16) and batch.tokens.shape[0] == 3
    for i, n in enumerate(LENGTHS):
        alone = encoder(x[i : i + 1, :n])
        torch.testing.assert_close(batch.pooled[i], alone.pooled[0], atol=1e-5, rtol=1e-5)
    noisy = x + (~mask) * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(encoder(noisy, mask).pooled, batch.pooled, atol=1e-5, rtol=1e-5)


def test_speech_cnn_with_a_head_overfits_a_tiny_batch_and_every_parameter_learns():
    torch.manual_seed(0)
    encoder = build("encoder", {**SPEECH, "dropout": 0.0, "rnn": "gru"})
    head = torch.nn.Linear(encoder.dim, 3)
    x, mask = waveforms(lengths=(1600, 1200, 800))  # short clips: a quick test
    labels = torch.tensor([0, 1, 2])
    params = list(encoder.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=1e-2)
    for step in range(30):
        loss = F.cross_entropy(head(encoder(x, mask).pooled), labels)
        opt.zero_grad()
        loss.backward()
        if step == 0:
            assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in params)
        opt.step()
    assert loss.item() < 0.05


def test_speech_cnn_rejects_bad_configs_and_inputs():
    with pytest.raises(ParameterError, match="channels"):
        build("encoder", {**SPEECH, "channels": []})
    with pytest.raises(ParameterError, match="even"):
        build("encoder", {**SPEECH, "rnn": "gru", "dim": 15})
    with pytest.raises(ParameterError, match="waveform"):
        build("encoder", SPEECH)(torch.zeros(2, 24, 10))
