"""Adapters: common dataset layouts on disk -> :class:`~polysense.data.manifest.Manifest`.

Each adapter reads a local copy (nothing is downloaded), checks it, and returns an in-memory
manifest whose file paths are absolute. Use it directly with
:class:`~polysense.data.dataset.ManifestDataset`, or save it with
:func:`polysense.data.manifest.write_manifest` (paths are then written relative to the manifest's
folder; a manifest written outside the dataset's folder needs ``allow_outside=True`` to be read).

=========================  =====================================================================
adapter                    layout
=========================  =====================================================================
:func:`esc50_manifest`     ``ROOT/meta/esc50.csv`` (``filename,fold,target,category,...``) and
                           ``ROOT/audio/<filename>``; one row per clip, ``label`` = ``target``,
                           ``text`` = the category in words, ``group`` = ``src_file`` (the source
                           recording), ``split`` from the five folds, ``meta:fold``
:func:`captions_csv_`      Clotho (``file_name,caption_1..caption_5``: one row per caption,
``manifest``               ``id`` = ``<file_name>#<k>``, ``group`` = the file) or AudioCaps
                           (``audiocap_id,youtube_id,start_time,caption``: one row per line,
                           ``group`` = the YouTube id); ``text`` = the caption
:func:`coco_manifest`      an image folder and a COCO captions JSON (``images: [{id, file_name}]``,
                           ``annotations: [{image_id, caption}]``): one row per caption,
                           ``group`` = the image id
=========================  =====================================================================

Malformed input raises :class:`~polysense.errors.ManifestError` naming the file, the row (CSV:
data row and line number; JSON: the list and index) and the fix, listing every problem found
(up to 20) rather than only the first.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from polysense.data.manifest import Manifest, Row, check_split_name, read_csv_lines
from polysense.errors import ManifestError, ParameterError

__all__ = ["captions_csv_manifest", "coco_manifest", "esc50_manifest"]

PathLike = str | os.PathLike
_SHOWN = 20


class _Problems:
    """Collects the problems of one input file and raises them together."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.items: list[str] = []

    def add(self, where: str, message: str, fix: str) -> None:
        self.items.append(f"{where}: {message}. Fix: {fix}")

    def check_key(self, where: str, column: str, value: str, seen: dict[str, int], *, empty_fix: str,
                  again_fix: str) -> bool:
        """Report an empty key ``value`` of ``column``, or one ``seen`` before (naming the row it was
        first at); True when it is neither."""
        if not value:
            self.add(where, f"empty {column}", empty_fix)
            return False
        if value in seen:
            self.add(where, f"{column} {value!r} is listed again (first at row {seen[value]})", again_fix)
            return False
        return True

    def raise_if_any(self) -> None:
        if not self.items:
            return
        shown = "\n  ".join(self.items[:_SHOWN])
        more = f"\n  ... and {len(self.items) - _SHOWN} more" if len(self.items) > _SHOWN else ""
        raise ManifestError(f"{self.file}: {len(self.items)} problem(s):\n  {shown}{more}")


def _fail(file: Path, message: str, fix: str) -> ManifestError:
    return ManifestError(f"{file}: {message}. Fix: {fix}")


def _read_csv(path: Path, required: Sequence[str], layout: str) -> tuple[list[str], list[tuple[int, int, dict]]]:
    """Header and ``(row number, line, record)`` of a CSV; raises for a missing file or columns.

    Records map the header's names to the row's values, None for values missing from a short row
    (as ``csv.DictReader`` gives); values beyond the header are dropped.
    """
    if not path.is_file():
        raise _fail(path, "file not found", f"pass the folder or file of a {layout} layout")
    try:
        columns, lines = read_csv_lines(path)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise _fail(path, f"cannot read the CSV ({exc})", "save it as UTF-8 CSV text") from None
    header = list(columns or ())
    records = []
    for number, (line, values) in enumerate(lines, start=1):
        record: dict[str, str | None] = dict(zip(header, values))
        for column in header[len(values):]:
            record[column] = None
        records.append((number, line, record))
    missing = [c for c in required if c not in header]
    if missing:
        raise _fail(
            path,
            f"missing column(s) {', '.join(missing)} (the header has {', '.join(header) or 'nothing'})",
            f"a {layout} CSV needs the columns {', '.join(required)}",
        )
    if not records:
        raise _fail(path, "the CSV has a header but no rows", f"add one row per {layout} item")
    return header, records


def _where(number: int, line: int) -> str:
    return f"row {number} (line {line})"


def _cell(record: dict, column: str) -> str:
    value = record.get(column)
    return "" if value is None else str(value).strip()


def _split_from_name(path: Path) -> str | None:
    """``train``/``val``/``test`` guessed from a file name (Clotho, AudioCaps and COCO conventions)."""
    stem = path.stem.lower()
    for pattern, split in (
        (r"(^|[^a-z])(train|development|dev)([^a-z]|$)", "train"),
        (r"(^|[^a-z])(val|valid|validation)([^a-z]|$)", "val"),
        (r"(^|[^a-z])(test|eval|evaluation)([^a-z]|$)", "test"),
    ):
        if re.search(pattern, stem.replace("_", " ").replace("-", " ")):
            return split
    return None


def _columns(rows: Sequence[Row]) -> tuple[str, ...]:
    columns = ["id"]
    for name in ("audio", "image", "text", "label", "split", "group"):
        if any(getattr(r, name) is not None for r in rows):
            columns.append(name)
    meta = sorted({k for r in rows for k in r.meta})
    return (*columns, *(f"meta:{k}" for k in meta))


def _manifest(source: Path, root: Path, rows: list[Row]) -> Manifest:
    return Manifest(path=source, root=root.resolve(), columns=_columns(rows), rows=tuple(rows))


# ----------------------------------------------------------------------------------------------
# ESC-50
# ----------------------------------------------------------------------------------------------

ESC50_COLUMNS = ("filename", "fold", "target", "category")


def esc50_manifest(
    root: PathLike,
    *,
    test_fold: int = 5,
    val_fold: int | None = None,
    check_files: bool = True,
) -> Manifest:
    """ESC-50 (``ROOT/meta/esc50.csv`` + ``ROOT/audio/``) as a manifest.

    The five folds map to the ``split`` column: fold ``test_fold`` -> ``test``, fold ``val_fold``
    (optional) -> ``val``, the others -> ``train``; ``meta:fold`` keeps the fold so the other
    cross-validation splits can be made (``esc50_manifest(root, test_fold=k)`` for k = 1..5).
    ``label`` = ``target`` (0..49), ``text`` = ``category`` with ``_`` as spaces
    (``"chirping birds"``), ``group`` = ``src_file`` when present (clips cut from one source
    recording share it), ``meta:category``, ``meta:esc10``, ``meta:take`` when present.
    ``check_files``: every listed audio file must exist.
    """
    root = Path(root)
    meta = root / "meta" / "esc50.csv"
    if not meta.is_file() and root.name == "esc50.csv":  # the CSV itself was passed
        meta, root = root, root.parent.parent
    folds = {1, 2, 3, 4, 5}
    for name, fold in (("test_fold", test_fold), ("val_fold", val_fold)):
        if fold is not None and fold not in folds:
            raise ParameterError(f"{name}={fold!r} is invalid: ESC-50 folds are 1..5")
    if val_fold is not None and val_fold == test_fold:
        raise ParameterError(f"val_fold={val_fold} equals test_fold: choose two different folds")
    if not meta.is_file():
        raise _fail(meta, "ESC-50 metadata not found",
                    "pass the ESC-50 folder that holds meta/esc50.csv and audio/ (e.g. ESC-50-master)")
    _, records = _read_csv(meta, ESC50_COLUMNS, "ESC-50 (meta/esc50.csv)")
    problems = _Problems(meta)
    rows: list[Row] = []
    seen: dict[str, int] = {}
    for number, line, record in records:
        where = _where(number, line)
        filename, category = _cell(record, "filename"), _cell(record, "category")
        fold, target = _int(_cell(record, "fold")), _int(_cell(record, "target"))
        start = len(problems.items)
        problems.check_key(where, "filename", filename, seen, again_fix="list every clip once",
                           empty_fix="give the clip's file name in audio/ (e.g. 1-100032-A-0.wav)")
        if fold not in folds:
            problems.add(where, f"fold {_cell(record, 'fold')!r} is not one of 1..5", "write the clip's fold as 1-5")
        if target is None:
            problems.add(where, f"target {_cell(record, 'target')!r} is not an integer class id >= 0",
                         "write the class id 0..49")
        if not category:
            problems.add(where, "empty category", "give the class name (e.g. dog)")
        path = root / "audio" / filename
        if filename and check_files and not path.is_file():
            problems.add(where, f"audio file {path} not found",
                         "put the clips in ROOT/audio/, remove the row, or pass check_files=False")
        if len(problems.items) > start:
            continue
        seen[filename] = number
        split = "test" if fold == test_fold else "val" if fold == val_fold else "train"
        meta_values: dict[str, Any] = {"fold": fold, "category": category}
        for extra in ("esc10", "take"):
            if _cell(record, extra):
                meta_values[extra] = _cell(record, extra)
        rows.append(Row(
            number=number, line=line, id=Path(filename).stem, audio=path.resolve(),
            text=category.replace("_", " "), label=target, split=split,
            group=_cell(record, "src_file") or None, meta=meta_values,
        ))
    problems.raise_if_any()
    return _manifest(meta, root, rows)


def _int(text: str) -> int | None:
    return int(text) if re.fullmatch(r"\+?\d+", text) else None


# ----------------------------------------------------------------------------------------------
# Clotho / AudioCaps captions
# ----------------------------------------------------------------------------------------------

CLOTHO_COLUMNS = ("file_name", "caption_1")
AUDIOCAPS_COLUMNS = ("audiocap_id", "youtube_id", "start_time", "caption")
AUDIOCAPS_TEMPLATES = (
    "{audiocap_id}.wav",
    "{youtube_id}_{start_time}.wav",
    "Y{youtube_id}.wav",
    "{youtube_id}.wav",
    "{audiocap_id}.flac",
    "{youtube_id}_{start_time}.flac",
)


def captions_csv_manifest(
    csv_path: PathLike,
    *,
    audio_dir: PathLike | None = None,
    split: str | None = None,
    filename_template: str | None = None,
    check_files: bool = True,
) -> Manifest:
    """A Clotho- or AudioCaps-style captions CSV as a manifest of (audio, caption) rows.

    The format is recognised from the header:

    * Clotho: ``file_name, caption_1, ..., caption_5`` (any number of ``caption_<k>`` columns):
      one row per non-empty caption, ``id = "<file_name>#<k>"``, ``group`` = ``file_name`` so a
      group-aware split keeps all captions of a clip together; ``meta:caption_index`` = k.
    * AudioCaps: ``audiocap_id, youtube_id, start_time, caption``: one row per line,
      ``id`` = ``audiocap_id``, ``group`` = ``youtube_id``. The audio file name comes from
      ``filename_template`` (``str.format`` over the row's columns, e.g. ``"{youtube_id}_{start_time}.wav"``);
      without one, the first of :data:`AUDIOCAPS_TEMPLATES` that exists for the row is used.

    ``audio_dir``: where the audio files are (default: the CSV's folder). ``split``: the split of
    every row (``train``, ``val``, ``test``); by default guessed from the CSV's name
    (``development``/``train`` -> train, ``validation``/``val`` -> val, ``evaluation``/``test`` -> test),
    otherwise no split column. ``check_files``: every audio file must exist.
    """
    csv_path = Path(csv_path)
    audio_root = Path(audio_dir) if audio_dir is not None else csv_path.parent
    split = check_split_name(split) or _split_from_name(csv_path)
    if audio_dir is not None and not audio_root.is_dir():
        raise _fail(audio_root, "audio folder not found", "pass audio_dir= as the folder holding the clips")
    header, records = _read_csv(csv_path, (), "captions")
    if all(c in header for c in CLOTHO_COLUMNS):
        rows = _clotho_rows(csv_path, header, records, audio_root, split, check_files)
    elif all(c in header for c in AUDIOCAPS_COLUMNS):
        rows = _audiocaps_rows(csv_path, records, audio_root, split, filename_template, check_files)
    else:
        raise _fail(
            csv_path,
            f"unrecognised captions header ({', '.join(header) or 'empty'})",
            f"use Clotho's columns {', '.join(CLOTHO_COLUMNS)}[, caption_2 ...] or AudioCaps' columns "
            f"{', '.join(AUDIOCAPS_COLUMNS)}",
        )
    return _manifest(csv_path, audio_root, rows)


def _clotho_rows(csv_path, header, records, audio_root, split, check_files) -> list[Row]:
    caption_columns = sorted(
        (c for c in header if re.fullmatch(r"caption_\d+", c)), key=lambda c: int(c.split("_")[1])
    )
    problems = _Problems(csv_path)
    rows: list[Row] = []
    seen: dict[str, int] = {}
    for number, line, record in records:
        where = _where(number, line)
        name = _cell(record, "file_name")
        if not problems.check_key(where, "file_name", name, seen, again_fix="put all captions of a clip on its one row",
                                  empty_fix="give the clip's file name (e.g. Santa Motor.wav)"):
            continue
        seen[name] = number
        captions = [(int(c.split("_")[1]), _cell(record, c)) for c in caption_columns]
        captions = [(k, text) for k, text in captions if text]
        if not captions:
            problems.add(where, f"{name!r} has no caption (all of {', '.join(caption_columns)} are empty)",
                         "write at least one caption or remove the row")
            continue
        path = audio_root / name
        if check_files and not path.is_file():
            problems.add(where, f"audio file {path} not found",
                         "pass audio_dir= as the folder holding the clips, or check_files=False")
            continue
        for k, text in captions:
            rows.append(Row(number=len(rows) + 1, line=line, id=f"{name}#{k}", audio=path.resolve(), text=text,
                            split=split, group=name, meta={"caption_index": k}))
    problems.raise_if_any()
    return rows


def _audiocaps_rows(csv_path, records, audio_root, split, template, check_files) -> list[Row]:
    problems = _Problems(csv_path)
    rows: list[Row] = []
    seen: dict[str, int] = {}
    for number, line, record in records:
        where = _where(number, line)
        values = {k: _cell(record, k) for k in record}
        cap_id, caption = values.get("audiocap_id", ""), values.get("caption", "")
        start = len(problems.items)
        problems.check_key(where, "audiocap_id", cap_id, seen, empty_fix="give every row its AudioCaps id",
                           again_fix="give every caption a unique audiocap_id")
        if not values.get("youtube_id"):
            problems.add(where, "empty youtube_id", "give the YouTube id of the clip's source video")
        if not caption:
            problems.add(where, "empty caption", "write the caption or remove the row")
        if len(problems.items) > start:
            continue
        seen[cap_id] = number
        try:
            candidates = [template.format(**values)] if template else [t.format(**values) for t in AUDIOCAPS_TEMPLATES]
        except (KeyError, IndexError, ValueError) as exc:
            raise ParameterError(
                f"filename_template={template!r} cannot be filled from the columns of {csv_path} ({exc!r}): "
                f"use placeholders among {', '.join('{' + k + '}' for k in values)}"
            ) from None
        path = next((audio_root / c for c in candidates if (audio_root / c).is_file()), audio_root / candidates[0])
        if check_files and not path.is_file():
            tried = ", ".join(candidates)
            problems.add(where, f"no audio file for audiocap_id {cap_id} in {audio_root} (tried {tried})",
                         "pass audio_dir= and filename_template= matching your file names, or check_files=False")
            continue
        rows.append(Row(number=number, line=line, id=cap_id, audio=path.resolve(), text=caption, split=split,
                        group=values["youtube_id"], meta={"start_time": values.get("start_time", "")}))
    problems.raise_if_any()
    return rows


# ----------------------------------------------------------------------------------------------
# COCO captions
# ----------------------------------------------------------------------------------------------


def coco_manifest(
    image_dir: PathLike,
    captions_json: PathLike,
    *,
    split: str | None = None,
    check_files: bool = True,
) -> Manifest:
    """An image folder and a COCO-style captions JSON as a manifest of (image, caption) rows.

    The JSON holds ``"images": [{"id", "file_name", ...}]`` and
    ``"annotations": [{"image_id", "caption", "id"?}]``. One row per annotation: ``id`` = the
    annotation's ``id`` (or ``"<image_id>#<k>"`` for the k-th caption of an image when absent),
    ``image`` = ``image_dir/<file_name>``, ``text`` = the caption, ``group`` = the image id (all
    captions of an image stay in one split). ``split`` as in :func:`captions_csv_manifest`
    (guessed from the JSON's name, e.g. ``captions_val2017.json`` -> val).
    """
    image_dir, captions_json = Path(image_dir), Path(captions_json)
    split = check_split_name(split) or _split_from_name(captions_json)
    if not image_dir.is_dir():
        raise _fail(image_dir, "image folder not found", "pass the folder that holds the images the JSON names")
    if not captions_json.is_file():
        raise _fail(captions_json, "captions JSON not found", "pass the path of the COCO captions file")
    try:
        with open(captions_json, encoding="utf-8-sig") as fh:
            data = json.load(fh)
    except json.JSONDecodeError as exc:
        raise _fail(captions_json, f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})",
                    "fix the JSON syntax (a COCO captions file is one JSON object)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(captions_json, f"cannot read the file ({exc})", "save it as UTF-8 JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) or not isinstance(data.get("annotations"), list):
        raise _fail(captions_json, "expected an object with the lists 'images' and 'annotations'",
                    'write {"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": [{"image_id": 1, "caption": "..."}]}')
    problems = _Problems(captions_json)
    files: dict[Any, Path] = {}
    for k, image in enumerate(data["images"]):
        where = f"images[{k}]"
        if not isinstance(image, dict) or "id" not in image or not isinstance(image.get("file_name"), str) or not image["file_name"].strip():
            problems.add(where, f"expected an object with 'id' and a non-empty 'file_name', got {image!r}"[:200],
                         'write {"id": 1, "file_name": "000001.jpg"}')
            continue
        image_id = image["id"]
        if image_id in files:
            problems.add(where, f"image id {image_id!r} is used twice", "give every image a unique id")
            continue
        path = image_dir / image["file_name"]
        if check_files and not path.is_file():
            problems.add(where, f"image file {path} not found",
                         "pass image_dir= as the folder holding the images, or check_files=False")
        files[image_id] = path
    rows: list[Row] = []
    count: dict[Any, int] = {}
    seen_ids: dict[str, int] = {}
    for k, annotation in enumerate(data["annotations"]):
        where = f"annotations[{k}]"
        if not isinstance(annotation, dict) or "image_id" not in annotation:
            problems.add(where, f"expected an object with 'image_id' and 'caption', got {annotation!r}"[:200],
                         'write {"image_id": 1, "caption": "a dog on a sofa"}')
            continue
        image_id, caption = annotation["image_id"], annotation.get("caption")
        if image_id not in files:
            problems.add(where, f"image_id {image_id!r} is not the id of any entry of 'images'",
                         "add the image to 'images' or remove the annotation")
            continue
        if not isinstance(caption, str) or not caption.strip():
            problems.add(where, f"caption {caption!r} is not a non-empty string", "write the caption text")
            continue
        count[image_id] = count.get(image_id, 0) + 1
        ident = str(annotation["id"]) if "id" in annotation else f"{image_id}#{count[image_id]}"
        if ident in seen_ids:
            problems.add(where, f"annotation id {ident!r} is used twice (first at annotations[{seen_ids[ident]}])",
                         "give every annotation a unique id")
            continue
        seen_ids[ident] = k
        rows.append(Row(number=len(rows) + 1, id=ident, image=files[image_id].resolve(), text=caption.strip(),
                        split=split, group=str(image_id)))
    if not rows and not problems.items:
        problems.add("annotations", "no captions", "add annotations with image_id and caption")
    problems.raise_if_any()
    return _manifest(captions_json, image_dir, rows)
