"""How an index lies on disk: versions swapped atomically, vectors, FAISS and SQLite.

Layout of ``INDEX_DIR``::

    INDEX_DIR/current -> v-20261130T050102-1234      (symbolic link; replaced atomically)
    INDEX_DIR/v-.../meta.json     model fingerprint + config, front-end settings, index parameters
    INDEX_DIR/v-.../vectors.npy   (N, D) float32 unit vectors, row i = item i (the source of truth)
    INDEX_DIR/v-.../index.faiss   the FAISS index over vectors.npy (derived; rebuilt from it)
    INDEX_DIR/v-.../meta.sqlite   files (path, size, mtime, hash, caption, label, ...), items
                                  (row -> file, start_s, end_s) and skipped files

A writer builds a complete new version beside the current one, then points ``current`` at it with
``os.replace`` of a fresh link (one ``rename``: atomic on POSIX). A run killed before that leaves
the previous version in place and usable; its half-written folder is removed by the next run.

Index types (inner product on unit vectors = cosine similarity):

- ``flat``: exact (``IndexFlatIP``), chosen up to :data:`FLAT_MAX_VECTORS` vectors;
- ``hnsw``: ``IndexHNSWFlat`` (M 32, efConstruction 80, efSearch 128), chosen above;
- ``ivf``: ``IndexIVFFlat`` with ``nlist = 4 sqrt(N)`` lists (a power of two) and ``nprobe`` 32
  lists probed: about 4x faster to build than HNSW at 1M vectors.

The defaults and the threshold come from ``benchmarks/search.py`` (see RESULTS.md).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from polysense._checks import check_choice
from polysense.errors import ParameterError

__all__ = [
    "FLAT_MAX_VECTORS",
    "INDEX_TYPES",
    "SearchIndexError",
    "build_faiss",
    "choose_index_type",
    "current_version",
    "new_version_dir",
    "publish_version",
]

FORMAT = 1
INDEX_TYPES = ("auto", "flat", "hnsw", "ivf")
#: exact search up to this many vectors: 50k x 128-d inner products take ~1 ms on one core
FLAT_MAX_VECTORS = 50_000
# efSearch / nprobe: at 1M clustered 64-d vectors, recall@10 >= 0.95 on validation queries needed
# efSearch 96 and nprobe 32 (benchmarks/RESULTS.md, search); the defaults keep a margin above that
HNSW_DEFAULTS = {"M": 32, "efConstruction": 80, "efSearch": 128}
IVF_DEFAULTS = {"nprobe": 32}

SCHEMA = """
CREATE TABLE files (
    id INTEGER PRIMARY KEY, key TEXT UNIQUE NOT NULL, path TEXT, kind TEXT NOT NULL,
    size INTEGER, mtime_ns INTEGER, hash TEXT, duration_s REAL, sample_rate INTEGER,
    caption TEXT, label INTEGER, text TEXT
);
CREATE INDEX files_hash ON files(hash);
CREATE TABLE items (
    row INTEGER PRIMARY KEY, file_id INTEGER NOT NULL REFERENCES files(id), item_id TEXT UNIQUE NOT NULL,
    start_s REAL, end_s REAL
);
CREATE INDEX items_file ON items(file_id);
CREATE TABLE skipped (path TEXT, reason TEXT, size INTEGER, mtime_ns INTEGER);
"""


class SearchIndexError(ParameterError):
    """An index folder is missing, incomplete, or was made by another model. The message says what to do."""


def choose_index_type(n_vectors: int, requested: str = "auto") -> str:
    """``requested`` unless ``"auto"``: then flat up to :data:`FLAT_MAX_VECTORS`, HNSW above."""
    check_choice("index_type", requested, INDEX_TYPES)
    if requested != "auto":
        return requested
    return "flat" if n_vectors <= FLAT_MAX_VECTORS else "hnsw"


def default_nlist(n_vectors: int) -> int:
    """About ``4 sqrt(N)`` inverted lists (a power of two), at most N / 39 (FAISS's training minimum)."""
    nlist = 2 ** round(math.log2(4 * math.sqrt(max(n_vectors, 1))))
    return max(1, min(nlist, n_vectors // 39))


def build_faiss(vectors: np.ndarray, index_type: str, params: Mapping[str, Any] | None = None):
    """``(faiss index, parameters used)`` over unit ``vectors`` (N, D) float32, inner product."""
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dim = vectors.shape
    params = dict(params or {})
    if index_type == "flat":
        index = faiss.IndexFlatIP(dim)
        used: dict[str, Any] = {}
    elif index_type == "hnsw":
        used = {**HNSW_DEFAULTS, **params}
        index = faiss.IndexHNSWFlat(dim, int(used["M"]), faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = int(used["efConstruction"])
        index.hnsw.efSearch = int(used["efSearch"])
    elif index_type == "ivf":
        nlist = int(params.get("nlist") or default_nlist(n))
        used = {**IVF_DEFAULTS, **params, "nlist": nlist}
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        # k-means on a sample of 64 points per list (FAISS warns below 39) and 10 iterations: at 1M
        # vectors this trains in minutes instead of tens of minutes, at a recall measured in RESULTS.md
        index.cp.niter = 10
        sample = vectors
        if n > 64 * nlist:
            sample = vectors[np.sort(np.random.default_rng(0).choice(n, 64 * nlist, replace=False))]
        index.train(sample)
        index.nprobe = min(int(used["nprobe"]), nlist)
        used["nprobe"] = index.nprobe
    else:
        raise ParameterError(f"index_type={index_type!r} is invalid: expected one of {list(INDEX_TYPES[1:])}")
    if n:
        index.add(vectors)
    return index, {"type": index_type, **used}


def set_search_params(index, params: Mapping[str, Any]) -> None:
    """Apply query-time parameters recorded in meta.json (efSearch, nprobe)."""
    import faiss

    if params.get("type") == "hnsw":
        faiss.downcast_index(index).hnsw.efSearch = int(params["efSearch"])
    elif params.get("type") == "ivf":
        faiss.extract_index_ivf(index).nprobe = int(params["nprobe"])


# ---------------------------------------------------------------------------------------------
# versions


def current_version(index_dir: str | os.PathLike) -> Path | None:
    """The folder ``INDEX_DIR/current`` points to, or None when there is no index yet."""
    link = Path(index_dir) / "current"
    if not link.is_symlink() and not link.exists():
        return None
    target = link.resolve()
    if not (target / "meta.json").is_file():
        raise SearchIndexError(f"{index_dir}: 'current' points to {target}, which is not a complete index; "
                               "run `polysense index` again to rebuild it")
    return target


def new_version_dir(index_dir: str | os.PathLike) -> Path:
    """A fresh, empty version folder (half-written ones of killed runs are removed first)."""
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    current = current_version(index_dir)
    for old in index_dir.glob("v-*"):
        if old.is_dir() and old != current and not (old / ".complete").exists():
            shutil.rmtree(old, ignore_errors=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    path = index_dir / f"v-{stamp}-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    path.mkdir()
    return path


def publish_version(index_dir: str | os.PathLike, version: Path) -> None:
    """Point ``current`` at ``version`` atomically, then delete older versions."""
    index_dir = Path(index_dir)
    for name in ("meta.json", "vectors.npy", "index.faiss", "meta.sqlite"):
        if not (version / name).is_file():
            raise SearchIndexError(f"{version} lacks {name}: refusing to publish an incomplete index")
    (version / ".complete").touch()
    previous = current_version(index_dir)
    tmp_link = index_dir / f".current-{os.getpid()}"
    if tmp_link.is_symlink():
        tmp_link.unlink()
    os.symlink(version.name, tmp_link)
    os.replace(tmp_link, index_dir / "current")
    # a server that opened the old version keeps its open files (POSIX unlink semantics)
    if previous is not None and previous != version.resolve():
        shutil.rmtree(previous, ignore_errors=True)


def write_meta(version: Path, meta: Mapping[str, Any]) -> None:
    (version / "meta.json").write_text(json.dumps({"format": FORMAT, **meta}, indent=2, sort_keys=True))


def read_meta(version: Path) -> dict[str, Any]:
    try:
        meta = json.loads((version / "meta.json").read_text())
    except (OSError, ValueError) as exc:
        raise SearchIndexError(f"{version}/meta.json cannot be read ({exc}): rebuild the index") from None
    if meta.get("format") != FORMAT:
        raise SearchIndexError(f"{version} has index format {meta.get('format')}, this polysense reads {FORMAT}: "
                               "rebuild the index with `polysense index`")
    return meta


def create_db(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)
    return db


def open_db(path: Path, *, read_only: bool = True) -> sqlite3.Connection:
    if read_only:
        # mode=ro: the server can never write to the index, whatever a request does
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    return sqlite3.connect(path)
