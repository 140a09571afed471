"""One factory for every model part: encoders, fusions, heads, paradigms, chosen by name.

A part registers a builder under ``(kind, name)``; :func:`build` turns a plain config dict
``{"name": ..., **kwargs}`` into an instance. Builders of composite models receive nested
config dicts and call :func:`build` on them, so a whole model is one JSON-able dict.

Sizes are checked before anything is allocated (:func:`check_config_sizes`, :mod:`polysense.limits`):
every integer in a config is at most ``POLYSENSE_MAX_MODEL_DIM`` (``POLYSENSE_MAX_MODEL_DEPTH`` for
depths, layers, blocks and heads), every ``*sample_rate`` is a whole number of Hz within the limits,
and a build that would allocate more than ``POLYSENSE_MAX_MODEL_BYTES`` of tensors is stopped
before the allocation that crosses it, saying how much it asked for.

Example::

    model = build("model", {"name": "clip", "embed_dim": 32,
                            "audio": {"name": "audio_cnn", "sample_rate": 16000},
                            "text": {"name": "text_transformer", "vocab_size": 1000}})
"""

from __future__ import annotations

import contextvars
import copy
import math
import re
from collections.abc import Callable
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from polysense import limits
from polysense._checks import check_sample_rate, check_size
from polysense.errors import ParameterError
from polysense.models.contract import check_model, check_model_class
from polysense.registry import MODEL_KINDS, MODEL_PARTS, Registry, check_config_types

__all__ = ["KINDS", "available", "build", "build_model", "builder", "check_config_sizes", "check_config_types",
           "register", "unregister"]

KINDS = MODEL_KINDS
# One registry per kind; the built-in parts are declared in polysense.builtins and imported on
# their first lookup, so that importing polysense.models stays cheap.
_REGISTRY = MODEL_PARTS
# Config keys holding a count of stacked layers (bounded by max_model_depth, not max_model_dim).
_DEPTH_KEY = re.compile(r"(^|_)(depth|layers|blocks|heads)$")
# True inside a build: nested parts are built by their parent, whose size check covers them.
_building = contextvars.ContextVar("polysense_building", default=False)


def _kind(kind: str) -> Registry:
    if not isinstance(kind, str) or kind not in _REGISTRY:
        raise ParameterError(f"kind={kind!r} is not a part kind: choose one of {', '.join(KINDS)}")
    return _REGISTRY[kind]


def register(kind: str, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register a class or function building a part of ``kind`` under ``name``.

    A model class must keep the model contract (:class:`polysense.models.contract.Model` of a known
    ``kind``), checked here; what a model builder function returns is checked when it is built."""
    parts = _kind(kind)

    def decorator(builder: Callable[..., Any]) -> Callable[..., Any]:
        if kind == "model" and isinstance(builder, type):
            check_model_class(builder, name=name)
        return parts.register(name)(builder)

    return decorator


def unregister(kind: str, name: str) -> None:
    """Remove the part registered as ``name`` for ``kind`` (a plugin's or a test's own part, so
    the shared registry holds only what was there before); an unknown name is a ParameterError."""
    if kind not in _REGISTRY:
        raise ParameterError(f"no {kind} named {name!r} is registered: nothing to unregister")
    _REGISTRY[kind].unregister(name)


def available(kind: str) -> list[str]:
    """Names registered for ``kind``, sorted."""
    return _kind(kind).available()


def builder(kind: str, name: str) -> Callable[..., Any]:
    """The class or function registered as ``name`` for ``kind`` (to read its signature)."""
    return _kind(kind).get(name)


def build(kind: str, config: dict[str, Any]) -> Any:
    """Build the part of ``kind`` named by ``config["name"]`` with the other keys as keyword arguments."""
    parts = _kind(kind)
    if not isinstance(config, dict) or "name" not in config:
        raise ParameterError(
            f"a {kind} config must be a dict with a 'name' key, got {config!r}; "
            f"available {kind}s: {', '.join(parts.available())}"
        )
    kwargs = copy.deepcopy(config)
    name = kwargs.pop("name")
    if not isinstance(name, str):
        raise ParameterError(f"{kind} name={name!r} is invalid: expected a string, one of {', '.join(parts.available())}")
    builder = parts.get(name)
    if _building.get():
        built = _call(builder, kind, name, config, kwargs)
    else:
        check_config_sizes(kwargs, where=f"{kind} {name!r}")
        token = _building.set(True)
        try:
            with _MemoryBudget(limits.current().max_model_bytes, f"{kind} {name!r}"):
                built = _call(builder, kind, name, config, kwargs)
        finally:
            _building.reset(token)
    return check_model(built, name=name) if kind == "model" else built


def check_config_sizes(config: Any, *, where: str = "config", path: str = "") -> None:
    """Refuse, before anything is built, an integer in ``config`` (nested dicts and lists too) above
    the configurable limits, and a ``*sample_rate`` that is not a whole number of Hz in range."""
    if isinstance(config, dict):
        for key, value in config.items():
            check_config_sizes(value, where=where, path=f"{path}.{key}" if path else str(key))
        return
    if isinstance(config, (list, tuple)):
        for i, value in enumerate(config):
            check_config_sizes(value, where=where, path=f"{path}[{i}]")
        return
    key = re.sub(r"\[\d+\]$", "", path.rsplit(".", 1)[-1])
    if key.endswith("sample_rate") and config is not None:
        check_sample_rate(config, f"{where}: {path}", integer=True)
    elif isinstance(config, int) and not isinstance(config, bool) and "seed" not in key:
        limit = "max_model_depth" if _DEPTH_KEY.search(key) else "max_model_dim"
        check_size(f"{where}: {path}", config, minimum=-(2**63), limit=limit)


def _call(make: Callable[..., Any], kind: str, name: str, config: dict[str, Any], kwargs: dict[str, Any]) -> Any:
    check_config_types(make, kwargs, where=f"{kind} {name!r}")
    try:
        return make(**copy.deepcopy(kwargs))
    except TypeError as error:
        raise ParameterError(f"cannot build {kind} {name!r} from config {config!r}: {error}") from error
    except (MemoryError, OverflowError) as error:
        raise ParameterError(f"cannot build {kind} {name!r} from config {config!r}: its sizes do not fit ({error})") from error


# Tensor factories whose first argument(s) give the shape: what nn layers allocate parameters with.
_FACTORIES = {torch.empty, torch.zeros, torch.ones, torch.full, torch.rand, torch.randn, torch.randint}


class _MemoryBudget(TorchFunctionMode):
    """Counts the bytes every tensor factory call asks for during a build and refuses, before the
    allocation, the call that would take the total past ``limit``: a model too big to fit fails
    with its size instead of in the allocator or after swapping for minutes."""

    def __init__(self, limit: int, what: str) -> None:
        super().__init__()
        self.limit, self.what, self.total = limit, what, 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _FACTORIES:
            self.total += _requested_bytes(func, args, kwargs)
            if self.total > self.limit:
                raise ParameterError(
                    f"{self.what} would need more than {limits.format_bytes(self.total)} for its tensors, more than the "
                    f"limit of {limits.format_bytes(self.limit)}: use smaller sizes, or raise the limit with "
                    f"{limits.env_name('max_model_bytes')}"
                )
        return func(*args, **kwargs)


def _requested_bytes(func, args, kwargs) -> int:
    if func is torch.randint:  # randint(high, size) / randint(low, high, size)
        args = [a for a in args if isinstance(a, (tuple, list, torch.Size))][:1]
    size = kwargs.get("size", args[0] if args and isinstance(args[0], (tuple, list, torch.Size)) else
                      [a for a in args if isinstance(a, int) and not isinstance(a, bool)])
    if func is torch.full and args and not isinstance(args[0], (tuple, list, torch.Size)):
        size = []
    try:
        numel = math.prod(int(n) for n in size)
    except (TypeError, ValueError):
        return 0
    dtype = kwargs.get("dtype") or torch.get_default_dtype()
    itemsize = torch.empty((), dtype=dtype, device="meta").element_size()
    return max(numel, 0) * itemsize


def build_model(config: dict[str, Any]) -> Any:
    """Build a whole model from a plain config dict (see :func:`build`)."""
    return build("model", config)
