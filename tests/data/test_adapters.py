"""Adapters on tiny fake layouts: ESC-50, Clotho/AudioCaps captions CSV, COCO captions JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from polysense import audio
from polysense.data.adapters import captions_csv_manifest, coco_manifest, esc50_manifest
from polysense.data.dataset import ManifestDataset
from polysense.data.manifest import read_manifest, write_manifest
from polysense.errors import ManifestError, ParameterError


def wav(path: Path, n: int = 200) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return audio.save(path, 0.1 * torch.sin(torch.arange(n) / 3.0), 8000)


def png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((6, 8, 3), 120, dtype=np.uint8)).save(path)
    return path


# ------------------------------------------------------------------ ESC-50

ESC_HEADER = "filename,fold,target,category,esc10,src_file,take\n"


def esc50(root: Path, lines: list[str] | None = None, *, files: bool = True) -> Path:
    if lines is None:
        lines = [f"{fold}-{100 + k}-A-{k}.wav,{fold},{k},{cat},False,{100 + k},A"
                 for fold in range(1, 6) for k, cat in enumerate(["dog", "chirping_birds"])]
    (root / "meta").mkdir(parents=True)
    (root / "meta" / "esc50.csv").write_text(ESC_HEADER + "\n".join(lines) + "\n")
    if files:
        for line in lines:
            name = line.split(",")[0]
            if name:
                wav(root / "audio" / name)
    return root


def test_esc50_folds_become_splits(tmp_path):
    root = esc50(tmp_path / "ESC-50")
    m = esc50_manifest(root)
    assert len(m) == 10
    assert {r.split for r in m.rows if r.meta["fold"] == 5} == {"test"}
    assert {r.split for r in m.rows if r.meta["fold"] != 5} == {"train"}
    row = next(r for r in m.rows if r.id == "2-101-A-1")
    assert (row.label, row.text, row.group) == (1, "chirping birds", "101")
    assert row.audio == (root / "audio" / "2-101-A-1.wav").resolve()
    assert row.meta["category"] == "chirping_birds" and row.meta["take"] == "A"
    m = esc50_manifest(root, test_fold=1, val_fold=2)
    assert {r.meta["fold"]: r.split for r in m.rows} == {1: "test", 2: "val", 3: "train", 4: "train", 5: "train"}


def test_esc50_manifest_writes_reads_and_loads(tmp_path):
    root = esc50(tmp_path / "ESC-50")
    path = write_manifest(root / "manifest.csv", esc50_manifest(root))
    back = read_manifest(path)
    assert len(back) == 10 and back.rows[0].audio.is_file()
    sample = ManifestDataset(back, sample_rate=8000, split="test")[0]
    assert sample["label"] in (0, 1) and sample["audio"].shape == (200,) and sample["text"] in ("dog", "chirping birds")


def test_esc50_missing_layout_and_columns(tmp_path):
    with pytest.raises(ManifestError, match=r"meta/esc50\.csv.*not found.*Fix"):
        esc50_manifest(tmp_path)
    (tmp_path / "bad" / "meta").mkdir(parents=True)
    (tmp_path / "bad" / "meta" / "esc50.csv").write_text("filename,target\nx.wav,1\n")
    with pytest.raises(ManifestError, match="missing column.*fold, category"):
        esc50_manifest(tmp_path / "bad")


def test_esc50_bad_rows_are_all_named(tmp_path):
    lines = [
        "1-1-A-0.wav,1,0,dog,False,1,A",
        "1-2-A-0.wav,6,0,dog,False,2,A",   # fold out of range
        "1-3-A-0.wav,1,x,dog,False,3,A",   # target not an integer
        "1-1-A-0.wav,2,0,dog,False,1,A",   # duplicate file
        "1-4-A-0.wav,1,0,,False,4,A",      # empty category
    ]
    root = esc50(tmp_path / "e", lines)
    (root / "audio" / "1-3-A-0.wav").unlink()
    with pytest.raises(ManifestError) as info:
        esc50_manifest(root)
    message = str(info.value)
    assert "esc50.csv" in message and "5 problem(s)" in message
    assert "row 2 (line 3): fold '6' is not one of 1..5" in message
    assert "row 3 (line 4): target 'x'" in message
    assert "row 3 (line 4): audio file" in message
    assert "row 4 (line 5): filename '1-1-A-0.wav' is listed again (first at row 1)" in message
    assert "row 5 (line 6): empty category" in message
    assert message.count("Fix:") == 5
    with pytest.raises(ManifestError, match="4 problem") as info:  # without the file check
        esc50_manifest(root, check_files=False)
    assert "audio file" not in str(info.value)


def test_esc50_rows_after_blank_lines_and_short_rows_are_named_by_their_line(tmp_path):
    root = esc50(tmp_path / "e", ["1-1-A-0.wav,1,0,dog,False,1,A", "", "", "1-2-A-0.wav,7,0,dog,False,2,A", "1-3-A-0.wav,1,0"])
    with pytest.raises(ManifestError) as info:
        esc50_manifest(root, check_files=False)
    message = str(info.value)
    assert "2 problem(s)" in message
    assert "row 2 (line 5): fold '7' is not one of 1..5" in message  # counted past the blank lines 3 and 4
    assert "row 3 (line 6): empty category" in message  # a short row reads as empty cells


def test_esc50_argument_errors(tmp_path):
    root = esc50(tmp_path / "e")
    with pytest.raises(ParameterError, match="test_fold=6"):
        esc50_manifest(root, test_fold=6)
    with pytest.raises(ParameterError, match="val_fold=3 equals test_fold"):
        esc50_manifest(root, test_fold=3, val_fold=3)


# ------------------------------------------------------------------ Clotho / AudioCaps


def clotho(folder: Path, rows: list[list[str]], name: str = "clotho_captions_development.csv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    import csv

    path = folder / name
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file_name"] + [f"caption_{k}" for k in range(1, 6)])
        writer.writerows(rows)
    return path


def test_clotho_one_row_per_caption_grouped_by_clip(tmp_path):
    audio_dir = tmp_path / "development"
    wav(audio_dir / "Santa Motor.wav")
    wav(audio_dir / "rain, heavy.wav")
    csv_path = clotho(tmp_path, [
        ["Santa Motor.wav", "a motor hums", "an engine idles", "a car waits", "a machine runs", "a motor runs"],
        ["rain, heavy.wav", "rain falls on a roof", "", "heavy rain", "", ""],
    ])
    m = captions_csv_manifest(csv_path, audio_dir=audio_dir)
    assert [r.id for r in m.rows][:5] == [f"Santa Motor.wav#{k}" for k in range(1, 6)]
    assert len(m) == 7  # empty captions are not rows
    assert {r.group for r in m.rows} == {"Santa Motor.wav", "rain, heavy.wav"}
    assert {r.split for r in m.rows} == {"train"}  # from "development" in the file name
    assert m.rows[5].text == "rain falls on a roof" and m.rows[6].meta == {"caption_index": 3}
    assert captions_csv_manifest(csv_path, audio_dir=audio_dir, split="test").rows[0].split == "test"
    back = read_manifest(write_manifest(tmp_path / "clotho.csv", m))
    assert [r.text for r in back.rows] == [r.text for r in m.rows]


def test_clotho_bad_rows(tmp_path):
    audio_dir = tmp_path / "a"
    wav(audio_dir / "x.wav")
    csv_path = clotho(tmp_path, [
        ["x.wav", "one", "", "", "", ""],
        ["", "orphan caption", "", "", "", ""],
        ["x.wav", "again", "", "", "", ""],
        ["y.wav", "", "", "", "", ""],
        ["z.wav", "a caption", "", "", "", ""],
    ], name="captions.csv")
    with pytest.raises(ManifestError) as info:
        captions_csv_manifest(csv_path, audio_dir=audio_dir)
    message = str(info.value)
    assert "captions.csv: 4 problem(s)" in message
    assert "row 2 (line 3): empty file_name" in message
    assert "row 3 (line 4): file_name 'x.wav' is listed again" in message
    assert "row 4 (line 5): 'y.wav' has no caption" in message
    assert "row 5 (line 6): audio file" in message and "z.wav not found" in message


def test_unknown_captions_header_and_missing_inputs(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("name,text\na.wav,hello\n")
    with pytest.raises(ManifestError, match="unrecognised captions header.*file_name, caption_1"):
        captions_csv_manifest(path)
    with pytest.raises(ManifestError, match="not found"):
        captions_csv_manifest(tmp_path / "none.csv")
    with pytest.raises(ManifestError, match="audio folder not found"):
        captions_csv_manifest(path, audio_dir=tmp_path / "nowhere")
    with pytest.raises(ParameterError, match="split='dev'"):
        captions_csv_manifest(path, split="dev")
    (tmp_path / "h.csv").write_text("file_name,caption_1\n")
    with pytest.raises(ManifestError, match="no rows"):
        captions_csv_manifest(tmp_path / "h.csv")


AUDIOCAPS = "audiocap_id,youtube_id,start_time,caption\n91139,r1nicOVtvkQ,130,A woman talks nearby as water pours\n58146,UDGBjjwyaqE,20,Multiple clanging and clanking sounds\n"


def test_audiocaps_rows_and_file_name_probing(tmp_path):
    (tmp_path / "val.csv").write_text(AUDIOCAPS)
    audio_dir = tmp_path / "clips"
    wav(audio_dir / "r1nicOVtvkQ_130.wav")
    wav(audio_dir / "58146.wav")
    m = captions_csv_manifest(tmp_path / "val.csv", audio_dir=audio_dir)
    assert [r.id for r in m.rows] == ["91139", "58146"]
    assert [r.audio.name for r in m.rows] == ["r1nicOVtvkQ_130.wav", "58146.wav"]
    assert [r.group for r in m.rows] == ["r1nicOVtvkQ", "UDGBjjwyaqE"]
    assert {r.split for r in m.rows} == {"val"}
    assert m.rows[0].text == "A woman talks nearby as water pours"


def test_audiocaps_template_and_missing_files(tmp_path):
    (tmp_path / "train.csv").write_text(AUDIOCAPS)
    audio_dir = tmp_path / "clips"
    wav(audio_dir / "Y_r1nicOVtvkQ-130.flac")
    with pytest.raises(ManifestError) as info:
        captions_csv_manifest(tmp_path / "train.csv", audio_dir=audio_dir, filename_template="Y_{youtube_id}-{start_time}.flac")
    assert "row 2 (line 3): no audio file for audiocap_id 58146" in str(info.value)
    assert "Y_UDGBjjwyaqE-20.flac" in str(info.value) and "filename_template" in str(info.value)
    m = captions_csv_manifest(tmp_path / "train.csv", audio_dir=audio_dir,
                              filename_template="Y_{youtube_id}-{start_time}.flac", check_files=False)
    assert m.rows[0].audio.name == "Y_r1nicOVtvkQ-130.flac"
    with pytest.raises(ParameterError, match="filename_template"):
        captions_csv_manifest(tmp_path / "train.csv", audio_dir=audio_dir, filename_template="{video}.wav")


def test_audiocaps_bad_rows(tmp_path):
    (tmp_path / "test.csv").write_text("audiocap_id,youtube_id,start_time,caption\n1,abc,0,\n1,abd,0,a dog\n,abe,0,x\n")
    with pytest.raises(ManifestError) as info:
        captions_csv_manifest(tmp_path / "test.csv", check_files=False)
    message = str(info.value)
    assert "row 1 (line 2): empty caption" in message
    assert "row 3 (line 4): empty audiocap_id" in message
    m_ok = tmp_path / "ok.csv"
    m_ok.write_text("audiocap_id,youtube_id,start_time,caption\n1,abc,0,a\n1,abd,0,b\n")
    with pytest.raises(ManifestError, match="audiocap_id '1' is listed again"):
        captions_csv_manifest(m_ok, check_files=False)


# ------------------------------------------------------------------ COCO


def coco(tmp_path: Path, data: dict, name: str = "captions_val2017.json") -> Path:
    path = tmp_path / "annotations" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


COCO = {
    "images": [{"id": 1, "file_name": "000001.jpg", "width": 8}, {"id": 2, "file_name": "000002.jpg"}],
    "annotations": [
        {"id": 10, "image_id": 1, "caption": "A dog on a sofa. "},
        {"id": 11, "image_id": 1, "caption": "a brown dog"},
        {"id": 12, "image_id": 2, "caption": "two cats"},
    ],
}


def test_coco_rows_per_caption(tmp_path):
    images = tmp_path / "val2017"
    png(images / "000001.jpg")
    png(images / "000002.jpg")
    m = coco_manifest(images, coco(tmp_path, COCO))
    assert [(r.id, r.image.name, r.text, r.group, r.split) for r in m.rows] == [
        ("10", "000001.jpg", "A dog on a sofa.", "1", "val"),
        ("11", "000001.jpg", "a brown dog", "1", "val"),
        ("12", "000002.jpg", "two cats", "2", "val"),
    ]
    sample = ManifestDataset(m, image_size=4)[2]
    assert sample["image"].shape == (3, 4, 4) and sample["text"] == "two cats"
    no_ids = {"images": COCO["images"], "annotations": [{k: v for k, v in a.items() if k != "id"} for a in COCO["annotations"]]}
    assert [r.id for r in coco_manifest(images, coco(tmp_path, no_ids, "caps.json")).rows] == ["1#1", "1#2", "2#1"]


def test_coco_malformed_inputs(tmp_path):
    images = tmp_path / "imgs"
    png(images / "000001.jpg")
    broken = tmp_path / "broken.json"
    broken.write_text('{"images": [}')
    with pytest.raises(ManifestError, match=r"broken\.json: not valid JSON.*line 1, column 13"):
        coco_manifest(images, broken)
    with pytest.raises(ManifestError, match="'images' and 'annotations'"):
        coco_manifest(images, coco(tmp_path, {"images": []}, "a.json"))
    bad = {
        "images": [{"id": 1, "file_name": "000001.jpg"}, {"id": 1, "file_name": "dup.jpg"},
                   {"file_name": "noid.jpg"}, {"id": 3, "file_name": "missing.jpg"}],
        "annotations": [{"image_id": 1, "caption": "ok"}, {"image_id": 9, "caption": "orphan"},
                        {"image_id": 1, "caption": ""}, {"caption": "no image"}],
    }
    with pytest.raises(ManifestError) as info:
        coco_manifest(images, coco(tmp_path, bad, "b.json"))
    message = str(info.value)
    assert "b.json: 6 problem(s)" in message
    assert "images[1]: image id 1 is used twice" in message
    assert "images[2]: expected an object with 'id'" in message
    assert "images[3]: image file" in message and "missing.jpg not found" in message
    assert "annotations[1]: image_id 9 is not the id of any entry of 'images'" in message
    assert "annotations[2]: caption '' is not a non-empty string" in message
    assert "annotations[3]: expected an object with 'image_id'" in message
    with pytest.raises(ManifestError, match="image folder not found"):
        coco_manifest(tmp_path / "nowhere", broken)
