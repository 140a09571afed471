"""The on-the-fly mixture datasets on real FSDD recordings (a few per speaker)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from polysense.data.espeak import espeak_available
from polysense.data.registry import build_data
from polysense.enhance.mixtures import NoisyMixtures, SpeakerPairs, Utterance, collate_mixtures
from polysense.errors import ParameterError

from .conftest import SR, vowel


@pytest.fixture(scope="module")
def mixtures(fsdd_dir):
    return build_data({"name": "fsdd_mixtures", "fsdd_folder": str(fsdd_dir), "max_per_speaker": 6,
                       "n2n": True, "snr_db": [-5, 5]}, seed=3)


def test_splits_are_speaker_independent_and_reproducible(mixtures, fsdd_dir):
    train_speakers = {u.speaker for u in mixtures.train.utterances}
    assert train_speakers == {"jackson", "nicolas", "yweweler"}
    assert {u.speaker for u in mixtures.test.utterances} == {"theo"}
    assert {u.speaker for u in mixtures.val.utterances} <= train_speakers  # held-out utterances, same speakers
    assert not {u.id for u in mixtures.val.utterances} & {u.id for u in mixtures.train.utterances}
    # babble never contains the test speaker's voice in training
    assert "theo" not in {u.speaker for u in mixtures.train.babble_pool}
    t = mixtures.train
    again = NoisyMixtures(t.utterances, sample_rate=SR, split="train", seed=3, snr_db=(-5, 5), n2n=True,
                          babble_pool=t.babble_pool)
    for i in (11, 0, 5):  # any order
        a, b = mixtures.train[i], again[i]
        assert torch.equal(a["noisy"], b["noisy"]) and a["id"] == b["id"]


def test_items_keep_their_clean_part_at_the_stated_snr(mixtures):
    for i in range(len(mixtures.train)):
        item = mixtures.train[i]
        clean, noisy, target = item["clean"].double(), item["noisy"].double(), item["target"].double()
        lo, hi = item["speech_span"]
        p_s = clean[lo:hi].square().mean()
        for other in (noisy, target):  # input and Noise2Noise target: same SNR, different noise
            noise = other - clean
            snr = 10 * torch.log10(p_s / noise.square().mean())
            assert float(snr) == pytest.approx(item["snr_db"], abs=0.05)  # float32 storage
        assert not torch.allclose(noisy, target)
        assert item["noisy"].shape == (int(0.5 * SR * 2),)  # segment_s = 1.0 by default
    # val/test: whole utterances, clean targets
    item = mixtures.test[0]
    assert torch.equal(item["target"], item["clean"])


def test_collate_pads_and_records_lengths(mixtures):
    batch = collate_mixtures([mixtures.test[i] for i in range(3)])
    assert batch["noisy"].shape[0] == 3 and batch["length"].tolist() == [mixtures.test[i]["noisy"].numel() for i in range(3)]
    assert batch["audio_mask"].sum(-1).tolist() == batch["length"].tolist()
    assert batch["sample_rate"] == SR and len(batch["noise"]) == 3


def test_pairs_sum_to_the_mixture_with_the_level_difference(fsdd_dir):
    data = build_data({"name": "fsdd_pairs", "fsdd_folder": str(fsdd_dir), "max_per_speaker": 4, "level_db": 3.0},
                      seed=0)
    item = data.train[2]
    src = item["sources"].double()
    torch.testing.assert_close(src.sum(0), item["mixture"].double(), atol=1e-6, rtol=0)
    assert item["id"].split("_")[1] != item["id"].split("+")[1].split("_")[1]  # two different speakers
    assert {u.speaker for u in data.test.utterances} == {"theo", "yweweler"}


@pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed (apt-get install espeak-ng)")
def test_synthetic_voices_join_the_training_speakers_only(fsdd_dir, tmp_path):
    data = build_data({"name": "fsdd_pairs", "fsdd_folder": str(fsdd_dir), "max_per_speaker": 4, "val_fraction": 0.25, "synthetic_voices": 2,
                       "tts_cache": str(tmp_path)}, seed=0)
    voices = {u.speaker for u in data.train.utterances} - {"jackson", "nicolas"}
    assert len(voices) == 2 and all(v.startswith("tts-") for v in voices)
    assert sum(u.speaker in voices for u in data.train.utterances) == 20  # ten digit words per voice
    assert {u.speaker for u in data.val.utterances} <= {"jackson", "nicolas"}
    assert {u.speaker for u in data.test.utterances} == {"theo", "yweweler"}
    assert "2 espeak-ng voices in training" in data.description  # what the run report says of its data
    item = data.train[len(data.train.utterances) - 1]  # a voice's utterance mixed with another speaker
    torch.testing.assert_close(item["sources"].sum(0), item["mixture"], atol=1e-6, rtol=0)
    noisy = build_data({"name": "fsdd_mixtures", "fsdd_folder": str(fsdd_dir), "max_per_speaker": 4,
                        "synthetic_voices": 1, "tts_cache": str(tmp_path)}, seed=0)
    assert len({u.speaker for u in noisy.train.utterances}) == 4  # three real speakers + one voice


def _utts():
    return [Utterance(id=f"u{i}", speaker="a" if i % 2 else "b", audio=vowel(0.2, f0=100 + 20 * i).float())
            for i in range(4)]


def test_bad_mixture_requests_name_what_to_change():
    with pytest.raises(ParameterError, match="segment_s"):
        NoisyMixtures(_utts(), sample_rate=SR, segment_s=0.01)
    with pytest.raises(ParameterError, match="noise_types"):
        NoisyMixtures(_utts(), sample_rate=SR, noise_types=["rain"])
    with pytest.raises(ParameterError, match="snr_db"):
        NoisyMixtures(_utts(), sample_rate=SR, snr_db=[5, -5])
    with pytest.raises(ParameterError, match="two speakers"):
        SpeakerPairs([u for u in _utts() if u.speaker == "a"], sample_rate=SR, split="test")
    silent = [Utterance(id="quiet", speaker="a", audio=torch.zeros(800))]
    with pytest.raises(ParameterError, match="silent"):
        NoisyMixtures(silent, sample_rate=SR, noise_types=["white"])[0]


def test_synthetic_utterances_work_without_fsdd():
    data = NoisyMixtures(_utts(), sample_rate=SR, noise_types=["pink", "hum", "clicks", "bursts"], snr_db=0.0,
                         segment_s=0.5, repeats=2)
    assert len(data) == 8
    kinds = {data[i]["noise"] for i in range(8)}
    assert kinds <= {"pink", "hum", "clicks", "bursts"}
    assert all(np.isfinite(data[i]["noisy"].numpy()).all() for i in range(8))


def test_same_speaker_pairs_when_asked():
    utts = _utts()
    speaker = {u.id: u.speaker for u in utts}

    def speakers(data, i):
        a, b = data[i]["id"].split("@")[0].split("+")
        return speaker[a], speaker[b]

    mixed = SpeakerPairs(utts, sample_rate=SR, segment_s=0.5, repeats=5, same_speaker_p=0.5)
    kinds = {speakers(mixed, i)[0] == speakers(mixed, i)[1] for i in range(len(mixed))}
    assert kinds == {True, False}
    only = SpeakerPairs(utts, sample_rate=SR, segment_s=0.5, repeats=3)
    assert all(speakers(only, i)[0] != speakers(only, i)[1] for i in range(len(only)))
