"""polysense.search: a trained model as a search engine over a collection of sounds, images and texts.

- :class:`EmbedderBundle` (:mod:`.embedder`): a model with ``encode(modality, batch)`` plus its
  front end (sample rate, image geometry, tokenizer); :func:`load_embedder` reads a run folder.
- :func:`build_index` (:mod:`.indexer`): embed a folder or manifest into an index folder,
  incrementally, with FAISS vectors and SQLite metadata (:mod:`.store`).
- :class:`Index` (:mod:`.index`): ``Index.open(INDEX_DIR).search(text=..., k=10)``.
- :func:`polysense.search.server.create_app`: the web page and JSON API (FastAPI); ``serve`` runs it,
  ``BackgroundServer`` runs it on this machine beside a notebook; :mod:`.loadtest` measures its latency
  under concurrent clients.
"""

from polysense.search.embedder import EmbedderBundle, load_embedder, model_fingerprint
from polysense.search.index import Hit, Index
from polysense.search.indexer import IndexReport, build_index
from polysense.search.store import SearchIndexError

__all__ = [
    "EmbedderBundle",
    "Hit",
    "Index",
    "IndexReport",
    "SearchIndexError",
    "build_index",
    "load_embedder",
    "model_fingerprint",
]
