"""Datasets by name: the built-in builders, their splits, and their errors."""

from __future__ import annotations

import pytest

from polysense.data.registry import DataSplits, available_datasets, build_data, register_dataset, unregister_dataset
from polysense.errors import ManifestError, ParameterError


def test_builtins_are_registered():
    assert {"synthetic", "fsdd", "av_digits", "manifest"} <= set(available_datasets())


def test_synthetic_splits_share_no_site_and_carry_texts():
    data = build_data({"name": "synthetic", "num_samples": 120, "sample_rate": 8000}, seed=0)
    groups = {name: {data.split(name)[i]["group"] for i in range(len(data.split(name)))} for name in ("train", "val", "test")}
    assert not groups["train"] & groups["val"] and not groups["train"] & groups["test"]
    assert data.sample_rate == 8000 and len(data.classes) == 2
    assert len(data.train_texts) == len(data.train) and data.train[0]["text"] == data.train_texts[0]
    assert data.train[3] is data.train[3]  # synthesised once, kept in memory


def test_unknown_option_and_name_are_named():
    with pytest.raises(ParameterError, match=r"unknown key\(s\) \['num_sampels'\].*num_samples"):
        build_data({"name": "synthetic", "num_sampels": 3})
    with pytest.raises(ParameterError, match="unknown dataset name='nope'.*synthetic"):
        build_data({"name": "nope"})
    with pytest.raises(ParameterError, match="'name' key"):
        build_data({"num_samples": 3})


def test_missing_fsdd_folder_says_how_to_point_at_it(tmp_path):
    with pytest.raises(ParameterError, match="POLYSENSE_FSDD"):
        build_data({"name": "fsdd", "fsdd_folder": str(tmp_path / "absent")})


def test_empty_split_is_a_clear_error():
    data = DataSplits(train=[1, 2], val=None)
    with pytest.raises(ParameterError, match="the val split is empty"):
        data.split("val")


@pytest.fixture
def test_only_dataset():
    """A dataset registered for one test, then removed from the shared registry."""

    @register_dataset("test-only-dataset")
    def first(*, seed):
        return DataSplits(train=[seed])

    yield "test-only-dataset"
    unregister_dataset("test-only-dataset")


def test_register_refuses_a_second_builder_under_one_name(test_only_dataset):
    with pytest.raises(ParameterError, match="already registered"):
        register_dataset(test_only_dataset)(lambda *, seed: None)
    assert build_data({"name": test_only_dataset}, seed=7).train == [7]


def test_unregister_removes_only_what_was_registered(test_only_dataset):
    assert test_only_dataset in available_datasets()
    unregister_dataset(test_only_dataset)
    assert test_only_dataset not in available_datasets()
    with pytest.raises(ParameterError, match="no dataset named 'test-only-dataset'"):
        unregister_dataset(test_only_dataset)
    register_dataset(test_only_dataset)(lambda *, seed: None)  # for the fixture to remove


def test_fsdd_and_av_digits_from_a_written_manifest(fsdd_dir, tmp_path):
    from polysense.data.fsdd import fsdd_manifest
    from polysense.data.manifest import write_manifest

    path = write_manifest(tmp_path / "fsdd.csv", fsdd_manifest(fsdd_dir, test_speakers=["nicolas"],
                                                               val_speakers=["theo"]))
    with pytest.raises(ManifestError, match="outside the manifest.s folder"):
        build_data({"name": "fsdd", "manifest": str(path)})
    audio = build_data({"name": "fsdd", "manifest": str(path), "allow_outside": True})
    assert {audio.test[i]["group"] for i in range(0, len(audio.test), 50)} == {"nicolas"}
    both = build_data({"name": "av_digits", "manifest": str(path), "allow_outside": True})
    assert len(both.train) == 1000 and len(both.val) == 500 and both.test[0]["image"].shape[0] == 3
