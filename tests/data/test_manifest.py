"""Manifests: CSV and JSONL parsing, path resolution and confinement, and every bad-input error."""

from __future__ import annotations

import os

import pytest

from polysense.data.manifest import Manifest, parse_manifest, read_manifest, write_manifest
from polysense.errors import ManifestError
from tests.data.manifest_helpers import COLUMNS, make_manifest, make_rows, write_csv, write_jsonl, write_wav


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_reads_every_column_and_resolves_paths_against_the_manifest_folder(tmp_path, fmt):
    path = make_manifest(tmp_path, 6, fmt=fmt)
    m = read_manifest(path)
    assert isinstance(m, Manifest) and len(m) == 6
    assert m.root == tmp_path.resolve()
    assert m.modalities == ("audio", "image", "text")
    r = m[2]
    assert (r.number, r.id, r.label, r.split, r.group, r.text) == (3, "s2", 2, "train", "g2", "sample number 2")
    assert r.audio == (tmp_path / "audio" / "a2.wav").resolve() and r.audio.is_file()
    assert r.image == (tmp_path / "images" / "i2.png").resolve()
    if fmt == "csv":
        assert r.line == 4  # header is line 1


def test_csv_and_jsonl_give_the_same_rows(tmp_path):
    rows = make_rows(tmp_path, 5)
    a = read_manifest(write_csv(tmp_path / "m.csv", rows, COLUMNS))
    b = read_manifest(write_jsonl(tmp_path / "m.jsonl", rows))
    strip = lambda m: [(r.id, r.audio, r.image, r.text, r.label, r.split, r.group) for r in m]  # noqa: E731
    assert strip(a) == strip(b)


def test_optional_columns_and_generated_ids(tmp_path):
    write_wav(tmp_path / "x.wav")
    m = read_manifest(write_csv(tmp_path / "m.csv", [{"audio": "x.wav"}, {"audio": "x.wav"}]))
    assert [r.id for r in m] == ["row1", "row2"]
    assert m[0].label is None and m[0].split is None and m.modalities == ("audio",)


def test_text_only_manifest_and_label_tasks_and_meta(tmp_path):
    rows = [{"text": "a red square", "label": 1, "label:audio": 0, "label:both": "2", "meta:speaker": "theo"}]
    m = read_manifest(write_jsonl(tmp_path / "m.jsonl", rows))
    assert m.label_tasks == ("audio", "both")
    assert m[0].labels == {"audio": 0, "both": 2} and m[0].meta == {"speaker": "theo"}


@pytest.mark.parametrize("value, expected", [("3", 3), ("3.0", 3), (" 7 ", 7), ("+2", 2)])
def test_int_like_labels_are_accepted(tmp_path, value, expected):
    m = read_manifest(write_csv(tmp_path / "m.csv", [{"text": "t", "label": value}]))
    assert m[0].label == expected


def test_write_manifest_round_trips(tmp_path):
    m = read_manifest(make_manifest(tmp_path, 4))
    for name in ("copy.csv", "copy.jsonl"):
        again = read_manifest(write_manifest(tmp_path / name, m))
        assert [(r.id, r.audio, r.image, r.text, r.label, r.split, r.group) for r in again] == [
            (r.id, r.audio, r.image, r.text, r.label, r.split, r.group) for r in m
        ]


# --- paths that escape the manifest's folder ---------------------------------------------------


@pytest.fixture
def outside(tmp_path):
    """A manifest folder and a WAV file outside it."""
    folder = tmp_path / "dataset"
    folder.mkdir()
    secret = write_wav(tmp_path / "elsewhere" / "secret.wav")
    return folder, secret


def test_dotdot_path_is_refused(outside):
    folder, _ = outside
    path = write_csv(folder / "m.csv", [{"id": "a", "audio": "../elsewhere/secret.wav"}])
    with pytest.raises(ManifestError, match=r"(?s)m\.csv.*row 1 \(line 2\), id 'a'.*outside the manifest's folder.*allow_outside=True"):
        read_manifest(path)
    assert read_manifest(path, allow_outside=True)[0].audio.name == "secret.wav"


def test_absolute_path_elsewhere_is_refused_but_inside_is_fine(outside):
    folder, secret = outside
    inside = write_wav(folder / "ok.wav")
    path = write_csv(folder / "m.csv", [{"id": "in", "audio": str(inside)}, {"id": "out", "audio": str(secret)}])
    with pytest.raises(ManifestError, match=r"id 'out'.*outside") as info:
        read_manifest(path)
    assert "'in'" not in str(info.value)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links on this platform")
def test_symlink_pointing_out_is_refused(outside):
    folder, secret = outside
    (folder / "link.wav").symlink_to(secret)
    path = write_csv(folder / "m.csv", [{"id": "l", "audio": "link.wav"}])
    with pytest.raises(ManifestError, match=r"link\.wav.*outside"):
        read_manifest(path)
    assert read_manifest(path, allow_outside=True)[0].audio == secret.resolve()


# --- bad input: each names the row (where there is one) and the fix -----------------------------


def test_unknown_modality_column(tmp_path):
    path = write_csv(tmp_path / "m.csv", [{"id": "a", "text": "t", "video": "clip.mp4"}])
    with pytest.raises(ManifestError, match=r"unknown column 'video'.*Fix:.*audio, image, text.*label:TASK.*meta:NAME"):
        read_manifest(path)


def test_missing_modality_column(tmp_path):
    path = write_csv(tmp_path / "m.csv", [{"id": "a", "label": 1}])
    with pytest.raises(ManifestError, match=r"missing column.*none of the modality columns.*Fix: add an 'audio', 'image' or 'text' column"):
        read_manifest(path)


def test_missing_value_in_a_label_column(tmp_path):
    rows = [{"text": "a", "label": 1}, {"text": "b"}]
    with pytest.raises(ManifestError, match=r"row 2 \(line 2\), id 'row2': missing label.*Fix: give every row an integer class id"):
        read_manifest(write_jsonl(tmp_path / "m.jsonl", rows))


@pytest.mark.parametrize("bad", ["cat/dog", "1.5", "-1", "nan", "_x", "x" * 101])
def test_label_that_is_neither_an_id_nor_a_class_name(tmp_path, bad):
    path = write_csv(tmp_path / "m.csv", [{"id": "ok", "text": "t", "label": 0}, {"id": "bad", "text": "t", "label": bad}])
    with pytest.raises(ManifestError, match=rf"row 2 \(line 3\), id 'bad': label '{bad[:30]}.*is neither an integer class id >= 0 "
                                            r".* nor a class name.*Fix: write a class name"):
        read_manifest(path)


def test_class_name_labels_make_every_label_a_name(tmp_path):
    rows = [{"id": "a", "text": "t", "label": "robin"}, {"id": "b", "text": "t", "label": 3},
            {"id": "c", "text": "t", "label": "Common Loon"}, {"id": "d", "text": "t", "label": "robin"}]
    manifest = read_manifest(write_csv(tmp_path / "m.csv", rows))
    assert manifest.classes == ("3", "Common Loon", "robin")  # sorted; the integer 3 is the name "3"
    assert [r.label for r in manifest] == [2, 0, 1, 2]
    back = read_manifest(write_manifest(tmp_path / "back.jsonl", manifest))
    assert back.classes == manifest.classes and [r.label for r in back] == [2, 0, 1, 2]
    assert '"label": "Common Loon"' in (tmp_path / "back.jsonl").read_text()


def test_with_classes_maps_names_and_ids_onto_a_models_classes(tmp_path):
    named = read_manifest(write_csv(tmp_path / "n.csv", [{"text": "t", "label": "two"}, {"text": "u", "label": "zero"}]))
    mapped = named.with_classes(("zero", "one", "two"))
    assert [r.label for r in mapped] == [2, 0] and mapped.classes == ("zero", "one", "two")
    ids = read_manifest(write_csv(tmp_path / "i.csv", [{"text": "t", "label": 2}, {"text": "u", "label": 0}]))
    assert ids.classes is None and ids.class_names() == ("0", "1", "2")  # an id absent from the rows keeps its place
    assert [r.label for r in ids.with_classes(("zero", "one", "two"))] == [2, 0]  # an integer is an id
    with pytest.raises(ManifestError, match=r"1 row\(s\) have a label outside the classes \['zero', 'one'\]: "
                                            r"row 1 \(line 2\), id 'row1' label 'two'"):
        named.with_classes(("zero", "one"))
    with pytest.raises(ManifestError, match=r"row 1 \(line 2\), id 'row1' label '2'.*their ids 0..1"):
        ids.with_classes(("zero", "one"))


def test_wrong_type_in_jsonl(tmp_path):
    rows = [{"id": "a", "audio": 5, "label": 0}, {"id": "b", "text": ["x"], "label": 0}, {"id": "c", "text": "t", "label": True}]
    with pytest.raises(ManifestError) as info:
        read_manifest(write_jsonl(tmp_path / "m.jsonl", rows))
    msg = str(info.value)
    assert "3 problem(s)" in msg
    assert "row 1 (line 1), id 'a': audio must be a file path, got int" in msg
    assert "row 2 (line 2), id 'b': text must be a string, got list" in msg
    assert "row 3 (line 3), id 'c': label True is neither an integer class id" in msg


def test_unknown_split_name(tmp_path):
    path = write_csv(tmp_path / "m.csv", [{"text": "t", "split": "training"}])
    with pytest.raises(ManifestError, match=r"row 1.*split 'training' is not one of train, val, test"):
        read_manifest(path)


def test_duplicate_ids(tmp_path):
    path = write_csv(tmp_path / "m.csv", [{"id": "x", "text": "a"}, {"id": "y", "text": "b"}, {"id": "x", "text": "c"}])
    with pytest.raises(ManifestError, match=r"row 3 \(line 4\), id 'x': duplicate id: row 1 has the same id.*Fix: give every row a unique id"):
        read_manifest(path)


def test_row_without_any_modality(tmp_path):
    path = write_csv(tmp_path / "m.csv", [{"id": "a", "text": "t", "label": 0}, {"id": "b", "text": "", "label": 1}])
    with pytest.raises(ManifestError, match=r"row 2.*id 'b': has no audio, image, text value"):
        read_manifest(path)


def test_ragged_csv_row(tmp_path):
    (tmp_path / "m.csv").write_text("id,text,label\na,hello,1\nb,hello, world,2\n")
    with pytest.raises(ManifestError, match=r"row 2 \(line 3\): has 4 fields but the header has 3.*quote fields"):
        read_manifest(tmp_path / "m.csv")


def test_csv_blank_lines_are_skipped_and_rows_keep_their_line_numbers(tmp_path):
    (tmp_path / "m.csv").write_text('id,text,label\n\na,"two\nlines",1\n , ,\nb,hello,2\n\nc,x,1,9\n')
    with pytest.raises(ManifestError, match=r"row 3 \(line 8\): has 4 fields but the header has 3"):
        read_manifest(tmp_path / "m.csv")
    (tmp_path / "m.csv").write_text('id,text,label\n\na,"two\nlines",1\n , ,\nb,hello,2\n\n')
    m = read_manifest(tmp_path / "m.csv")
    assert [(r.number, r.line, r.id, r.text) for r in m] == [(1, 3, "a", "two\nlines"), (2, 6, "b", "hello")]
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ManifestError, match="the CSV file is empty: no header row"):
        read_manifest(tmp_path / "empty.csv")


def test_invalid_json_line(tmp_path):
    (tmp_path / "m.jsonl").write_text('{"text": "a"}\n{"text": "b",}\n')
    with pytest.raises(ManifestError, match=r"row 2 \(line 2\): is not valid JSON"):
        read_manifest(tmp_path / "m.jsonl")


def test_empty_manifest_and_unknown_format_and_missing_file(tmp_path):
    (tmp_path / "m.csv").write_text("id,text\n")
    with pytest.raises(ManifestError, match="no rows"):
        read_manifest(tmp_path / "m.csv")
    (tmp_path / "m.txt").write_text("x")
    with pytest.raises(ManifestError, match=r"unknown manifest format '\.txt'.*\.csv.*\.jsonl"):
        read_manifest(tmp_path / "m.txt")
    with pytest.raises(ManifestError, match="not found"):
        read_manifest(tmp_path / "absent.csv")


def test_parse_collects_every_problem_instead_of_stopping(tmp_path):
    rows = [{"id": "a", "text": "t", "label": "-x"}, {"id": "b", "text": "t", "label": "0.5"}, {"id": "c", "text": "t", "label": 1}]
    manifest, problems = parse_manifest(write_csv(tmp_path / "m.csv", rows))
    assert [p.row for p in problems] == [1, 2]
    assert [r.id for r in manifest] == ["c"]
