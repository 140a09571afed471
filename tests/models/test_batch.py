"""The batch schema (polysense.models.batch): modality keys, per-sample presence, and the
sample-rate contract: an audio encoder given waveforms at a rate it was not built for raises
naming both rates, or resamples (soxr) when built with resample=True."""

from __future__ import annotations

import pytest
import torch

from polysense.errors import ParameterError
from polysense.models.batch import encode_modality, modality_keys, modality_presence
from polysense.models.registry import build
from polysense.signal.resample import expected_length, resample
from tests.models.test_fusion import make_batch

AUDIO = {"name": "audio_cnn", "n_fft": 256, "hop_length": 128, "n_mels": 16, "channels": [4], "dim": 8}


def _batch(sample_rate: int, lengths=(8000, 6000)) -> dict:
    g = torch.Generator().manual_seed(0)
    audio = torch.randn(len(lengths), max(lengths), generator=g)
    mask = torch.arange(max(lengths))[None] < torch.tensor(lengths)[:, None]
    return {"audio": audio * mask, "audio_mask": mask, "sample_rate": sample_rate}


@pytest.mark.parametrize("name", ["audio_cnn", "audio_spectrogram_transformer"])
def test_a_rate_mismatch_raises_naming_both_rates(name):
    config = dict(AUDIO, name=name) if name == "audio_cnn" else {
        "name": name, "n_fft": 256, "hop_length": 128, "n_mels": 16, "patch_size": 8, "dim": 8, "depth": 1, "heads": 2}
    encoder = build("encoder", config)  # 16 kHz by default
    with pytest.raises(ParameterError, match=r"sample_rate=8000 Hz.*sample_rate=16000 Hz.*resample=True"):
        encode_modality(encoder, "audio", _batch(8000))
    assert encode_modality(encoder, "audio", _batch(16000)) is not None
    # no rate in the batch (or log-mel features) cannot be checked: it is the caller's contract
    assert encode_modality(encoder, "audio", {k: v for k, v in _batch(8000).items() if k != "sample_rate"})


def test_resample_true_equals_resampling_the_data_first():
    """Reference: polysense.signal.resample (soxr) on each clip alone, then the encoder at 16 kHz."""
    torch.manual_seed(0)
    encoder = build("encoder", dict(AUDIO, resample=True)).eval()
    batch = _batch(8000)
    with torch.no_grad():
        got = encode_modality(encoder, "audio", batch)
        for row, length in enumerate((8000, 6000)):
            clip = resample(batch["audio"][row : row + 1, :length], orig_sample_rate=8000, new_sample_rate=16000)
            assert clip.shape[-1] == expected_length(length, orig_sample_rate=8000, new_sample_rate=16000)
            alone = encoder(clip, torch.ones_like(clip, dtype=torch.bool))
            # the batch resampled the padded row as one stream: the filter sees zeros after the
            # clip instead of soxr's end-of-stream flush, which moves the last few samples only
            torch.testing.assert_close(got.pooled[row], alone.pooled[0], atol=2e-3, rtol=1e-2)
    # the mask follows: 16000 and 12000 samples at 16 kHz, 1 + n // hop frames, halved by the pool
    frames = [1 + 16000 // 128, 1 + 12000 // 128]
    assert got.mask.sum(dim=-1).tolist() == [(f + 1) // 2 for f in frames]


def test_a_model_checks_the_rate_of_its_audio():
    model = build("model", {"name": "classifier", "modality": "audio", "encoder": AUDIO, "num_classes": 2})
    with pytest.raises(ParameterError, match="8000 Hz.*16000 Hz"):
        model(_batch(8000))
    with pytest.raises(ParameterError, match="8000 Hz.*16000 Hz"):
        model.encode("audio", _batch(8000))


def test_modality_keys_follow_the_collate_convention():
    assert modality_keys("audio") == ("audio", "audio_mask")
    assert modality_keys("text") == ("input_ids", "text_mask")
    assert modality_keys("image")[0] == "image"
    assert modality_keys("depth") == ("depth", "depth_mask")


def test_presence_from_absent_inputs_and_masks():
    batch = make_batch(4)
    present = modality_presence(batch, ["a", "b"])
    assert all(bool(p.all()) for p in present.values())
    del batch["b"]
    assert not bool(modality_presence(batch, ["a", "b"])["b"].any())
    batch = make_batch(4)
    batch["b_present"] = torch.tensor([True, False, True, False])
    assert modality_presence(batch, ["a", "b"])["b"].tolist() == [True, False, True, False]


def test_presence_errors_name_the_problem():
    batch = make_batch(4)
    batch["a_present"] = torch.tensor([True, False, True, True])
    batch["b_present"] = torch.tensor([True, False, True, True])
    with pytest.raises(ParameterError, match=r"samples \[1\] have no modality"):
        modality_presence(batch, ["a", "b"])
    batch = make_batch(4)
    batch["a_present"] = torch.ones(3, dtype=torch.bool)
    with pytest.raises(ParameterError, match="a_present has shape"):
        modality_presence(batch, ["a", "b"])
    with pytest.raises(ParameterError, match="none of the model's modalities"):
        modality_presence({"label": torch.zeros(2)}, ["a", "b"])


