"""Querying an index: ``Index.open(INDEX_DIR).search(text=..., k=10)``.

The one search path that the CLI and the web server call. A query is a text, a sound, a picture
(embedded by the model the index was built with), an indexed item (``like=ID``: its stored vector)
or a raw vector. Scores are cosine similarities (inner products of unit vectors), best first.

``dedupe=t`` hides results whose similarity to the query is at least ``t`` (the query itself and
its copies or near-copies), filling the ``k`` places from further down the ranking.

The index is opened read-only: SQLite in ``mode=ro``, the vectors memory-mapped read-only, and the
object has no method that writes. An index made by another model than the one given (or loaded
from the run folder recorded in the index) is refused with :class:`SearchIndexError`.
"""

from __future__ import annotations

import io
import os
import sqlite3
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from polysense import audio as audio_io
from polysense._checks import check_positive_int, check_unit_interval
from polysense.errors import AudioError, ParameterError
from polysense.image import decode_image  # the one image decoder; public here too (the server imports it)
from polysense.search.embedder import EmbedderBundle, load_embedder
from polysense.search.store import SearchIndexError, current_version, open_db, read_meta, set_search_params
from polysense.signal.resample import resample

__all__ = ["Hit", "Index", "decode_audio", "decode_image"]


@dataclass(frozen=True)
class Hit:
    """One result: ``score`` (cosine similarity), the item and its file's metadata.

    ``path`` is relative to the collection root (None for a text-only manifest row); ``start_s``
    / ``end_s`` the window of a long audio file (None for images and texts).
    """

    rank: int
    score: float
    item_id: str
    file_id: int
    key: str
    path: str | None
    kind: str
    start_s: float | None
    end_s: float | None
    caption: str | None
    label: int | None
    duration_s: float | None
    sample_rate: int | None
    text: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def decode_audio(data: bytes | str | os.PathLike, *, sample_rate: int) -> torch.Tensor:
    """Decode audio (bytes of a file, or a path) to a mono waveform at ``sample_rate``.

    The content decides, not the name: bytes libsndfile cannot decode raise :class:`AudioError`.
    """
    import soundfile as sf

    if not isinstance(data, bytes | bytearray):
        return audio_io.load(data, sample_rate=sample_rate, mono=True)[0]
    try:
        array, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise AudioError(f"the upload is not audio libsndfile can decode ({exc})") from None
    if array.shape[0] == 0:
        raise AudioError("the uploaded audio has no samples")
    waveform = torch.from_numpy(array.mean(axis=1))
    if not bool(torch.isfinite(waveform).all()):
        raise AudioError("the uploaded audio holds NaN or infinite samples")
    if rate != sample_rate:
        waveform = resample(waveform, orig_sample_rate=int(rate), new_sample_rate=sample_rate)
    return waveform


class Index:
    """A read-only index: metadata, vectors, the FAISS index, and (lazily) its model.

    Use :meth:`open`. ``embedder`` is the model bundle used for text/audio/image queries; when
    not given it is loaded on first use from the run folder recorded in the index.
    """

    def __init__(self, version: Path, meta: dict[str, Any], faiss_index, vectors: np.ndarray,
                 db: sqlite3.Connection, embedder: EmbedderBundle | None) -> None:
        self.version, self.meta, self._faiss, self.vectors, self._db = version, meta, faiss_index, vectors, db
        self._lock = threading.Lock()
        self._embedder = None
        if embedder is not None:
            self._check_model(embedder)
            self._embedder = embedder

    @classmethod
    def open(cls, index_dir: str | os.PathLike, *, embedder: EmbedderBundle | None = None,
             threads: int | None = None) -> Index:
        """Open ``index_dir`` read-only (``threads``: FAISS's OpenMP threads, default all)."""
        import faiss

        version = current_version(index_dir)
        if version is None:
            raise SearchIndexError(f"{index_dir} holds no index: build one with `polysense index RUN_DIR SOURCE -o {index_dir}`")
        meta = read_meta(version)
        if threads is not None:
            faiss.omp_set_num_threads(check_positive_int("threads", threads))
        try:
            index = faiss.read_index(str(version / "index.faiss"))
            vectors = np.load(version / "vectors.npy", mmap_mode="r")
            db = open_db(version / "meta.sqlite", read_only=True)
        except (OSError, RuntimeError, ValueError, sqlite3.Error) as exc:
            raise SearchIndexError(f"{version} cannot be read ({exc}): rebuild the index") from None
        set_search_params(index, meta["index"])
        return cls(version, meta, index, vectors, db, embedder)

    # -- model ----------------------------------------------------------------------------------

    def _check_model(self, embedder: EmbedderBundle) -> None:
        want = self.meta["model"]["fingerprint"]
        if embedder.fingerprint != want or embedder.settings != self.meta["settings"]:
            raise SearchIndexError(
                f"this index was built with model {want[:12]} ({self.meta['model'].get('source') or 'in memory'}) "
                f"but the query model is {embedder.fingerprint[:12]} ({embedder.source or 'in memory'}): their "
                "embeddings are not comparable; query with the run the index was built from, or re-index with this one"
            )

    @property
    def embedder(self) -> EmbedderBundle:
        if self._embedder is None:
            source = self.meta["model"].get("source")
            if not source:
                raise SearchIndexError("this index was built from a model in memory: pass embedder= to Index.open")
            if not Path(source).is_dir():
                raise SearchIndexError(f"the run folder this index was built with, {source}, is gone: pass the run "
                                       "with --run (it must be the same model)")
            bundle = load_embedder(source)
            self._check_model(bundle)
            self._embedder = bundle
        return self._embedder

    def use_embedder(self, embedder: EmbedderBundle) -> None:
        """Query with ``embedder`` (checked to be the model the index was built with)."""
        self._check_model(embedder)
        self._embedder = embedder

    # -- metadata -------------------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def root(self) -> Path:
        return Path(self.meta["source"]["root"])

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:  # one connection shared by the server's threads
            return self._db.execute(sql, args).fetchall()

    _HIT_SQL = ("SELECT i.row, i.item_id, f.id, f.key, f.path, f.kind, i.start_s, i.end_s, f.caption, f.label, "
                "f.duration_s, f.sample_rate, f.text FROM items i JOIN files f ON f.id = i.file_id ")

    def file(self, file_id: int) -> dict[str, Any] | None:
        """The metadata row of file ``file_id`` (None when there is none)."""
        rows = self._query("SELECT id, key, path, kind, size, mtime_ns, hash, duration_s, sample_rate, caption, "
                           "label, text FROM files WHERE id = ?", (int(file_id),))
        if not rows:
            return None
        names = ("id", "key", "path", "kind", "size", "mtime_ns", "hash", "duration_s", "sample_rate", "caption",
                 "label", "text")
        return dict(zip(names, rows[0], strict=True))

    def row_of(self, item: str) -> int:
        """The vector row of an item id, or of a file key (its first window)."""
        rows = self._query("SELECT row FROM items WHERE item_id = ?", (item,))
        if not rows:
            rows = self._query("SELECT i.row FROM items i JOIN files f ON f.id = i.file_id WHERE f.key = ? "
                               "ORDER BY i.row LIMIT 1", (item,))
        if not rows:
            raise ParameterError(f"like={item!r}: no indexed item has this id (ids are shown in results)")
        return int(rows[0][0])

    def skipped(self) -> list[tuple[str, str]]:
        return self._query("SELECT path, reason FROM skipped")

    # -- search ---------------------------------------------------------------------------------

    def embed_query(self, *, text: str | None = None, audio: Any = None, image: Any = None,
                    like: str | None = None) -> tuple[np.ndarray, int | None]:
        """``(unit vector (D,), row of the query item or None)`` for exactly one kind of query."""
        given = [n for n, v in (("text", text), ("audio", audio), ("image", image), ("like", like)) if v is not None]
        if len(given) != 1:
            raise ParameterError(f"give exactly one query (text, audio, image or like), got {given or 'none'}")
        if like is not None:
            row = self.row_of(like)
            return np.asarray(self.vectors[row], dtype=np.float32), row
        bundle = self.embedder
        if text is not None:
            if not isinstance(text, str) or not text.strip():
                raise ParameterError("the text query is empty: type some words")
            vec = bundle.embed_texts([text.strip()[:1000]])
        elif audio is not None:
            vec = bundle.embed_waveforms([audio if isinstance(audio, torch.Tensor)
                                          else decode_audio(audio, sample_rate=bundle.sample_rate)])
        else:
            img = image if isinstance(image, torch.Tensor) else decode_image(image, size=bundle.image_size)
            vec = bundle.embed_images([bundle.prepare_image(img)])
        return vec[0].numpy(), None

    def search(self, *, text: str | None = None, audio: Any = None, image: Any = None, like: str | None = None,
               vector: np.ndarray | None = None, k: int = 10, dedupe: float | None = None) -> list[Hit]:
        """The ``k`` best items for one query, best first (see the module docstring).

        ``audio``/``image``: a path, the bytes of a file, or a decoded tensor (mono waveform at the
        model's rate; RGB (3, H, W) in [0, 1]). ``like``: an item id or file key; the item's own
        file is left out of its results.
        """
        k = check_positive_int("k", k, what="number of results")
        if dedupe is not None:
            dedupe = check_unit_interval("dedupe", dedupe, what="a similarity threshold in [0, 1]")
        own_row = None
        if vector is None:
            vector, own_row = self.embed_query(text=text, audio=audio, image=image, like=like)
        vector = np.ascontiguousarray(np.asarray(vector, dtype=np.float32).reshape(1, -1))
        if vector.shape[1] != self.meta["dim"]:
            raise ParameterError(f"the query vector has {vector.shape[1]} dimensions, the index {self.meta['dim']}")
        own_file = None
        if own_row is not None:
            own_file = self._query("SELECT file_id FROM items WHERE row = ?", (own_row,))[0][0]
        n = len(self)
        fetch = min(n, k + 8)
        while True:
            scores, rows = self._faiss.search(vector, fetch)
            hits = self._hits(scores[0], rows[0], own_file=own_file, dedupe=dedupe, k=k)
            if len(hits) >= k or fetch >= n:
                return hits
            fetch = min(n, fetch * 4)

    def _hits(self, scores, rows, *, own_file, dedupe, k) -> list[Hit]:
        keep = [(float(s), int(r)) for s, r in zip(scores, rows, strict=True) if r >= 0]
        if dedupe is not None:
            keep = [(s, r) for s, r in keep if s < dedupe]
        if not keep:
            return []
        marks = ",".join("?" * len(keep))
        meta = {row[0]: row for row in self._query(self._HIT_SQL + f"WHERE i.row IN ({marks})", tuple(r for _, r in keep))}
        out: list[Hit] = []
        for score, row in keep:
            m = meta.get(row)
            if m is None or (own_file is not None and m[2] == own_file):
                continue
            out.append(Hit(len(out) + 1, min(score, 1.0), m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8], m[9],
                           m[10], m[11], m[12]))
            if len(out) == k:
                break
        return out

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
