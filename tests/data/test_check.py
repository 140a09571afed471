"""check_manifest: reads every row and file, reports every problem, usable only without errors."""

from __future__ import annotations

import shutil

import pytest

from polysense.data.check import check_manifest
from tests.data.manifest_helpers import COLUMNS, make_manifest, make_rows, write_csv, write_wav


def _errors(report):
    return [(p.row, p.column, p.message) for p in report.errors]


def test_a_clean_manifest_is_usable_with_statistics(tmp_path):
    report = check_manifest(make_manifest(tmp_path, 12))
    assert report.usable and report.errors == [] and report.bad_rows == []
    assert report.rows == 12
    assert dict(report.sample_rates) == {8000: 12} and dict(report.channels) == {1: 12}
    assert dict(report.image_sizes) == {(12, 10): 12}
    assert {s: dict(c) for s, c in report.class_balance.items()} == {
        "train": {0: 4, 1: 2, 2: 2},
        "val": {1: 2},
        "test": {2: 2},
    }
    assert report.audio_seconds == pytest.approx(sum(400 + 37 * i for i in range(12)) / 8000)


def test_every_file_problem_is_reported_without_stopping(tmp_path):
    make_manifest(tmp_path, 10)
    (tmp_path / "audio" / "a1.wav").unlink()  # missing
    (tmp_path / "audio" / "a2.wav").write_bytes(b"")  # empty (0 bytes)
    data = (tmp_path / "audio" / "a3.wav").read_bytes()
    (tmp_path / "audio" / "a3.wav").write_bytes(data[:100])  # truncated
    (tmp_path / "audio" / "a4.wav").write_text("definitely not audio")  # corrupt / not audio
    (tmp_path / "images" / "i5.png").write_bytes(b"")  # empty image
    png = (tmp_path / "images" / "i6.png").read_bytes()
    (tmp_path / "images" / "i6.png").write_bytes(png[: len(png) // 2])  # truncated image
    import soundfile as sf
    import numpy as np

    sf.write(tmp_path / "audio" / "a7.wav", np.zeros(0, dtype=np.int16), 8000)  # 0 frames
    report = check_manifest(tmp_path / "manifest.csv")
    assert not report.usable
    assert report.bad_rows == [2, 3, 4, 5, 6, 7, 8]
    messages = {p.row: p.message for p in report.errors}
    assert "a1.wav: file not found" in messages[2]
    assert "a2.wav: empty file (0 bytes)" in messages[3]
    assert "a3.wav: truncated" in messages[4]
    assert "a4.wav: not a readable audio file" in messages[5]
    assert "i5.png: empty file" in messages[6]
    assert "i6.png: corrupt or truncated image" in messages[7]
    assert "a7.wav: contains no audio frames" in messages[8]
    assert all(p.id == f"s{p.row - 1}" for p in report.errors)
    assert report.rows == 10 and dict(report.sample_rates) == {8000: 5}  # rows 1, 6, 7, 9, 10


def test_sample_rates_and_channels_are_counted_and_mixtures_warned(tmp_path):
    make_manifest(tmp_path, 4)
    write_wav(tmp_path / "audio" / "a0.wav", sample_rate=16000, channels=2)
    report = check_manifest(tmp_path / "manifest.csv")
    assert report.usable
    assert dict(report.sample_rates) == {8000: 3, 16000: 1} and dict(report.channels) == {1: 3, 2: 1}
    warnings = " ".join(p.message for p in report.warnings)
    assert "mixed sample rates: 8000 Hz (3), 16000 Hz (1)" in warnings and "mixed channel counts" in warnings


def test_duplicate_ids_and_duplicate_files(tmp_path):
    rows = make_rows(tmp_path, 12)
    rows[3]["id"] = "s0"  # duplicate id
    shutil.copy(tmp_path / "audio" / "a0.wav", tmp_path / "audio" / "a6.wav")  # same content, same split (train)
    rows[10]["audio"] = "audio/a1.wav"  # same file in train (row 2) and val (row 11)
    report = check_manifest(write_csv(tmp_path / "m.csv", rows, COLUMNS))
    assert (4, "id", "duplicate id: row 1 has the same id") in _errors(report)
    leak = [p for p in report.errors if p.row == 11 and p.column == "audio"]
    assert leak and "the same file as row 2" in leak[0].message and "across splits" in leak[0].message
    dup = [p for p in report.warnings if p.row == 7]
    assert dup and "a file with the same content as row 1" in dup[0].message


def test_groups_in_more_than_one_split(tmp_path):
    rows = make_rows(tmp_path, 12)
    rows[0]["split"] = "test"  # g0 in train (row 7) and test (row 1)
    report = check_manifest(write_csv(tmp_path / "m.csv", rows, COLUMNS))
    groups = [p for p in report.errors if p.column == "group"]
    assert len(groups) == 1 and "group 'g0' appears in splits ['train', 'test']" in groups[0].message
    assert not report.usable


def test_label_unseen_in_training_and_missing_train(tmp_path):
    rows = make_rows(tmp_path, 12)
    for r in rows:
        if r["split"] == "test":
            r["label"] = 7
    report = check_manifest(write_csv(tmp_path / "m.csv", rows, COLUMNS))
    unseen = [p for p in report.errors if p.column == "label"]
    assert [p.row for p in unseen] == [6, 12] and "label 7 in split 'test' never occurs in 'train'" in unseen[0].message
    for r in rows:
        r["split"] = "val"
        r["group"] = "g"
    report = check_manifest(write_csv(tmp_path / "n.csv", rows, COLUMNS))
    assert any("no row has split=train" in p.message for p in report.errors)


def test_structural_problems_are_reported_alongside_file_problems(tmp_path):
    rows = make_rows(tmp_path, 4)
    rows[1]["label"] = "-dog"  # neither an id nor a class name (a name starts with a letter or digit)
    rows[2]["audio"] = "../outside.wav"
    (tmp_path / "audio" / "a3.wav").unlink()
    report = check_manifest(write_csv(tmp_path / "m.csv", rows, COLUMNS))
    assert report.bad_rows == [2, 3, 4]
    assert "neither an integer class id" in dict((p.row, p.message) for p in report.errors)[2]
    assert "outside the manifest's folder" in dict((p.row, p.message) for p in report.errors)[3]


def test_unusable_manifest_file(tmp_path):
    report = check_manifest(tmp_path / "nothing.csv")
    assert not report.usable and "manifest not found" in report.errors[0].message


def test_no_split_column_is_a_warning(tmp_path):
    rows = make_rows(tmp_path, 3)
    report = check_manifest(write_csv(tmp_path / "m.csv", rows, ["id", "audio", "label"]))
    assert report.usable and any(p.column == "split" for p in report.warnings)
    assert set(report.class_balance) == {"all"}


def test_to_dict_is_json_ready(tmp_path):
    import json

    report = check_manifest(make_manifest(tmp_path, 3))
    assert json.loads(json.dumps(report.to_dict()))["usable"] is True


@pytest.mark.fsdd
def test_real_fsdd_files_check_clean(tmp_path, fsdd_dir):
    files = sorted(fsdd_dir.glob("*.wav"))[:30]
    for f in files:
        shutil.copy(f, tmp_path / f.name)
    rows = [{"id": f.stem, "audio": f.name, "label": int(f.stem.split("_")[0]), "group": f.stem.split("_")[1]} for f in files]
    report = check_manifest(write_csv(tmp_path / "fsdd.csv", rows))
    assert report.usable and dict(report.sample_rates) == {8000: 30} and dict(report.channels) == {1: 30}
