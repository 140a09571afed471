"""Building and updating an index: scan, compare with the previous version, embed what is new, swap.

``build_index(bundle, source, index_dir)`` embeds a folder or manifest (see :mod:`.scan`) with an
:class:`~polysense.search.embedder.EmbedderBundle` and publishes a new version of the index
(see :mod:`.store`). A second run over the same source:

1. keeps a file whose size and mtime are unchanged (no read at all);
2. otherwise hashes its content, and keeps the vectors of any previous file with that hash (a
   renamed or touched file is not re-embedded);
3. embeds the rest; files no longer in the source drop out;
4. writes nothing when nothing changed.

Long audio is embedded per window (``window_s`` long, every ``hop_s`` seconds; see
:func:`.scan.windows`), so a hit points to a time in the file. A file that cannot be read or
decoded is reported in ``IndexReport.skipped`` and left out; it never stops the run.

Inside ``torchrun`` (a ``torch.distributed`` group is initialised) each process embeds every
``world_size``-th file to embed; rank 0 gathers the vectors and writes the index.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from polysense import audio as audio_io
from polysense._checks import check_positive_float, check_positive_int
from polysense.errors import PolysenseError
from polysense.image import load_image
from polysense.search import distributed as dist_utils
from polysense.search.embedder import EmbedderBundle
from polysense.search.scan import Entry, Skipped, content_hash, scan_source, windows
from polysense.search.store import (
    SearchIndexError,
    build_faiss,
    choose_index_type,
    create_db,
    current_version,
    new_version_dir,
    open_db,
    publish_version,
    read_meta,
    write_meta,
)

__all__ = ["IndexReport", "build_index"]

#: errors a bad file can cause while it is read or embedded (reported, never fatal)
FILE_ERRORS = (PolysenseError, OSError, ValueError, RuntimeError, MemoryError)


@dataclass
class IndexReport:
    """What a run did. ``changed`` is False when the previous index was kept as it was."""

    index_dir: Path
    version: Path | None
    files: int
    vectors: int
    embedded: int
    unchanged: int
    reused_by_hash: int
    removed: int
    skipped: list[Skipped] = field(default_factory=list)
    ignored: dict[str, int] = field(default_factory=dict)
    index: dict[str, Any] = field(default_factory=dict)
    changed: bool = True
    seconds: float = 0.0


@dataclass
class _Previous:
    version: Path
    meta: dict[str, Any]
    files: dict[str, dict[str, Any]]  # key -> file row
    by_hash: dict[str, dict[str, Any]]
    items: dict[int, list[tuple[int, str, float, float]]]  # file id -> [(row, item_id, start, end)]
    vectors: np.ndarray
    skipped: dict[str, Skipped]  # files that failed last time, with their size and mtime


@dataclass
class _Embedded:
    key: str
    vectors: np.ndarray  # (windows, D)
    spans: list[tuple[float | None, float | None]]
    duration_s: float | None = None
    sample_rate: int | None = None


def _load_previous(index_dir: Path, bundle: EmbedderBundle, window: dict, rebuild: bool) -> _Previous | None:
    version = current_version(index_dir)
    if version is None or rebuild:
        return None
    meta = read_meta(version)
    if meta["model"]["fingerprint"] != bundle.fingerprint or meta["settings"] != bundle.settings:
        raise SearchIndexError(
            f"{index_dir} was built with another model or front end (model {meta['model']['fingerprint'][:12]}, "
            f"this one {bundle.fingerprint[:12]}): pass --rebuild to re-embed everything with this model, "
            "or write to a new index folder"
        )
    if meta["window"] != window:
        raise SearchIndexError(
            f"{index_dir} was built with audio windows {meta['window']}, this run asks for {window}: pass --rebuild "
            "to re-embed the audio with the new windows, or keep the old settings"
        )
    db = open_db(version / "meta.sqlite")
    db.row_factory = sqlite3.Row
    try:
        files = {r["key"]: dict(r) for r in db.execute("SELECT * FROM files")}
        items: dict[int, list] = {}
        for r in db.execute("SELECT row, file_id, item_id, start_s, end_s FROM items ORDER BY row"):
            items.setdefault(r["file_id"], []).append((r["row"], r["item_id"], r["start_s"], r["end_s"]))
        failed = {r["path"]: Skipped(r["path"], r["reason"], r["size"], r["mtime_ns"])
                  for r in db.execute("SELECT * FROM skipped WHERE size IS NOT NULL")}
    finally:
        db.close()
    by_hash = {f["hash"]: f for f in files.values() if f["hash"]}
    vectors = np.load(version / "vectors.npy", mmap_mode="r")
    return _Previous(version, meta, files, by_hash, items, vectors, failed)


def _batched(iterable: list, size: int) -> Iterable[list]:
    for i in range(0, len(iterable), size):
        yield iterable[i : i + size]


class _Embedding:
    """Embeds entries in batches; isolates a failing batch item by item."""

    def __init__(self, bundle: EmbedderBundle, *, window_s: float, hop_s: float, batch_size: int,
                 skipped: list[Skipped], progress: Callable[[int], None]) -> None:
        self.bundle, self.window_s, self.hop_s, self.batch_size = bundle, window_s, hop_s, batch_size
        self.skipped, self.progress = skipped, progress
        self.done: dict[str, _Embedded] = {}

    def _skip(self, entry: Entry, exc: BaseException) -> None:
        self.skipped.append(Skipped(entry.key, f"{type(exc).__name__}: {exc}", entry.size, entry.mtime_ns))

    def _run(self, fn, inputs: list, owners: list[Entry]) -> list[np.ndarray | None]:
        """fn(inputs) -> (N, D); on failure retry one by one so one bad item skips only itself."""
        try:
            return list(fn(inputs).numpy())
        except FILE_ERRORS:
            out = []
            for x, owner in zip(inputs, owners, strict=True):
                try:
                    out.append(fn([x]).numpy()[0])
                except FILE_ERRORS as exc:
                    self._skip(owner, exc)
                    out.append(None)
            return out

    def audio(self, entries: list[Entry]) -> None:
        rate = self.bundle.sample_rate
        pending: list[tuple[Entry, int, torch.Tensor, float, float]] = []
        loaded: dict[str, tuple[float, int, int]] = {}  # key -> (duration, native rate, windows)

        def flush() -> None:
            vecs = self._run(self.bundle.embed_waveforms, [p[2] for p in pending], [p[0] for p in pending])
            for (entry, _, _, start, end), v in zip(pending, vecs, strict=True):
                if entry.key in bad:
                    continue
                if v is None:
                    bad.add(entry.key)
                    self.done.pop(entry.key, None)
                    continue
                duration, native, _ = loaded[entry.key]
                got = self.done.setdefault(entry.key, _Embedded(entry.key, np.empty((0, v.shape[0]), np.float32), [],
                                                                duration, native))
                got.vectors = np.vstack([got.vectors, v[None].astype(np.float32)])
                got.spans.append((start, end))
            pending.clear()

        bad: set[str] = set()
        # similar lengths in one batch: less padding to run through the model (size ~ duration)
        for entry in sorted(entries, key=lambda e: e.size):
            try:
                native = audio_io.info(entry.path).sample_rate
                waveform, _ = audio_io.load(entry.path, sample_rate=rate, mono=True)
            except FILE_ERRORS as exc:
                self._skip(entry, exc)
                self.progress(1)
                continue
            duration = waveform.shape[-1] / rate
            spans = windows(duration, window_s=self.window_s, hop_s=self.hop_s)
            loaded[entry.key] = (duration, native, len(spans))
            for i, (start, end) in enumerate(spans):
                a, b = round(start * rate), min(round(end * rate), waveform.shape[-1])
                pending.append((entry, i, waveform[a:b], start, end))
            if len(pending) >= self.batch_size:
                flush()
            self.progress(1)
        if pending:
            flush()

    def images(self, entries: list[Entry]) -> None:

        for chunk in _batched(entries, self.batch_size):
            ok, tensors = [], []
            for entry in chunk:
                try:
                    tensors.append(self.bundle.prepare_image(load_image(entry.path, size=self.bundle.image_size)))
                    ok.append(entry)
                except FILE_ERRORS as exc:
                    self._skip(entry, exc)
            for entry, v in zip(ok, self._run(self.bundle.embed_images, tensors, ok) if ok else [], strict=True):
                if v is not None:
                    self.done[entry.key] = _Embedded(entry.key, v[None].astype(np.float32), [(None, None)])
            self.progress(len(chunk))

    def texts(self, entries: list[Entry]) -> None:
        for chunk in _batched(entries, self.batch_size):
            ok, texts = [], []
            for entry in chunk:
                try:
                    text = entry.text if entry.path is None else entry.path.read_text(encoding="utf-8")
                    if not text.strip():
                        raise ValueError("empty text file")
                    entry.text = text[:10_000]
                    texts.append(entry.text)
                    ok.append(entry)
                except (OSError, UnicodeDecodeError, ValueError) as exc:
                    self._skip(entry, exc)
            for entry, v in zip(ok, self._run(self.bundle.embed_texts, texts, ok) if ok else [], strict=True):
                if v is not None:
                    self.done[entry.key] = _Embedded(entry.key, v[None].astype(np.float32), [(None, None)])
            self.progress(len(chunk))


def build_index(
    bundle: EmbedderBundle,
    source: str | os.PathLike,
    index_dir: str | os.PathLike,
    *,
    index_type: str = "auto",
    index_params: dict[str, Any] | None = None,
    window_s: float = 10.0,
    hop_s: float = 5.0,
    batch_size: int = 32,
    rebuild: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> IndexReport:
    """Index ``source`` (folder or manifest) into ``index_dir`` with ``bundle``'s model.

    Args:
        bundle: the model and its front end.
        source: a folder (walked recursively) or a ``.csv``/``.jsonl`` manifest.
        index_dir: the index folder (created; an existing index there is updated incrementally).
        index_type: ``auto`` (flat up to 50k vectors, HNSW above), ``flat``, ``hnsw`` or ``ivf``.
        index_params: FAISS parameters overriding the defaults (``M``, ``efConstruction``,
            ``efSearch`` for HNSW; ``nlist``, ``nprobe`` for IVF).
        window_s, hop_s: audio window length and hop (seconds) for long files.
        batch_size: items per model call.
        rebuild: ignore the previous index (needed after changing the model or the windows).
        progress: called as ``progress(done, total)`` over the files to embed.

    Returns an :class:`IndexReport`. In a multi-process run, every rank returns the same report
    but only rank 0 writes.
    """
    t0 = time.perf_counter()
    window_s = check_positive_float("window_s", window_s, what="seconds of audio per vector")
    hop_s = check_positive_float("hop_s", hop_s, what="seconds between audio windows")
    if hop_s > window_s:
        raise SearchIndexError(f"hop_s={hop_s} > window_s={window_s} would leave gaps between windows: use hop_s <= window_s")
    batch_size = check_positive_int("batch_size", batch_size)
    index_dir = Path(index_dir)
    window = {"window_s": window_s, "hop_s": hop_s}
    root, source_kind, entries, skipped = scan_source(source)
    ignored: dict[str, int] = {}
    usable = []
    for e in entries:
        if e.kind in bundle.modalities:
            usable.append(e)
        else:
            ignored[e.kind] = ignored.get(e.kind, 0) + 1
    prev = _load_previous(index_dir, bundle, window, rebuild)

    # 1-2: what can be kept
    kept: dict[str, dict[str, Any]] = {}  # key -> previous file row whose vectors are reused
    unchanged = by_hash = 0
    to_embed: list[Entry] = []
    metadata_changed = False
    retry = []
    for e in usable:
        failed = prev.skipped.get(e.key) if prev else None
        if failed is not None and (failed.size, failed.mtime_ns) == (e.size, e.mtime_ns):
            skipped.append(failed)  # failed before and unchanged since: not worth another try
            continue
        retry.append(e)
    for e in retry:
        old = prev.files.get(e.key) if prev else None
        if old and old["size"] == e.size and old["mtime_ns"] == e.mtime_ns and e.path is not None:
            e.hash = old["hash"]
            kept[e.key] = old
            unchanged += 1
            metadata_changed |= (old["caption"], old["label"]) != (e.caption, e.label)
            continue
        try:
            e.hash = content_hash(e)
        except OSError as exc:
            skipped.append(Skipped(e.key, f"cannot read ({exc.strerror or exc})"))
            continue
        if old and old["hash"] == e.hash and old["kind"] == e.kind:  # touched, same content
            kept[e.key] = old
            unchanged += 1
            metadata_changed |= (old["size"], old["mtime_ns"], old["caption"], old["label"]) != (
                e.size, e.mtime_ns, e.caption, e.label)
            continue
        same = prev.by_hash.get(e.hash) if prev else None
        if same is not None and same["kind"] == e.kind:
            kept[e.key] = same
            by_hash += 1
            metadata_changed = True  # path, mtime or key differ
        else:
            to_embed.append(e)
    removed = len(set(prev.files) - {e.key for e in usable}) if prev else 0
    removed += len(set(prev.skipped) - {e.key for e in usable}) if prev else 0  # a failed file deleted
    changed = prev is None or bool(to_embed) or metadata_changed or removed > 0

    # 3: embed the rest (sharded over processes under torchrun)
    rank, world = dist_utils.rank_and_world()
    mine = to_embed[rank::world]
    done_count = [0]

    def tick(n: int) -> None:
        done_count[0] += n
        if progress is not None:
            progress(done_count[0], len(mine))

    embedding = _Embedding(bundle, window_s=window_s, hop_s=hop_s, batch_size=batch_size, skipped=[], progress=tick)
    embedding.audio([e for e in mine if e.kind == "audio"])
    embedding.images([e for e in mine if e.kind == "image"])
    embedding.texts([e for e in mine if e.kind == "text"])
    done, new_skips = dist_utils.gather_embedded(embedding.done, embedding.skipped, _Embedded)
    skipped += new_skips
    report = IndexReport(index_dir=index_dir, version=prev.version if prev else None, files=0, vectors=0,
                         embedded=len(done), unchanged=unchanged, reused_by_hash=by_hash, removed=removed,
                         skipped=skipped, ignored=ignored, index=prev.meta["index"] if prev else {}, changed=changed)
    if not changed:
        report.files, report.vectors = len(kept), int(prev.vectors.shape[0])
        report.seconds = time.perf_counter() - t0
        return report
    if rank == 0:
        _write_version(report, bundle, prev, root, source_kind, usable, kept, done, skipped, window,
                       index_type, index_params)
    dist_utils.barrier()
    report.seconds = time.perf_counter() - t0
    return report


def _write_version(report, bundle, prev, root, source_kind, usable, kept, done, skipped, window, index_type,
                   index_params) -> None:
    version = new_version_dir(report.index_dir)
    db = create_db(version / "meta.sqlite")
    blocks: list[np.ndarray] = []
    row = n_files = 0
    dim = None
    with db:
        for e in usable:
            if e.key in kept:
                old = kept[e.key]
                old_items = prev.items.get(old["id"], [])
                vecs = np.asarray(prev.vectors[[r for r, *_ in old_items]], dtype=np.float32)
                spans = [(s, t) for _, _, s, t in old_items]
                duration, rate = old["duration_s"], old["sample_rate"]
                text = old["text"]
            elif e.key in done:
                got = done[e.key]
                vecs, spans, duration, rate, text = got.vectors, got.spans, got.duration_s, got.sample_rate, e.text
            else:
                continue  # skipped
            if len(vecs) == 0:
                continue
            dim = vecs.shape[1]
            rel = None if e.path is None else _relative(e.path, root)
            cur = db.execute(
                "INSERT INTO files (key, path, kind, size, mtime_ns, hash, duration_s, sample_rate, caption, label, text)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (e.key, rel, e.kind, e.size, e.mtime_ns, e.hash, duration, rate, e.caption, e.label, text),
            )
            file_id = cur.lastrowid
            n_files += 1
            for start, end in spans:
                item_id = e.key if len(spans) == 1 else f"{e.key}@{start:.2f}s"
                db.execute("INSERT INTO items (row, file_id, item_id, start_s, end_s) VALUES (?,?,?,?,?)",
                           (row, file_id, item_id, start, end))
                row += 1
            blocks.append(vecs)
        db.executemany("INSERT INTO skipped (path, reason, size, mtime_ns) VALUES (?,?,?,?)",
                       [(s.path, s.reason, s.size, s.mtime_ns) for s in skipped])
    db.close()
    if dim is None:
        dim = int(prev.vectors.shape[1]) if prev is not None and prev.vectors.ndim == 2 else 0
    vectors = np.concatenate(blocks) if blocks else np.zeros((0, dim), np.float32)
    np.save(version / "vectors.npy", vectors)
    import faiss

    kind = choose_index_type(len(vectors), index_type)
    index, params = build_faiss(vectors, kind, index_params)
    faiss.write_index(index, str(version / "index.faiss"))
    write_meta(version, {
        "model": {"fingerprint": bundle.fingerprint, "source": bundle.source, "config": dict(bundle.config)},
        "settings": bundle.settings,
        "window": window,
        "index": params,
        "dim": int(dim),
        "vectors": int(len(vectors)),
        "source": {"root": str(root), "kind": source_kind},
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    })
    publish_version(report.index_dir, version)
    report.version = current_version(report.index_dir)
    report.files = n_files
    report.vectors = int(len(vectors))
    report.index = params


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        raise SearchIndexError(f"{path} is outside the collection root {root}") from None
