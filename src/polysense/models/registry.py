"""One factory for every model part: encoders, fusions, heads, paradigms, chosen by name.

A part registers a builder under ``(kind, name)``; :func:`build` turns a plain config dict
``{"name": ..., **kwargs}`` into an instance. Builders of composite models receive nested
config dicts and call :func:`build` on them, so a whole model is one JSON-able dict.

Example::

    model = build("model", {"name": "clip", "embed_dim": 32,
                            "audio": {"name": "audio_cnn", "sample_rate": 16000},
                            "text": {"name": "text_transformer", "vocab_size": 1000}})
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Callable
from typing import Any

from polysense.errors import ParameterError

KINDS = ("encoder", "fusion", "head", "model")

# Modules whose import registers the built-in parts; imported on first lookup so that
# importing polysense.models stays cheap.
_BUILTIN_MODULES = (
    "polysense.models.encoders.audio",
    "polysense.models.encoders.image",
    "polysense.models.encoders.text",
    "polysense.models.fusion",
    "polysense.models.heads",
    "polysense.models.paradigms.vsepp",
    "polysense.models.paradigms.clip",
    "polysense.models.paradigms.vilbert",
    "polysense.models.paradigms.vilt",
    "polysense.models.paradigms.albef",
    "polysense.enhance.unet",
    "polysense.enhance.tasnet",
)

_REGISTRY: dict[str, dict[str, Callable[..., Any]]] = {kind: {} for kind in KINDS}
_loaded = False


def register(kind: str, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register a class or function building a part of ``kind`` under ``name``."""
    if kind not in _REGISTRY:
        raise ParameterError(f"kind={kind!r} is not a part kind: choose one of {', '.join(KINDS)}")

    def decorator(builder: Callable[..., Any]) -> Callable[..., Any]:
        existing = _REGISTRY[kind].get(name)
        if existing is not None and existing is not builder:
            raise ParameterError(f"a {kind} named {name!r} is already registered ({existing!r})")
        _REGISTRY[kind][name] = builder
        return builder

    return decorator


def _load_builtins() -> None:
    global _loaded
    if not _loaded:
        for module in _BUILTIN_MODULES:
            importlib.import_module(module)
        # Only once every import succeeded: a failed import must fail every build, not just the first.
        _loaded = True


def available(kind: str) -> list[str]:
    """Names registered for ``kind``, sorted."""
    _load_builtins()
    if kind not in _REGISTRY:
        raise ParameterError(f"kind={kind!r} is not a part kind: choose one of {', '.join(KINDS)}")
    return sorted(_REGISTRY[kind])


def builder(kind: str, name: str) -> Callable[..., Any]:
    """The class or function registered as ``name`` for ``kind`` (to read its signature)."""
    _load_builtins()
    found = _REGISTRY.get(kind, {}).get(name)
    if found is None:
        raise ParameterError(f"unknown {kind} name={name!r}: choose one of {', '.join(available(kind))}")
    return found


def build(kind: str, config: dict[str, Any]) -> Any:
    """Build the part of ``kind`` named by ``config["name"]`` with the other keys as keyword arguments."""
    _load_builtins()
    if not isinstance(config, dict) or "name" not in config:
        raise ParameterError(
            f"a {kind} config must be a dict with a 'name' key, got {config!r}; "
            f"available {kind}s: {', '.join(available(kind))}"
        )
    kwargs = copy.deepcopy(config)
    name = kwargs.pop("name")
    builder = _REGISTRY.get(kind, {}).get(name)
    if builder is None:
        raise ParameterError(
            f"unknown {kind} name={name!r}: choose one of {', '.join(available(kind))}"
        )
    try:
        return builder(**kwargs)
    except TypeError as error:
        raise ParameterError(f"cannot build {kind} {name!r} from config {config!r}: {error}") from error


def build_model(config: dict[str, Any]) -> Any:
    """Build a whole model from a plain config dict (see :func:`build`)."""
    return build("model", config)
