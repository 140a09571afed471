"""The manifest of a folder of a user's own files: one row per sound or image.

``folder_manifest(root, ...)`` walks ``root`` recursively (hidden entries skipped, symbolic links
followed only while they stay inside) and makes a row for every audio file
(:data:`polysense.audio.AUDIO_SUFFIXES`) and image (:data:`polysense.data.dataset.IMAGE_SUFFIXES`):

- **labels** ``"subfolders"``: the first folder under ``root`` names the class
  (``root/robin/x.wav`` is a ``robin``); a file directly in ``root`` has no class and is skipped.
  A CSV path: its ``file`` column (relative to ``root``) and ``label`` column; a file it does not
  list is skipped, a row naming a missing file is reported, a file given two classes is an error.
  ``None``: no label column.
- **captions**: the text of a ``.txt`` beside a file (``bark.wav`` + ``bark.txt``) as its ``text``.
- **group**: a regular expression searched in the path relative to ``root``; its first
  parenthesised group (or the whole match) names the group (a speaker, a recording site). A file
  it does not match is skipped.
- **split**: ``"group"`` keeps every group in one split, ``"random"`` splits files (stratified by
  class either way); ``None`` writes no split column.

Every file is opened (audio: its header; images: decoded), so a corrupt or empty file is skipped
with the reason instead of failing a training run later. Nothing is raised for one bad file; the
result lists what was skipped and why.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from polysense import audio as audio_io
from polysense.audio import AUDIO_SUFFIXES
from polysense.data.manifest import Manifest, Row, read_csv_lines
from polysense.data.splits import assign_splits
from polysense.errors import AudioError, ManifestError, ParameterError
from polysense.image import IMAGE_SUFFIXES, ImageError, load_image

__all__ = ["FolderManifest", "folder_manifest", "walk_files"]

SPLIT_MODES = ("group", "random")
# files that are part of a collection without being items of it (tables, captions)
_COMPANIONS = frozenset({".csv", ".jsonl", ".txt"})


@dataclass
class FolderManifest:
    """The manifest of a folder and the files left out of it, each with the reason."""

    manifest: Manifest
    skipped: list[tuple[str, str]]


def folder_manifest(
    root: str | os.PathLike,
    *,
    labels: str | os.PathLike | None = "subfolders",
    captions: bool = False,
    group: str | None = None,
    split: str | None = None,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
) -> FolderManifest:
    """Rows for the audio and images under ``root`` (module docstring); ``split`` defaults to
    ``"group"`` when ``group`` is given, else ``"random"`` (pass ``split="none"`` for no split)."""
    root = Path(root)
    if not root.is_dir():
        raise ParameterError(f"{root}: not a folder; give the folder that holds your sound (or image) files")
    root = root.resolve()
    pattern = _compile(group)
    split = ("group" if pattern is not None else "random") if split is None else split
    if split not in (*SPLIT_MODES, "none"):
        raise ParameterError(f"--split {split!r}: choose group, random or none")
    if split == "group" and pattern is None:
        raise ParameterError("--split group needs --group REGEX (what names a group in a file's path)")
    table = _read_labels(root, labels) if labels not in (None, "subfolders") else None

    skipped: list[tuple[str, str]] = []
    rows: list[Row] = []
    names: list[str] = []  # the class name of each row
    listed = set()
    for path, outside in walk_files(root):
        relative = path.relative_to(root).as_posix()
        if outside:
            skipped.append((relative, outside))
            continue
        suffix = path.suffix.lower()
        if suffix not in AUDIO_SUFFIXES | IMAGE_SUFFIXES:
            if suffix not in _COMPANIONS:
                skipped.append((relative, f"not audio or an image (suffix {suffix or 'none'})"))
            continue
        reason = _unreadable(path, suffix)
        if reason:
            skipped.append((relative, reason))
            continue
        name = None
        if labels == "subfolders":
            if "/" not in relative:
                skipped.append((relative, "no label: the file is not in a class sub-folder"))
                continue
            name = relative.split("/", 1)[0]
        elif table is not None:
            name = table.get(relative)
            listed.add(relative)
            if name is None:
                skipped.append((relative, f"no label: {labels} does not list it"))
                continue
        group_name = None
        if pattern is not None:
            match = pattern.search(relative)
            if match is None:
                skipped.append((relative, f"no group: --group {pattern.pattern!r} does not match its path"))
                continue
            group_name = match.group(1) if pattern.groups else match.group(0)
        text = _caption(path) if captions else None
        kind = "audio" if suffix in AUDIO_SUFFIXES else "image"
        rows.append(Row(number=len(rows) + 1, id=relative, group=group_name, text=text, **{kind: path}))
        names.append(name)
    if table is not None:
        skipped.extend((f, f"listed in {labels} but not found under {root}") for f in sorted(set(table) - listed))
    if not rows:
        raise ManifestError(f"{root}: no usable audio or image file found ({len(skipped)} skipped"
                            + (f", e.g. {skipped[0][0]}: {skipped[0][1]}" if skipped else "") + ")")

    columns = ["id"] + [c for c in ("audio", "image") if any(getattr(r, c) is not None for r in rows)]
    classes = None
    if labels is not None:
        classes = tuple(sorted(set(names)))
        ids = {n: i for i, n in enumerate(classes)}
        rows = [_with(r, label=ids[n]) for r, n in zip(rows, names, strict=True)]
        columns.append("label")
    if captions and any(r.text for r in rows):
        columns.append("text")
    if pattern is not None:
        columns.append("group")
    manifest = Manifest(path=root / "manifest.csv", root=root, columns=tuple(columns), rows=tuple(rows), classes=classes)
    if split != "none":
        if split == "random" and pattern is not None:  # split files; the group column stays as information
            assigned = assign_splits(Manifest(path=manifest.path, root=root, columns=tuple(c for c in columns if c != "group"),
                                              rows=tuple(_with(r, group=None) for r in rows), classes=classes),
                                     fractions=fractions, seed=seed, stratify=labels is not None)
            manifest = manifest.with_splits([r.split for r in assigned.rows])
        else:
            manifest = assign_splits(manifest, fractions=fractions, seed=seed, stratify=labels is not None)
    return FolderManifest(manifest=manifest, skipped=skipped)


def _with(row: Row, **changes) -> Row:
    from dataclasses import replace

    return replace(row, **changes)


def _compile(group: str | None) -> re.Pattern | None:
    if group is None:
        return None
    try:
        return re.compile(group)
    except re.error as error:
        raise ParameterError(f"--group {group!r} is not a regular expression ({error})") from None


def _read_labels(root: Path, labels: str | os.PathLike) -> dict[str, str]:
    """``{file relative to root: class name}`` from a CSV with ``file`` and ``label`` columns."""
    path = Path(labels)
    if not path.is_file():
        raise ParameterError(f"--labels {labels}: give 'subfolders' or a CSV file with the columns file,label")
    try:
        header, lines = read_csv_lines(path)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ParameterError(f"{path}: cannot read the label CSV ({error})") from None
    if header is None or "file" not in header or "label" not in header:
        raise ParameterError(f"{path}: the label CSV needs a header with the columns file,label (got {header})")
    at_file, at_label = header.index("file"), header.index("label")
    table: dict[str, str] = {}
    for line, values in lines:
        if len(values) != len(header):
            raise ParameterError(f"{path}: line {line} has {len(values)} fields, the header {len(header)}")
        file, label = values[at_file].strip(), values[at_label].strip()
        key = Path(os.path.normpath(file)).as_posix()
        if not file or not label or key.startswith("../") or os.path.isabs(file):
            raise ParameterError(f"{path}: line {line}: give a file path inside {root} and a label (got {file!r}, {label!r})")
        if key in table and table[key] != label:
            raise ParameterError(f"{path}: line {line}: {file} is in two classes, {table[key]!r} and {label!r}; "
                                 "give each file one label")
        table[key] = label
    return table


def walk_files(root: Path) -> Iterator[tuple[Path, str | None]]:
    """Every file under ``root`` in sorted order, hidden files and folders left out, as
    ``(path, None)``; a symbolic link that resolves outside ``root`` comes as ``(path, reason)``
    for the caller to skip and report. The one folder walk of ``data folder``, the search
    index's scan and ``predict``."""
    real_root = root.resolve()
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(folder) / name
            outside = path.is_symlink() and not path.resolve().is_relative_to(real_root)
            yield path, ("symbolic link pointing outside the folder" if outside else None)


def _unreadable(path: Path, suffix: str) -> str | None:
    """Why ``path`` cannot be used (its header for audio, a full decode for images), else None."""
    try:
        if suffix in AUDIO_SUFFIXES:
            if audio_io.info(path).frames == 0:
                return "holds no audio samples"
        else:
            load_image(path)
    except (AudioError, ImageError) as error:
        text = str(error)
        return text.split(": ", 1)[1] if text.startswith(str(path)) else text
    return None


def _caption(path: Path) -> str | None:
    for candidate in (path.with_suffix(".txt"), path.with_suffix(".TXT")):
        if candidate.is_file():
            text = " ".join(candidate.read_text(encoding="utf-8", errors="replace").split())
            return text[:2000] or None
    return None
