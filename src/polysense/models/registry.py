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
import importlib
import inspect
import math
import re
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from polysense import limits
from polysense._checks import check_sample_rate, check_size
from polysense.errors import ParameterError

KINDS = ("encoder", "fusion", "head", "model")

# Modules whose import registers the built-in parts; imported on first lookup so that
# importing polysense.models stays cheap.
_BUILTIN_MODULES = (
    "polysense.models.encoders.audio",
    "polysense.models.encoders.speech",
    "polysense.models.encoders.image",
    "polysense.models.encoders.text",
    "polysense.models.encoders.minilm",
    "polysense.models.encoders.whisper",
    "polysense.models.encoders.features",
    "polysense.models.fusion",
    "polysense.models.classifier",
    "polysense.models.ctc.model",
    "polysense.models.heads",
    "polysense.models.paradigms.vsepp",
    "polysense.models.paradigms.clip",
    "polysense.models.paradigms.vilbert",
    "polysense.models.paradigms.vilt",
    "polysense.models.paradigms.albef",
    "polysense.enhance.unet",
    "polysense.enhance.tasnet",
    "polysense.detect.model",
    "polysense.models.speaker",
    "polysense.models.generators.specgan",
)

_REGISTRY: dict[str, dict[str, Callable[..., Any]]] = {kind: {} for kind in KINDS}
_loaded = False
# Config keys holding a count of stacked layers (bounded by max_model_depth, not max_model_dim).
_DEPTH_KEY = re.compile(r"(^|_)(depth|layers|blocks|heads)$")
# True inside a build: nested parts are built by their parent, whose size check covers them.
_building = contextvars.ContextVar("polysense_building", default=False)


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


def unregister(kind: str, name: str) -> None:
    """Remove the part registered as ``name`` for ``kind`` (a plugin's or a test's own part, so
    the shared registry holds only what was there before); an unknown name is a ParameterError."""
    if kind not in _REGISTRY or name not in _REGISTRY[kind]:
        raise ParameterError(f"no {kind} named {name!r} is registered: nothing to unregister")
    del _REGISTRY[kind][name]


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
    if not isinstance(name, str):
        raise ParameterError(f"{kind} name={name!r} is invalid: expected a string, one of {', '.join(available(kind))}")
    builder = _REGISTRY.get(kind, {}).get(name)
    if builder is None:
        raise ParameterError(
            f"unknown {kind} name={name!r}: choose one of {', '.join(available(kind))}"
        )
    if _building.get():
        return _call(builder, kind, name, config, kwargs)
    check_config_sizes(kwargs, where=f"{kind} {name!r}")
    token = _building.set(True)
    try:
        with _MemoryBudget(limits.current().max_model_bytes, f"{kind} {name!r}"):
            return _call(builder, kind, name, config, kwargs)
    finally:
        _building.reset(token)


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


def _mapping_only(annotation: Any) -> bool:
    """True when a parameter annotation admits only mappings (and None): ``Mapping[str, Any] | None``."""
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    options = [a for a in (typing.get_args(annotation) if union else (annotation,)) if a is not type(None)]
    origins = [typing.get_origin(a) or a for a in options]
    return bool(origins) and all(isinstance(o, type) and issubclass(o, Mapping) for o in origins)


def check_config_types(make: Callable[..., Any], kwargs: Mapping[str, Any], *, where: str) -> None:
    """Refuse a config value that is not a mapping where the builder's signature takes only a
    mapping of options (``projection: Mapping[str, Any] | None``): a string there would fail deep
    inside the builder with a message about dict updates. A class's base classes count too (a
    paradigm passes ``**kwargs`` on to its base)."""
    hints: dict[str, Any] = {}
    for target in [c.__init__ for c in make.__mro__ if "__init__" in vars(c)] if inspect.isclass(make) else [make]:
        try:
            for key, value in typing.get_type_hints(target).items():
                hints.setdefault(key, value)
        except Exception:  # noqa: BLE001 - unresolvable annotations: nothing to check against
            continue
    for key, value in kwargs.items():
        if value is not None and not isinstance(value, Mapping) and key in hints and _mapping_only(hints[key]):
            raise ParameterError(f"{where}: {key}={value!r} is invalid: expected a mapping of {key} options "
                                 "(key: value pairs) or null")


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
