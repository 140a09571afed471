"""Generated folders (``polysense generate``'s WAVs + manifest.csv) read as labelled data, and added
to FSDD's training split as augmentation (``extra_train``)."""

from __future__ import annotations

import pytest
import torch

from polysense import audio
from polysense.data.builtin import fsdd_splits
from polysense.data.generated import GENERATED_COLUMNS, read_generated_manifest
from polysense.errors import ParameterError
from tests.data.test_fsdd import make_fake_fsdd


def write_generated(folder, rows, *, header=",".join(GENERATED_COLUMNS)):
    """A generated folder: one short 8 kHz clip per (file, label, speaker, seed) row, and its manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    for k, (name, *_rest) in enumerate(rows):
        if "/" not in name and name not in ("", "..", "."):
            audio.save(folder / name, 0.1 * torch.sin(torch.arange(800) * (0.05 + 0.01 * k)), 8000, subtype="PCM_16")
    lines = [header] + [",".join(str(x) for x in r) for r in rows]
    (folder / "manifest.csv").write_text("\n".join(lines) + "\n")
    return folder


def test_rows_in_file_order_with_absolute_paths(tmp_path):
    folder = write_generated(tmp_path / "gen", [("seven_any_0.wav", "seven", "", 0), ("two_theo_5.wav", "two", "theo", 5)])
    rows = read_generated_manifest(folder, classes=("two", "seven"))
    assert [(r.path, r.label, r.speaker, r.seed) for r in rows] == [
        ((folder / "seven_any_0.wav").resolve(), "seven", "", 0), ((folder / "two_theo_5.wav").resolve(), "two", "theo", 5)]


@pytest.mark.parametrize("rows,header,match", [
    ([("../x.wav", "two", "", 0)], None, r"line 2: file '\.\./x\.wav' is not a plain file name"),
    ([("a.wav", "two", "", 0), ("sub/b.wav", "two", "", 1)], None, r"line 3: file 'sub/b\.wav' is not a plain"),
    ([("a.wav", "eleven", "", 0)], None, r"line 2: label 'eleven' is not one of the classes"),
    ([("a.wav", "two", "", "x")], None, r"line 2: seed 'x' is not an integer"),
    ([("a.wav", "two", "")], "file,label,speaker", r"columns \['seed'\] are missing"),
    ([], None, "no clips listed"),
])
def test_bad_manifests_are_clear_errors(tmp_path, rows, header, match):
    folder = write_generated(tmp_path / "gen", rows, **({"header": header} if header else {}))
    with pytest.raises(ParameterError, match=match):
        read_generated_manifest(folder, classes=("two", "seven"))


def test_missing_manifest_and_missing_file(tmp_path):
    with pytest.raises(ParameterError, match="no manifest.csv; give a folder written by `polysense generate`"):
        read_generated_manifest(tmp_path)
    folder = write_generated(tmp_path / "gen", [("a.wav", "two", "", 0)])
    (folder / "a.wav").unlink()
    with pytest.raises(ParameterError, match=r"line 2: .*a\.wav does not exist"):
        read_generated_manifest(folder)


def test_extra_train_adds_generated_clips_to_the_training_split_only(tmp_path):
    recordings = make_fake_fsdd(tmp_path / "fsdd")
    plain = fsdd_splits(seed=0, fsdd_folder=str(recordings), test_speakers=["cy"], val_speakers=["bo"])
    gen = write_generated(tmp_path / "gen7", [("seven_any_0.wav", "seven", "", 0), ("three_any_1.wav", "three", "", 1)])
    data = fsdd_splits(seed=0, fsdd_folder=str(recordings), test_speakers=["cy"], val_speakers=["bo"], extra_train=[str(gen)])
    assert len(data.train) == len(plain.train) + 2
    assert (len(data.val), len(data.test)) == (len(plain.val), len(plain.test))
    added = [data.train[i] for i in range(len(plain.train), len(data.train))]
    assert [(x["id"], x["label"], x["group"]) for x in added] == [("gen7/seven_any_0.wav", 7, "generated:gen7"),
                                                                 ("gen7/three_any_1.wav", 3, "generated:gen7")]
    torch.testing.assert_close(added[0]["audio"], audio.load(gen / "seven_any_0.wav", sample_rate=8000)[0].to(added[0]["audio"].dtype))
    assert "2 generated clips" in data.description
    # the same folder twice would add every clip twice under one id: refused
    with pytest.raises(ParameterError, match="'gen7/seven_any_0.wav' is already a row"):
        fsdd_splits(seed=0, fsdd_folder=str(recordings), test_speakers=["cy"], val_speakers=["bo"], extra_train=[str(gen), str(gen)])
