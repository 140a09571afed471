"""``whisper_encoder``: the pretrained Whisper encoder as an audio tower (real weights, FSDD clips)."""

from __future__ import annotations

import pytest
import soundfile as sf
import torch
import torch.nn.functional as F

from polysense.errors import ParameterError
from polysense.models.registry import build
from polysense.models.whisper.features import pad_features, whisper_log_mel
from polysense.models.whisper.weights import load_whisper
from polysense.signal import resample

NAMES = ["0_jackson_0", "5_nicolas_24", "9_theo_3", "2_yweweler_38"]


@pytest.fixture(scope="module")
def clips(fsdd_dir):
    waves = [torch.from_numpy(sf.read(fsdd_dir / f"{n}.wav", dtype="float32")[0]) for n in NAMES]
    longest = max(w.shape[0] for w in waves)
    batch = torch.stack([F.pad(w, (0, longest - w.shape[0])) for w in waves])
    mask = torch.arange(longest)[None] < torch.tensor([w.shape[0] for w in waves])[:, None]
    return waves, batch, mask


def _encoder(whisper_files, **options):
    # whisper_files (the fixture) skips or fails first when the weights are absent
    return build("encoder", {"name": "whisper_encoder", "sample_rate": 8000, **options})


def test_a_batch_equals_its_items_alone(whisper_files, clips):
    waves, batch, mask = clips
    encoder = _encoder(whisper_files, cache_rows=0, pool_layers=[3, 6])
    out = encoder(batch, mask)
    assert out.pooled.shape == (4, 1024) and encoder.dim == 1024
    for i, wave in enumerate(waves):
        alone = encoder(wave[None])
        n = int(alone.mask.sum())
        assert int(out.mask[i].sum()) == n == encoder.tokens_for(wave.shape[0])
        torch.testing.assert_close(out.pooled[i], alone.pooled[0], atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(out.tokens[i, :n], alone.tokens[0, :n], atol=1e-4, rtol=1e-4)
        assert torch.all(out.tokens[i, n:] == 0)


def test_padded_input_is_the_reference_encoder_on_30_s(whisper_files, clips):
    # input="padded" returns the reference encoder's states (30-s input) of the real audio
    waves, _, _ = clips
    encoder = _encoder(whisper_files, cache_rows=0, input="padded")
    model, _ = load_whisper(whisper_files)
    wave = waves[0]
    x16 = resample(wave, orig_sample_rate=8000, new_sample_rate=16000)
    features = whisper_log_mel(x16)
    with torch.no_grad():
        reference, _ = model.encoder(pad_features(features[..., : features.shape[-1] - 1])[None])
        out = encoder(wave[None])
    n = int(out.mask.sum())
    torch.testing.assert_close(out.tokens[0, :n], reference[0, :n], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(out.pooled[0], reference[0, :n].mean(0), atol=1e-4, rtol=1e-4)


def test_frozen_outputs_are_cached_and_equal(whisper_files, clips):
    _, batch, mask = clips
    encoder = _encoder(whisper_files)
    first = encoder(batch, mask)
    assert encoder.cache.calls == 4
    again = encoder(batch[[2, 0]], mask[[2, 0]])
    assert encoder.cache.calls == 4  # no new encoder run
    torch.testing.assert_close(again.pooled, first.pooled[[2, 0]], atol=0, rtol=0)
    n = int(again.mask[0].sum())
    torch.testing.assert_close(again.tokens[0, :n], first.tokens[2, :n], atol=0, rtol=0)


def test_trainable_blocks_learn_and_the_rest_stays(whisper_files, clips):
    _, batch, mask = clips
    encoder = _encoder(whisper_files, trainable_blocks=2)
    assert encoder.cache is not None and not encoder.frozen
    out = encoder(batch, mask)
    out.pooled.square().sum().backward()
    blocks = encoder.encoder.blocks
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in blocks[-1].parameters() if p.dim() > 1)
    assert all(p.grad is not None for p in blocks[-2].parameters() if p.dim() > 1)
    assert all(p.grad is None for p in blocks[0].parameters())
    assert encoder.encoder.conv1.weight.grad is None
    assert encoder.cache.calls == 0  # not frozen: never cached


def test_bad_options_are_clear(whisper_files):
    with pytest.raises(ParameterError, match=r"trainable_blocks=7 exceeds the 6 blocks .*choose 0 to 6"):
        _encoder(whisper_files, trainable_blocks=7)
    with pytest.raises(ParameterError, match=r"pool_layers=\[0\] is invalid: expected a list of block numbers 1 to 6"):
        _encoder(whisper_files, pool_layers=[0])
    with pytest.raises(ParameterError, match="do not exist: give a model folder"):
        _encoder(whisper_files, weights="/nonexistent/whisper")


def test_cache_survives_the_same_weights_and_not_new_ones(whisper_files, clips):
    _, batch, mask = clips
    encoder = _encoder(whisper_files)
    encoder(batch, mask)
    encoder.load_state_dict(encoder.state_dict())  # a best epoch restored: the same frozen weights
    assert len(encoder.cache) == 4
    state = encoder.state_dict()
    state["encoder.conv1.bias"] = state["encoder.conv1.bias"] + 1.0
    encoder.load_state_dict(state)
    assert len(encoder.cache) == 0
