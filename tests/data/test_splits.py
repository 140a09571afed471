"""Splits: a partition, reproducible from a seed, stratified by label, never a group in two splits."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polysense.data.manifest import read_manifest
from polysense.data.splits import assign_splits, split_indices, split_manifest
from polysense.errors import ManifestError, ParameterError
from tests.data.manifest_helpers import COLUMNS, make_rows, write_csv

FRACTIONS = st.lists(st.integers(1, 10), min_size=2, max_size=3).map(lambda w: tuple(x / sum(w) for x in w))


def _names(fractions):
    return ("train", "val", "test") if len(fractions) == 3 else ("train", "test")


@settings(max_examples=60, deadline=None)
@given(
    labels=st.lists(st.integers(0, 4), min_size=3, max_size=200),
    fractions=FRACTIONS,
    seed=st.integers(0, 2**32 - 1),
)
def test_partition_reproducible_and_stratified(labels, fractions, seed):
    parts = split_indices(labels, fractions=fractions, seed=seed)
    assert tuple(parts) == _names(fractions)
    flat = sorted(i for idx in parts.values() for i in idx)
    assert flat == list(range(len(labels)))  # every index exactly once
    assert all(idx == sorted(idx) for idx in parts.values())
    assert parts == split_indices(labels, fractions=fractions, seed=seed)  # same seed, same split
    n = len(labels)
    counts = Counter(labels)
    for share, idx in zip(fractions, parts.values(), strict=True):
        assert len(idx) >= 1  # a positive share is never empty
        if min(fractions) * n < 1:
            continue  # a split's share is under one sample: it got one anyway, bounds below do not apply
        # Split sizes within one sample of their share; each class within two of its share.
        assert abs(len(idx) - share * n) < 1 + 1e-9
        in_split = Counter(labels[i] for i in idx)
        for c, k in counts.items():
            assert abs(in_split[c] - share * k) < 2 + 1e-9


@settings(max_examples=60, deadline=None)
@given(
    data=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 15)), min_size=3, max_size=150),
    fractions=FRACTIONS,
    seed=st.integers(0, 2**32 - 1),
)
def test_groups_never_cross_splits(data, fractions, seed):
    labels = [label for label, _ in data]
    groups = [f"speaker{g}" for _, g in data]
    if len(set(groups)) < len(fractions):
        with pytest.raises(ParameterError, match="group"):
            split_indices(labels, groups, fractions=fractions, seed=seed)
        return
    parts = split_indices(labels, groups, fractions=fractions, seed=seed)
    assert sorted(i for idx in parts.values() for i in idx) == list(range(len(labels)))
    seen: dict[str, str] = {}
    for name, idx in parts.items():
        assert idx, f"split {name} is empty"
        for i in idx:
            assert seen.setdefault(groups[i], name) == name
    assert parts == split_indices(labels, groups, fractions=fractions, seed=seed)


def test_grouped_split_is_close_to_the_fractions_with_many_groups():
    # 2,000 samples, 100 groups of 20, 10 classes mixed inside each group.
    labels = [i % 10 for i in range(2000)]
    groups = [i // 20 for i in range(2000)]
    parts = split_indices(labels, groups, fractions=(0.8, 0.1, 0.1), seed=3)
    sizes = {k: len(v) for k, v in parts.items()}
    assert sizes == {"train": 1600, "val": 200, "test": 200}
    for idx in parts.values():
        shares = Counter(labels[i] for i in idx)
        assert max(shares.values()) - min(shares.values()) <= 2  # stratified: classes balanced


def test_different_seeds_give_different_splits():
    labels = [i % 4 for i in range(100)]
    assert split_indices(labels, seed=0) != split_indices(labels, seed=1)


def test_stratify_off_ignores_labels_but_keeps_sizes():
    labels = [0] * 90 + [1] * 10
    parts = split_indices(labels, fractions=(0.5, 0.5), stratify=False, seed=0)
    assert [len(v) for v in parts.values()] == [50, 50]


def test_zero_fraction_gives_an_empty_split():
    parts = split_indices([0, 1] * 10, fractions=(0.5, 0.0, 0.5), seed=0)
    assert parts["val"] == [] and len(parts["train"]) == 10


def test_bad_arguments():
    with pytest.raises(ParameterError, match="fractions"):
        split_indices([0, 1], fractions=(0.5, -0.5))
    with pytest.raises(ParameterError, match="sum to 0"):
        split_indices([0, 1], fractions=(0, 0))
    with pytest.raises(ParameterError, match="groups has 1 entries but labels has 2"):
        split_indices([0, 1], ["a"])
    with pytest.raises(ParameterError, match="2 sample.*3 non-empty splits"):
        split_indices([0, 1])
    with pytest.raises(ParameterError, match="names"):
        split_indices([0, 1, 2, 3], fractions=(1, 1, 1, 1))


# --- manifests -----------------------------------------------------------------------------------


def test_split_column_is_used_as_given(tmp_path):
    m = read_manifest(write_csv(tmp_path / "m.csv", make_rows(tmp_path, 12), COLUMNS))
    parts = split_manifest(m)
    assert [len(parts[s]) for s in ("train", "val", "test")] == [8, 2, 2]
    assert {r.group for r in parts["val"]} == {"g4"}


def test_splits_from_a_seed_are_group_aware_and_written_into_the_rows(tmp_path):
    rows = make_rows(tmp_path, 24, groups=8)
    m = read_manifest(write_csv(tmp_path / "m.csv", rows, ["id", "audio", "label", "group"]))
    parts = split_manifest(m, fractions=(0.5, 0.25, 0.25), seed=7)
    groups = {name: {r.group for r in p} for name, p in parts.items()}
    assert not (groups["train"] & groups["val"]) and not (groups["train"] & groups["test"]) and not (groups["val"] & groups["test"])
    assert all(r.split == name for name, p in parts.items() for r in p)
    again = assign_splits(m, fractions=(0.5, 0.25, 0.25), seed=7)
    assert [r.split for r in again] == [r.split for r in sorted((r for p in parts.values() for r in p), key=lambda r: r.number)]


def test_no_split_column(tmp_path):
    m = read_manifest(write_csv(tmp_path / "m.csv", make_rows(tmp_path, 6), ["id", "audio", "label"]))
    with pytest.raises(ManifestError, match="no 'split' column.*Fix: add a split column.*fractions="):
        split_manifest(m)


def test_empty_split(tmp_path):
    rows = make_rows(tmp_path, 6)
    for r in rows:
        r["split"] = "train" if r["split"] != "test" else "test"
        r["group"] = ""
    m = read_manifest(write_csv(tmp_path / "m.csv", rows, ["id", "audio", "label", "split"]))
    with pytest.raises(ManifestError, match=r"split 'val' is empty.*Fix: add rows with split=val, drop 'val' from names"):
        split_manifest(m)
    assert set(split_manifest(m, names=("train", "test"))) == {"train", "test"}


def test_label_in_test_unseen_in_training(tmp_path):
    rows = make_rows(tmp_path, 6, groups=6)
    splits = ["train", "train", "val", "train", "val", "test"]
    labels = [0, 1, 0, 1, 1, 2]  # label 2 only in test
    for r, s, y in zip(rows, splits, labels, strict=True):
        r.update(split=s, label=y)
    m = read_manifest(write_csv(tmp_path / "m.csv", rows, ["id", "audio", "label", "split"]))
    with pytest.raises(ManifestError, match=r"row 6 \(line 7\), id 's5': label 2 \(split 'test'\) never occurs in 'train'.*Fix: move some rows"):
        split_manifest(m)


def test_group_in_two_splits(tmp_path):
    rows = make_rows(tmp_path, 12)
    rows[0]["split"] = "val"  # g0 now in val and train
    m = read_manifest(write_csv(tmp_path / "m.csv", rows, COLUMNS))
    with pytest.raises(ManifestError, match=r"group 'g\d' appears in splits \['\w+', '\w+'\].*Fix: keep each group in one split"):
        split_manifest(m)
