"""What a collection holds: the files of a folder (or the rows of a manifest) to index.

A folder is walked recursively (hidden entries skipped, symbolic links followed only while they
stay inside the folder). A file's kind comes from its extension: audio (anything libsndfile reads:
``.wav .flac .ogg .aiff .au .mp3 .opus``), image (``.png .jpg .jpeg .bmp .gif .webp .tif .tiff``)
or text (``.txt``). A ``.txt`` beside a media file of the same stem (``bark.wav`` + ``bark.txt``) is
that file's caption; a ``.txt`` alone is a text item. Other files are ignored.

A manifest (``.csv``/``.jsonl``, see :mod:`polysense.data.manifest`) gives one item per row: its
audio if it has one, else its image, else its text; the row's text becomes the caption and its
``label`` the label.

Every entry carries what incremental indexing compares (size and mtime, then a content hash), so
an unchanged file is never read twice and a renamed one is recognised by its content.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from polysense.audio import AUDIO_SUFFIXES
from polysense.data.folder import walk_files
from polysense.data.manifest import read_manifest
from polysense.errors import ParameterError
from polysense.image import IMAGE_SUFFIXES
from polysense.signal.streaming import window_spans

__all__ = ["AUDIO_SUFFIXES", "IMAGE_SUFFIXES", "Entry", "Skipped", "content_hash", "scan_source", "windows"]

TEXT_SUFFIXES = frozenset({".txt"})
MANIFEST_SUFFIXES = frozenset({".csv", ".jsonl"})
#: captions longer than this are cut (a caption file is metadata, not a book)
MAX_CAPTION_CHARS = 2000


@dataclass
class Entry:
    """One item of the collection.

    ``key`` is its stable name (path relative to the root with ``/``, or the manifest row id);
    ``path`` the file (None for a manifest row holding only text); ``kind`` audio, image or text;
    ``size``/``mtime_ns`` from ``stat``; ``text`` the content of a text item.
    """

    key: str
    path: Path | None
    kind: str
    size: int
    mtime_ns: int
    caption: str | None = None
    label: int | None = None
    text: str | None = None
    hash: str | None = None


@dataclass(frozen=True)
class Skipped:
    """A file left out and why (reported, never fatal)."""

    path: str
    reason: str
    size: int | None = None
    mtime_ns: int | None = None


def content_hash(entry: Entry, *, chunk_bytes: int = 1 << 20) -> str:
    """Hex blake2b-128 of the file's bytes (of the text for a text-only manifest row)."""
    digest = hashlib.blake2b(digest_size=16)
    if entry.path is None:
        digest.update((entry.text or "").encode())
        return digest.hexdigest()
    with open(entry.path, "rb") as fh:
        while chunk := fh.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def windows(duration_s: float, *, window_s: float, hop_s: float) -> list[tuple[float, float]]:
    """``(start_s, end_s)`` windows covering ``[0, duration_s]``.

    A file no longer than ``window_s`` is one window. A longer one gets windows starting every
    ``hop_s`` seconds, and a last window ending exactly at the end so no tail goes unsearched.
    """
    spans = [(float(start), float(end)) for start, end in window_spans([duration_s], window=window_s, hop=hop_s)]
    return spans or [(0.0, duration_s)]


def _read_caption(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None
    return text[:MAX_CAPTION_CHARS] or None


def _scan_folder(root: Path, skipped: list[Skipped]) -> list[Entry]:
    files = []
    for path, outside in walk_files(root):
        if outside:
            skipped.append(Skipped(str(path.relative_to(root)), outside))
        else:
            files.append(path)
    stems_with_media = {p.with_suffix("") for p in files if p.suffix.lower() in AUDIO_SUFFIXES | IMAGE_SUFFIXES}
    entries = []
    for path in files:
        suffix = path.suffix.lower()
        if suffix in AUDIO_SUFFIXES:
            kind = "audio"
        elif suffix in IMAGE_SUFFIXES:
            kind = "image"
        elif suffix in TEXT_SUFFIXES and path.with_suffix("") not in stems_with_media:
            kind = "text"
        else:
            continue
        try:
            st = path.stat()
        except OSError as exc:
            skipped.append(Skipped(str(path.relative_to(root)), f"cannot stat ({exc.strerror or exc})"))
            continue
        caption = None
        if kind != "text":
            for candidate in (path.with_suffix(".txt"), path.with_suffix(".TXT")):
                if candidate.is_file():
                    caption = _read_caption(candidate)
                    break
        entries.append(Entry(key=path.relative_to(root).as_posix(), path=path, kind=kind, size=st.st_size,
                             mtime_ns=st.st_mtime_ns, caption=caption))
    return entries


def _scan_manifest(path: Path, skipped: list[Skipped]) -> tuple[Path, list[Entry]]:
    manifest = read_manifest(path)
    entries = []
    for row in manifest.rows:
        file = row.audio or row.image
        kind = "audio" if row.audio else "image" if row.image else "text"
        if file is None:
            text = row.text or ""
            entries.append(Entry(key=row.id, path=None, kind="text", size=len(text.encode()), mtime_ns=0,
                                 caption=row.text, label=row.label, text=text))
            continue
        try:
            st = file.stat()
        except OSError as exc:
            skipped.append(Skipped(str(file), f"row {row.number} ({row.id}): cannot stat ({exc.strerror or exc})"))
            continue
        entries.append(Entry(key=row.id, path=file, kind=kind, size=st.st_size, mtime_ns=st.st_mtime_ns,
                             caption=row.text, label=row.label))
    return manifest.root, entries


def scan_source(source: str | os.PathLike) -> tuple[Path, str, list[Entry], list[Skipped]]:
    """``(root, "folder"|"manifest", entries, skipped)`` of a folder or a manifest file."""
    source = Path(source)
    skipped: list[Skipped] = []
    if source.is_dir():
        root = source.resolve()
        return root, "folder", _scan_folder(root, skipped), skipped
    if source.is_file() and source.suffix.lower() in MANIFEST_SUFFIXES:
        root, entries = _scan_manifest(source.resolve(), skipped)
        return root.resolve(), "manifest", entries, skipped
    if not source.exists():
        raise ParameterError(f"source {source} does not exist: give a folder of files or a .csv/.jsonl manifest")
    raise ParameterError(f"source {source} is neither a folder nor a .csv/.jsonl manifest")
