"""Hostile manifests against parse_manifest, check_manifest, read_manifest and ManifestDataset.

Rows mix valid values with what broke them before: symbolic-link loops, NUL bytes, 300-character
names, paths leading out, labels of 5,000 digits, JSON nested 100,000 deep, non-UTF-8 bytes, and
audio files that are NaN, 1e300 or lie about their length. The contract: parse_manifest and
check_manifest never raise; read_manifest and the dataset raise only ManifestError naming the
manifest; ``on_error="skip"`` skips every bad file and lists its row; every sample returned is finite.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polysense.data.check import check_manifest
from polysense.data.dataset import ManifestDataset
from polysense.data.manifest import parse_manifest, read_manifest
from polysense.errors import ManifestError
from tests.fuzz.contract import all_finite, check_call

FUZZ = settings(max_examples=60, derandomize=True, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))

PATHS = ["ok.wav", "nan.wav", "e300.wav", "huge.flac", "loop-a.wav", "x\x00.wav", "x" * 300 + ".wav",
         "../outside.wav", "/etc/hostname", "", "sub", "missing.wav", "sub/../ok.wav", "~/x.wav", 7, None, ["ok.wav"]]
VALUES = ["9" * 5000, -1, 1.5, "cat", 10**30, True, None, [1, 2], {"a": 1}, "3", 3, 0, 1e300, "x\x00y", "é" * 3000]


def _folder(root: Path) -> Path:
    """A manifest folder with a good file, bad files, a symlink loop and a file outside."""
    folder = root / "data"
    if folder.exists():
        return folder
    (folder / "sub").mkdir(parents=True)
    x = (0.1 * np.sin(np.arange(4000) / 5.0)).astype(np.float64)
    sf.write(folder / "ok.wav", x, 8000, subtype="PCM_16")
    for name, value in (("nan.wav", np.nan), ("e300.wav", 1e300)):
        y = x.copy()
        y[10] = value
        sf.write(folder / name, y, 8000, subtype="DOUBLE")
    flac = folder / "huge.flac"
    sf.write(flac, x, 8000, subtype="PCM_16")
    data = bytearray(flac.read_bytes())
    data[21] |= 0x0F  # the top bits of STREAMINFO's 36-bit total-samples field: a claim of ~2**36 frames
    data[22:26] = b"\xff\xff\xff\xff"
    flac.write_bytes(bytes(data))
    os.symlink("loop-b.wav", folder / "loop-a.wav")
    os.symlink("loop-a.wav", folder / "loop-b.wav")
    sf.write(root / "outside.wav", x, 8000, subtype="PCM_16")
    return folder


rows = st.lists(st.fixed_dictionaries({}, optional={
    "id": st.one_of(st.sampled_from(VALUES), st.text(max_size=20)),
    "audio": st.sampled_from(PATHS),
    "text": st.sampled_from(VALUES),
    "label": st.sampled_from(VALUES),
    "split": st.sampled_from(["train", "val", "test", "TRAIN", 3, None]),
    "group": st.sampled_from(VALUES),
    "meta:x": st.sampled_from(VALUES),
    "bogus": st.just(1),
}), min_size=0, max_size=6)
raw_lines = st.lists(st.sampled_from([
    '{"audio": "ok.wav", "label": ' + "[" * 100_000 + "]" * 100_000 + "}",
    '{"audio": "ok.wav", "label": ' + "9" * 5000 + "}",
    '{"audio": "ok.wav", "id": "' + "\\u0000" + '"}',
    "[1, 2]", "not json", "", '{"audio": "ok.wav"}',
]), max_size=3)


def _write(folder: Path, kind: str, records: list[dict], extra: list[str]) -> Path:
    path = folder / f"m.{kind}"
    if kind == "jsonl":
        lines = [json.dumps(r) for r in records] + extra
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    else:
        columns = sorted({k for r in records for k in r}) or ["audio"]
        body = [",".join(columns)] + [",".join(json.dumps(r.get(c, "")) if not isinstance(r.get(c), str) else
                                                '"' + r[c].replace('"', '""') + '"' for c in columns) for r in records]
        path.write_bytes(("\n".join(body) + "\n").encode("utf-8", "surrogatepass") + (b"\xff\xfe" if extra else b""))
    return path


@FUZZ
@given(kind=st.sampled_from(["jsonl", "csv"]), records=rows, extra=raw_lines, allow_outside=st.booleans())
def test_hostile_manifests_hold_the_contract(tmp_path_factory, kind, records, extra, allow_outside):
    folder = _folder(tmp_path_factory.getbasetemp() / "manifests")
    path = _write(folder, kind, records, extra)
    names = [path.name]
    parsed = check_call(lambda: parse_manifest(path, allow_outside=allow_outside), names)
    assert not isinstance(parsed, Exception), f"parse_manifest raised {parsed}"
    report = check_call(lambda: check_manifest(path, allow_outside=allow_outside), names)
    assert not isinstance(report, Exception), f"check_manifest raised {report}"
    manifest = check_call(lambda: read_manifest(path, allow_outside=allow_outside), names)
    if isinstance(manifest, Exception):
        assert isinstance(manifest, ManifestError)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset = ManifestDataset(manifest, sample_rate=8000, on_error="skip")
        items = [check_call(lambda i=i: dataset[i], names) for i in range(len(dataset))]
    assert not any(isinstance(i, Exception) for i in items), f"on_error='skip' raised: {items}"
    skipped = {s.row for s in dataset.skipped}
    for row, item in zip(manifest.rows, items, strict=True):
        assert (item is None) == (row.number in skipped), f"row {row.number} skipped without being listed"
        assert item is None or all_finite(item)
    # check_manifest and the dataset agree on which rows' files are unusable
    bad_in_report = {p.row for p in report.errors if p.column == "audio"}
    assert skipped == bad_in_report & {r.number for r in manifest.rows if r.audio is not None}


def test_a_file_swapped_for_an_outside_symlink_after_reading_is_refused(tmp_path):
    folder = _folder(tmp_path)
    (folder / "swap.wav").write_bytes((folder / "ok.wav").read_bytes())
    path = folder / "m.csv"
    path.write_text("id,audio\na,swap.wav\n", encoding="utf-8")
    manifest = read_manifest(path)
    (folder / "swap.wav").unlink()
    os.symlink(tmp_path / "outside.wav", folder / "swap.wav")  # the swap, after the manifest was read
    with pytest.raises(ManifestError, match=r"row 1 .*id 'a'.*swap\.wav.*outside the manifest's folder"):
        ManifestDataset(manifest, sample_rate=8000)[0]
    with pytest.warns(UserWarning, match="skipping"):
        dataset = ManifestDataset(manifest, sample_rate=8000, on_error="skip")
        assert dataset[0] is None
    assert [s.id for s in dataset.skipped] == ["a"] and "outside" in dataset.skipped[0].reason
    report = check_manifest(path)
    assert not report.usable and "outside" in report.errors[0].message
    assert ManifestDataset(read_manifest(path, allow_outside=True), sample_rate=8000)[0]["audio"].numel() == 4000


@pytest.mark.parametrize("variable, value", [("POLYSENSE_MAX_MANIFEST_ROWS", "3"), ("POLYSENSE_MAX_MANIFEST_BYTES", "64")])
def test_manifest_limits_are_enforced_and_named(tmp_path, monkeypatch, variable, value):
    path = tmp_path / "m.csv"
    path.write_text("id,text\n" + "".join(f"r{i},hello world\n" for i in range(5)), encoding="utf-8")
    assert len(read_manifest(path)) == 5
    monkeypatch.setenv(variable, value)
    with pytest.raises(ManifestError, match=variable):
        read_manifest(path)
