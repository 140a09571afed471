"""FSDD: file names, captions from speaker metadata, speaker-independent splits, bad input."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest
import torch

from polysense import audio
from polysense.data.fsdd import DIGIT_WORDS, fsdd_caption, fsdd_dataset, fsdd_manifest, parse_fsdd_name, read_speakers
from polysense.data.manifest import read_manifest, write_manifest
from polysense.errors import ManifestError, ParameterError

SPEAKERS_CSV = "speaker,gender,accent,language\nada,female,GBR/English,english\nbo,male,USA/neutral,english\ncy,male,DEU/German,english\n"


def make_fake_fsdd(root: Path, speakers=("ada", "bo", "cy"), takes: int = 2, with_csv: bool = True) -> Path:
    """A tiny FSDD layout: root/recordings/{digit}_{speaker}_{index}.wav (short 8 kHz tones) + speakers.csv."""
    recordings = root / "recordings"
    recordings.mkdir(parents=True)
    for s, speaker in enumerate(speakers):
        for digit in range(10):
            for index in range(takes):
                n = 400 + 40 * digit + 10 * index
                t = torch.arange(n, dtype=torch.float64) / 8000
                x = 0.3 * torch.sin(2 * torch.pi * (200 + 50 * digit + 7 * s) * t)
                audio.save(recordings / f"{digit}_{speaker}_{index}.wav", x, 8000, subtype="PCM_16")
    if with_csv:
        (root / "speakers.csv").write_text(SPEAKERS_CSV)
    return recordings


@pytest.fixture
def fake_fsdd(tmp_path) -> Path:
    return make_fake_fsdd(tmp_path / "fsdd")


def test_parse_fsdd_name():
    f = parse_fsdd_name("/x/7_jackson_32.wav")
    assert (f.digit, f.speaker, f.index, f.id) == (7, "jackson", 32, "7_jackson_32")


@pytest.mark.parametrize("name", ["jackson_7_32.wav", "12_jackson_3.wav", "7-jackson-32.wav", "7_jackson_x.wav", "7__1.wav"])
def test_bad_file_names_raise_naming_the_file(name):
    with pytest.raises(ManifestError, match=name.replace(".", r"\.")) as info:
        parse_fsdd_name(Path("/data") / name)
    assert "{digit}_{speaker}_{index}.wav" in str(info.value) and "Fix:" in str(info.value)


def test_a_bad_name_in_the_folder_stops_the_manifest(fake_fsdd):
    audio.save(fake_fsdd / "seven_ada_1.wav", torch.zeros(100), 8000)
    with pytest.raises(ManifestError, match="seven_ada_1.wav"):
        fsdd_manifest(fake_fsdd)


def test_caption_from_digit_and_speaker_metadata(tmp_path):
    (tmp_path / "speakers.csv").write_text("speaker,gender,accent\ntheo,male,USA/neutral\n")
    info = read_speakers(tmp_path / "speakers.csv")["theo"]
    assert fsdd_caption(7, "theo", info) == "the digit seven spoken by theo, a male speaker with a USA/neutral accent"
    assert fsdd_caption(0, "theo") == "the digit zero spoken by theo"


def test_manifest_rows_captions_and_groups(fake_fsdd):
    m = fsdd_manifest(fake_fsdd, test_speakers=("cy",))
    assert len(m) == 60
    assert m.columns[:6] == ("id", "audio", "text", "label", "split", "group")
    row = next(r for r in m.rows if r.id == "3_ada_1")
    assert row.label == 3 and row.group == "ada" and row.split == "train"
    assert row.text == "the digit three spoken by ada, a female speaker with a GBR/English accent"
    assert row.meta == {"speaker": "ada", "index": 1, "gender": "female", "accent": "GBR/English"}
    assert row.audio == (fake_fsdd / "3_ada_1.wav").resolve()


def test_splits_hold_out_the_named_speakers(fake_fsdd):
    m = fsdd_manifest(fake_fsdd, test_speakers="cy", val_speakers=("bo",))
    by_split = {s: {r.group for r in m.rows if r.split == s} for s in ("train", "val", "test")}
    assert by_split == {"train": {"ada"}, "val": {"bo"}, "test": {"cy"}}
    assert Counter(r.label for r in m.rows if r.split == "test") == {d: 2 for d in range(10)}
    m = fsdd_manifest(fake_fsdd, test_speakers=())
    assert {r.split for r in m.rows} == {"train"}


def test_split_errors_name_the_speakers(fake_fsdd):
    with pytest.raises(ParameterError, match="theo.*choose among ada, bo, cy"):
        fsdd_manifest(fake_fsdd, test_speakers=("theo",))
    with pytest.raises(ParameterError, match="both test_speakers and val_speakers"):
        fsdd_manifest(fake_fsdd, test_speakers=("bo",), val_speakers=("bo",))
    with pytest.raises(ParameterError, match="no training speaker"):
        fsdd_manifest(fake_fsdd, test_speakers=("ada", "bo"), val_speakers=("cy",))


def test_speaker_metadata_options(fake_fsdd, tmp_path):
    plain = fsdd_manifest(fake_fsdd, test_speakers="cy", speakers_csv=None)
    assert plain.rows[0].text == "the digit zero spoken by ada"
    assert "meta:gender" not in plain.columns
    partial = tmp_path / "partial.csv"
    partial.write_text("speaker,gender,accent\nada,female,GBR/English\n")
    # any FSDD-style collection: an unlisted speaker gets captions without metadata, and a warning
    with pytest.warns(UserWarning, match=r"partial\.csv.*bo, cy.*not listed"):
        mixed = fsdd_manifest(fake_fsdd, test_speakers="cy", speakers_csv=partial)
    captions = {r.group: r.text for r in mixed.rows if r.label == 0}
    assert captions == {
        "ada": "the digit zero spoken by ada, a female speaker with a GBR/English accent",
        "bo": "the digit zero spoken by bo",
        "cy": "the digit zero spoken by cy",
    }
    assert "meta:gender" in mixed.columns and {r.meta["gender"] for r in mixed.rows} == {"female", ""}
    broken = tmp_path / "broken.csv"
    broken.write_text("name,sex\nada,female\n")
    with pytest.raises(ManifestError, match="missing column"):
        fsdd_manifest(fake_fsdd, test_speakers="cy", speakers_csv=broken)


def test_read_speakers_errors_name_the_file_row_and_line(tmp_path):
    path = tmp_path / "speakers.csv"
    path.write_text("speaker,gender,accent,language\n\nada,female,GBR/English,English\n , ,\nbo,male\n")
    with pytest.raises(ManifestError, match=r"speakers\.csv: row 2 \(line 4\): empty speaker\. Fix: name the speaker"):
        read_speakers(path)
    path.write_text("speaker,gender,accent,language\n\nada,female,GBR/English,English\nbo,male\n")
    speakers = read_speakers(path)  # a short row leaves the missing values empty
    assert speakers["ada"].language == "English" and (speakers["bo"].gender, speakers["bo"].accent) == ("male", "")
    with pytest.raises(ManifestError, match="speakers file not found.*speakers_csv=None"):
        read_speakers(tmp_path / "none.csv")
    path.write_bytes(b"speaker,gender,accent\n\xff\xfe,x,y\n")
    with pytest.raises(ManifestError, match="cannot read the speakers CSV.*UTF-8"):
        read_speakers(path)
    path.write_text("")
    with pytest.raises(ManifestError, match="missing column.*speaker, gender, accent"):
        read_speakers(path)


def test_missing_or_empty_folder(tmp_path):
    with pytest.raises(ManifestError, match="not found"):
        fsdd_manifest(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ManifestError, match="no .wav files"):
        fsdd_manifest(tmp_path / "empty")


def test_written_manifest_reads_back_and_loads(fake_fsdd):
    m = fsdd_manifest(fake_fsdd, test_speakers="cy")
    path = write_manifest(fake_fsdd.parent / "fsdd.csv", m)
    with open(path, newline="") as handle:
        assert {row["label"] for row in csv.DictReader(handle)} == set(DIGIT_WORDS)  # names, as the built-ins
    back = read_manifest(path).with_classes(DIGIT_WORDS)
    assert [(r.id, r.audio, r.text, r.label, r.split, r.group) for r in back.rows] == [
        (r.id, r.audio, r.text, r.label, r.split, r.group) for r in m.rows
    ]
    ds = fsdd_dataset(fake_fsdd, split="test", test_speakers="cy")
    assert len(ds) == 20
    sample = ds[0]
    assert sample["group"] == "cy" and sample["sample_rate"] == 8000 and sample["audio"].ndim == 1


@pytest.mark.fsdd
def test_real_fsdd(fsdd_dir):
    m = fsdd_manifest(fsdd_dir, test_speakers=("theo",), val_speakers=("nicolas",))
    assert len(m) == 2000
    assert Counter(r.split for r in m.rows) == {"train": 1000, "val": 500, "test": 500}
    assert {r.group for r in m.rows if r.split == "test"} == {"theo"}
    assert Counter(r.label for r in m.rows) == {d: 200 for d in range(10)}
    row = next(r for r in m.rows if r.id == "7_theo_0")
    assert row.text == "the digit seven spoken by theo, a male speaker with a USA/neutral accent"
    ds = fsdd_dataset(fsdd_dir, split="test")
    sample = ds[0]
    assert sample["sample_rate"] == 8000 and sample["audio"].dtype == torch.float32
    assert 0 < float(sample["audio"].abs().max()) <= 1
