"""An on-disk cache of front-end features, keyed by file content and front-end parameters.

Key: ``sha256("v<N>|file:<sha256 of the file's bytes>|params:<sha256 of the canonical JSON of params>")``. Any change of
the file's content or of any parameter gives a different key, so a stale entry can never be read;
renaming or moving a file keeps its entries. Entries are safetensors files (never pickle: loading a
cache must not be able to run code) holding the tensor and, in the metadata, the key and a sha256
of the tensor's bytes, so a truncated or damaged entry is detected on read, deleted and recomputed.

Writes go to a temporary file in the same folder and are moved into place with ``os.replace``,
which is atomic on POSIX and Windows: several DataLoader workers (or processes) may fill the same
cache at once, and a reader sees either no entry or a whole one, never a partial file.

Content hashes are remembered per process by the file's ``(device, inode, size, mtime, ctime)``
so an epoch over unchanged files hashes each file once per process, not once per read; the
parameters' part of the key can be computed once with :func:`params_key` and passed instead of
the mapping (the dataset does this), so a cache hit costs a ``stat``, a hash lookup and the read.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import secrets
import threading
import time
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from polysense.errors import ParameterError

__all__ = ["CacheStats", "FeatureCache", "ParamsKey", "feature_params", "file_sha256", "params_key"]

_VERSION = 1
_TENSOR = "features"
_HASH_CHUNK = 1 << 20
_SETTLED_NS = 2_000_000_000
_digests: dict[tuple, str] = {}
_digests_lock = threading.Lock()


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 hex digest of a file's bytes.

    Remembered while the file's device, inode, size, mtime and ctime stay the same, and only for
    files last changed more than 2 s ago (a change within the clock's granularity may leave the
    stamps as they were).
    """
    st = os.stat(path)
    # The file's identity and every stamp a write changes (ctime cannot be set back by utime).
    memo_key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    with _digests_lock:
        digest = _digests.get(memo_key)
    if digest is None:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(_HASH_CHUNK), b""):
                h.update(chunk)
        digest = h.hexdigest()
        # A file changed within the timestamp granularity of its last change could change again
        # without its stamps moving ("racy" as git calls it): remember only settled files.
        if time.time_ns() - st.st_ctime_ns > _SETTLED_NS:
            with _digests_lock:
                _digests[memo_key] = digest
    return digest


@dataclass(frozen=True)
class ParamsKey:
    """The digest of a parameter set, computed once (see :func:`params_key`)."""

    digest: str


def params_key(params: Mapping[str, Any]) -> ParamsKey:
    """sha256 of the canonical JSON of ``params`` (sorted keys, floats by exact repr)."""
    if not isinstance(params, Mapping):
        raise ParameterError(f"params must be a mapping of settings, got {type(params).__name__}")
    text = json.dumps(_canonical(params), sort_keys=True, separators=(",", ":"))
    return ParamsKey(hashlib.sha256(text.encode()).hexdigest())


@dataclass
class CacheStats:
    """Counts since the cache object was made (per process)."""

    hits: int = 0
    misses: int = 0
    corrupt: int = 0  # entries found damaged, deleted and recomputed
    writes: int = 0


class FeatureCache:
    """Features stored under ``root`` as ``<key[:2]>/<key>.safetensors``.

    Parameters
    ----------
    root: the cache folder (created when missing).
    verify: check each entry's tensor checksum on read (cheap next to reading it; catches damage
        that leaves the safetensors header intact).

    Use :meth:`get_or_compute` for the common case::

        cache = FeatureCache(".polysense-cache")
        mel = cache.get_or_compute("a.wav", params, lambda: log_mel(load("a.wav")))
    """

    def __init__(self, root: str | os.PathLike, *, verify: bool = True) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.verify = verify
        self.stats = CacheStats()

    def __repr__(self) -> str:
        return f"FeatureCache({str(self.root)!r})"

    def key(self, path: str | os.PathLike, params: Mapping[str, Any] | ParamsKey) -> str:
        """The entry key for ``path``'s content under ``params`` (a JSON-serialisable mapping, or
        its :func:`params_key`)."""
        digest = (params if isinstance(params, ParamsKey) else params_key(params)).digest
        return hashlib.sha256(f"v{_VERSION}|file:{file_sha256(path)}|params:{digest}".encode()).hexdigest()

    def entry_path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.safetensors"

    def get(self, path: str | os.PathLike, params: Mapping[str, Any] | ParamsKey) -> torch.Tensor | None:
        """The cached tensor, or ``None`` on a miss (a damaged entry is deleted and counts as a miss)."""
        key = self.key(path, params)
        tensor = self._read(key)
        if tensor is None:
            self.stats.misses += 1
        else:
            self.stats.hits += 1
        return tensor

    def put(self, path: str | os.PathLike, params: Mapping[str, Any] | ParamsKey, tensor: torch.Tensor) -> Path:
        """Store ``tensor`` for ``path`` under ``params`` atomically; returns the entry's path."""
        return self._write(self.key(path, params), tensor)

    def get_or_compute(
        self, path: str | os.PathLike, params: Mapping[str, Any] | ParamsKey, compute: Callable[[], torch.Tensor]
    ) -> torch.Tensor:
        """The cached tensor, computing and storing it with ``compute()`` on a miss."""
        key = self.key(path, params)
        tensor = self._read(key)
        if tensor is not None:
            self.stats.hits += 1
            return tensor
        self.stats.misses += 1
        tensor = compute()
        if not isinstance(tensor, torch.Tensor):
            raise ParameterError(f"the feature function returned {type(tensor).__name__}: the cache stores one torch.Tensor")
        self._write(key, tensor)
        return tensor

    def clear(self) -> None:
        """Delete every entry (the folder stays)."""
        for entry in self.root.glob("*/*.safetensors"):
            entry.unlink(missing_ok=True)

    # ------------------------------------------------------------------------------------------

    def _read(self, key: str) -> torch.Tensor | None:
        entry = self.entry_path(key)
        try:
            with safe_open(entry, framework="pt") as fh:
                meta = fh.metadata() or {}
                tensor = fh.get_tensor(_TENSOR)
            if meta.get("key") != key:
                raise ValueError("entry holds another key")
            if self.verify and meta.get("sha256") != _tensor_sha256(tensor):
                raise ValueError("checksum mismatch")
            return tensor
        except FileNotFoundError:
            return None
        except (SafetensorError, KeyError, ValueError, OSError, RuntimeError):
            # Truncated, damaged or foreign file: drop it so it is recomputed and rewritten.
            self.stats.corrupt += 1
            entry.unlink(missing_ok=True)
            return None

    def _write(self, key: str, tensor: torch.Tensor) -> Path:
        entry = self.entry_path(key)
        entry.parent.mkdir(parents=True, exist_ok=True)
        tensor = tensor.detach().cpu().contiguous()
        metadata = {"key": key, "sha256": _tensor_sha256(tensor), "version": str(_VERSION)}
        data = save({_TENSOR: tensor}, metadata=metadata)  # safetensors bytes, serialised in memory
        # A name no other writer uses (pid, thread, random), created exclusively, then renamed over
        # the entry: one file creation per write, and readers never see a partial file.
        tmp = entry.parent / f".{key[:16]}.{os.getpid()}.{threading.get_ident()}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
            os.replace(tmp, entry)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self.stats.writes += 1
        return entry


def feature_params(features: Any) -> Any:
    """A JSON-serialisable fingerprint of a feature extractor, for cache keys.

    - an object with a ``cache_params()`` method: its result;
    - an ``nn.Module``: its class, its public attributes (``n_fft``, ``hop_length``, a convention
      dataclass, ...), a sha256 of every parameter and buffer, persistent or not (window, filter
      bank), and the same for its children, so changing any setting that shows in the module
      changes the fingerprint;
    - ``functools.partial``: the function's fingerprint plus the bound arguments;
    - a function: its qualified name, a hash of its code and its defaults.
    """
    if features is None:
        return None
    if hasattr(features, "cache_params") and callable(features.cache_params):
        return _canonical(features.cache_params())
    if isinstance(features, torch.nn.Module):
        # Buffers may be non-persistent (absent from state_dict), so walk named_buffers too.
        tensors = {name: _tensor_sha256(t.detach().cpu().contiguous())
                   for name, t in (*features.named_parameters(recurse=False), *features.named_buffers(recurse=False))}
        attrs = {k: _fingerprint_value(v) for k, v in sorted(vars(features).items())
                 if not k.startswith("_") and k != "training"}
        return {"class": _qualname(type(features)), "attrs": attrs, "tensors": tensors,
                "children": {n: feature_params(m) for n, m in features.named_children()}}
    if isinstance(features, functools.partial):
        return {"partial": feature_params(features.func), "args": [_fingerprint_value(a) for a in features.args],
                "keywords": {k: _fingerprint_value(v) for k, v in sorted(features.keywords.items())}}
    if callable(features) and hasattr(features, "__code__"):
        code = features.__code__
        digest = hashlib.sha256(code.co_code + repr(code.co_consts).encode()).hexdigest()
        return {"function": _qualname(features), "code": digest,
                "defaults": _fingerprint_value(features.__defaults__ or ()),
                "kwdefaults": _fingerprint_value(features.__kwdefaults__ or {})}
    if isinstance(features, types.BuiltinFunctionType):
        return {"builtin": _qualname(features)}
    if callable(features):
        raise ParameterError(
            f"cannot fingerprint the feature extractor {features!r} for the cache: give it a "
            "cache_params() method returning its settings, or pass feature_params=... explicitly"
        )
    return _canonical(features)


# ----------------------------------------------------------------------------------------------


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', type(obj).__name__)}"


def _is_plain(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (tuple, list)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, torch.dtype):
        return True
    return False


def _fingerprint_value(value: Any) -> Any:
    if _is_plain(value):
        return _canonical(value)
    if isinstance(value, torch.Tensor):
        return {"tensor": _tensor_sha256(value.detach().cpu().contiguous())}
    if isinstance(value, Mapping):
        return {str(k): _fingerprint_value(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (tuple, list)):
        return [_fingerprint_value(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"dataclass": _qualname(type(value)),
                "fields": {f.name: _fingerprint_value(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, torch.nn.Module) or callable(value):
        return feature_params(value)
    text = repr(value)
    if " at 0x" in text:  # a repr that only shows identity says nothing about settings
        raise ParameterError(
            f"cannot fingerprint {text} (type {type(value).__name__}) for the cache key: give the feature "
            "extractor a cache_params() method returning its settings, or pass feature_params=... explicitly"
        )
    return {"repr": _qualname(type(value)) + ":" + text}


def _canonical(value: Any) -> Any:
    """JSON-ready form: floats by repr (exact), tuples as lists, dtypes as strings."""
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, float):
        return {"float": repr(value)}
    if isinstance(value, torch.dtype):
        return str(value)
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    raise ParameterError(
        f"cache parameter {value!r} of type {type(value).__name__} is not JSON-serialisable: "
        "use numbers, strings, booleans, None and lists/dicts of them"
    )


def _tensor_sha256(tensor: torch.Tensor) -> str:
    h = hashlib.sha256(f"{tensor.dtype}|{tuple(tensor.shape)}|".encode())
    h.update(tensor.numpy().tobytes() if tensor.dtype != torch.bfloat16 else tensor.view(torch.int16).numpy().tobytes())
    return h.hexdigest()
