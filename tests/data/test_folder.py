"""folder_manifest and `polysense data folder`: labels from sub-folders or a CSV, captions, groups,
a split keeping groups whole, every skipped file with its reason, bad input refused."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from PIL import Image
from typer.testing import CliRunner

from polysense.cli.main import app
from polysense.data.folder import folder_manifest
from polysense.data.manifest import read_manifest
from polysense.errors import ManifestError, ParameterError

runner = CliRunner()


def _wav(path, seconds=0.2, rate=8000):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (0.1 * np.sin(np.arange(int(seconds * rate)) / 3)).astype("float32"), rate)


@pytest.fixture
def birds(tmp_path):
    root = tmp_path / "birds"
    for kind in ("robin", "wren", "Common Loon"):
        for site in range(4):
            _wav(root / kind / f"site{site}_{kind[:2]}.wav")
    (root / "robin" / "site0_ro.txt").write_text("a robin at dawn\n")
    Image.new("RGB", (8, 8), (200, 10, 10)).save(root / "wren" / "photo.png")
    (root / "wren" / "broken.wav").write_bytes(b"not a wav")
    (root / "wren" / "empty.png").write_bytes(b"")
    _wav(root / "unsorted.wav")
    (root / "README.md").write_text("notes")
    (root / ".hidden.wav").write_bytes(b"x")
    return root


def test_subfolder_labels_groups_captions_and_skips(birds):
    result = folder_manifest(birds, captions=True, group=r"site(\d)")
    m = result.manifest
    assert m.classes == ("Common Loon", "robin", "wren")
    assert len(m) == 12  # the photo's name has no site: skipped below
    with_photo = folder_manifest(birds).manifest
    assert [r.id for r in with_photo.rows if r.image is not None] == ["wren/photo.png"] and len(with_photo) == 13
    assert {r.id: r.text for r in m.rows if r.text} == {"robin/site0_ro.wav": "a robin at dawn"}
    assert dict(result.skipped) == {
        "README.md": "not audio or an image (suffix .md)",
        "unsorted.wav": "no label: the file is not in a class sub-folder",
        "wren/broken.wav": "not a readable audio file (Format not recognised.)",
        "wren/empty.png": "empty file (0 bytes)",
        "wren/photo.png": "no group: --group " + repr(r"site(\d)") + " does not match its path",
    }
    for group in {r.group for r in m.rows}:
        assert len({r.split for r in m.rows if r.group == group}) == 1  # a site stays in one split
    assert [m.classes[r.label] for r in m.rows if r.id.startswith("robin/")] == ["robin"] * 4


def test_label_csv_reports_missing_files_and_refuses_two_classes(birds, tmp_path):
    table = tmp_path / "labels.csv"
    table.write_text("file,label\nrobin/site0_ro.wav,song\nwren/site1_wr.wav,call\ngone.wav,call\n")
    result = folder_manifest(birds, labels=table, split="none")
    assert [(r.id, result.manifest.classes[r.label]) for r in result.manifest.rows] == [
        ("robin/site0_ro.wav", "song"), ("wren/site1_wr.wav", "call")]
    assert ("gone.wav", f"listed in {table} but not found under {birds.resolve()}") in result.skipped
    assert ("robin/site1_ro.wav", f"no label: {table} does not list it") in result.skipped
    assert "split" not in result.manifest.columns
    table.write_text("file,label\nrobin/site0_ro.wav,song\nrobin/site0_ro.wav,call\n")
    with pytest.raises(ParameterError, match=r"line 3: robin/site0_ro.wav is in two classes, 'song' and 'call'"):
        folder_manifest(birds, labels=table)


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(group="site("), r"--group 'site\(' is not a regular expression"),
    (dict(split="group"), r"--split group needs --group REGEX"),
    (dict(split="stratified"), r"--split 'stratified': choose group, random or none"),
])
def test_bad_options(birds, kwargs, message):
    with pytest.raises(ParameterError, match=message):
        folder_manifest(birds, **kwargs)


def test_a_folder_without_audio(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("x")
    with pytest.raises(ManifestError, match=r"no usable audio or image file found \(1 skipped, e.g. docs/a.md"):
        folder_manifest(tmp_path)


def test_cli_writes_a_manifest_train_can_read_and_refuses_one_outside(birds, tmp_path):
    out = birds / "manifest.csv"
    result = runner.invoke(app, ["data", "folder", str(birds), "-o", str(out), "--group", r"site(\d)", "--seed", "1"])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert f"wrote {out}: 12 rows" in text and "3 classes: Common Loon, robin, wren" in text
    assert "skipped 5 file(s)" in text and "unsorted.wav: no label" in text
    back = read_manifest(out)
    assert back.classes == ("Common Loon", "robin", "wren") and len(back) == 12
    elsewhere = runner.invoke(app, ["data", "folder", str(birds), "-o", str(tmp_path / "elsewhere" / "m.csv")])
    assert elsewhere.exit_code == 1 and "write the manifest in" in elsewhere.output
    assert not (tmp_path / "elsewhere").exists()
