"""fsdd_takes: FSDD split by take (every speaker in every split), fixed-length clips, the digit or
the speaker as the label."""

from __future__ import annotations

import shutil

import pytest
import torch

from polysense.audio import load
from polysense.data.takes import fsdd_take_splits
from polysense.errors import ParameterError


@pytest.fixture(scope="module")
def takes_folder(tmp_path_factory, fsdd_dir):
    folder = tmp_path_factory.mktemp("takes")
    for speaker in ("jackson", "theo"):
        for digit in (3, 7):
            for take in (0, 1, 2):
                shutil.copyfile(fsdd_dir / f"{digit}_{speaker}_{take}.wav", folder / f"{digit}_{speaker}_{take}.wav")
    return folder


def test_split_by_take_with_fixed_length_clips(takes_folder):
    data = fsdd_take_splits(seed=0, fsdd_folder=str(takes_folder), clip_samples=3000, test_takes=[0], val_takes=[1])
    assert data.classes[7] == "seven" and data.extra["speakers"] == ["jackson", "theo"]
    for split, take in (("train", 2), ("val", 1), ("test", 0)):
        items = [getattr(data, split)[i] for i in range(len(getattr(data, split)))]
        assert sorted(i["id"] for i in items) == sorted(f"{d}_{s}_{take}" for d in (3, 7) for s in ("jackson", "theo"))
        assert {i["group"] for i in items} == {"jackson", "theo"}  # every speaker in every split
    item = data.test[0]
    original, _ = load(takes_folder / f"{item['id']}.wav", sample_rate=8000)
    assert item["audio"].shape == (3000,) and item["label"] == int(item["id"][0])
    n = min(3000, original.numel())
    torch.testing.assert_close(item["audio"][:n], original[:n])  # the first samples, zero-padded after
    assert bool((item["audio"][n:] == 0).all())
    assert int(item["speaker"]) == ["jackson", "theo"].index(item["group"])


def test_speaker_target_labels_by_speaker(takes_folder):
    data = fsdd_take_splits(seed=0, fsdd_folder=str(takes_folder), test_takes=[0], val_takes=[1], target="speaker")
    assert data.classes == ("jackson", "theo")
    assert all(data.train[i]["label"] == int(data.train[i]["speaker"]) for i in range(len(data.train)))


def test_bad_takes_are_clear_errors(takes_folder):
    with pytest.raises(ParameterError, match="in both test_takes and val_takes"):
        fsdd_take_splits(seed=0, fsdd_folder=str(takes_folder), test_takes=[0], val_takes=[0])
    with pytest.raises(ParameterError, match="leave no training take"):
        fsdd_take_splits(seed=0, fsdd_folder=str(takes_folder), test_takes=[0, 1], val_takes=[2])


def test_speakers_keeps_only_the_named_speakers(takes_folder):
    # a generator for a speaker-independent fold must never hear the fold's test speaker
    data = fsdd_take_splits(seed=0, fsdd_folder=str(takes_folder), test_takes=[0], val_takes=[1], speakers=["theo"])
    assert data.extra["speakers"] == ["theo"]
    for split in (data.train, data.val, data.test):
        assert {split[i]["group"] for i in range(len(split))} == {"theo"}
        assert all(int(split[i]["speaker"]) == 0 for i in range(len(split)))
    with pytest.raises(ParameterError, match=r"\['nobody'\] not among .*jackson, theo"):
        fsdd_take_splits(seed=0, fsdd_folder=str(takes_folder), speakers=["theo", "nobody"])
