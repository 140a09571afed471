"""One registry for everything a config chooses by name: model parts and datasets.

A :class:`Registry` maps names to builders (a class or a function called with the other keys of
a config). Built-in entries are *declared* with the module that defines them, all in one place
(:mod:`polysense.builtins`, wired in by the package's ``__init__``), and a module is imported on
the first lookup of a name it declares: naming one built-in costs its own import only, and no
layer names a layer above it to find its entries. A plugin registers with the
:meth:`Registry.register` decorator (and :meth:`Registry.unregister` to leave the shared registry
as it found it).

The config keys a builder accepts are read from its signature here and nowhere else
(:meth:`Registry.accepted_keys`, :meth:`Registry.unknown_keys`, :func:`check_config_types`):
the config check, the data check and the model factory all ask this module.

This module imports only the standard library and :mod:`polysense.errors`, so declaring the
built-ins costs nothing at ``import polysense``.
"""

from __future__ import annotations

import importlib
import inspect
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any

from polysense.errors import ParameterError

__all__ = ["DATASETS", "MODEL_KINDS", "MODEL_PARTS", "Registry", "check_config_types"]


class Registry:
    """Builders of one kind of thing (``"encoder"``, ``"model"``, ``"dataset"``...) by name.

    Args:
        kind: what the entries are, as error messages name them.
        forwards: for a builder that passes ``**kwargs`` on to another builder, that builder
            (or None): its keys count as the first's (see :meth:`accepted_keys`).
    """

    def __init__(self, kind: str, *, forwards: Callable[[Any], Any | None] | None = None) -> None:
        self.kind = kind
        self._forwards = forwards
        self._builders: dict[str, Callable[..., Any]] = {}
        self._declared: dict[str, str] = {}  # built-in name -> the module whose import registers it

    def declare(self, module: str, names: typing.Iterable[str]) -> None:
        """Say that importing ``module`` registers ``names`` (imported on their first lookup)."""
        for name in names:
            self._declared[name] = module

    def register(self, name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: register a class or function building a ``kind`` under ``name``; a second,
        different builder under one name is refused (a built-in name included)."""

        def decorator(builder: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._declared and name not in self._builders:
                importlib.import_module(self._declared[name])  # the built-in first (no-op inside its own import)
            existing = self._builders.get(name)
            if existing is not None and existing is not builder:
                raise ParameterError(f"a {self.kind} named {name!r} is already registered ({existing!r})")
            self._builders[name] = builder
            return builder

        return decorator

    def unregister(self, name: str) -> None:
        """Remove ``name`` (a plugin's or a test's own entry); an unknown name is a ParameterError."""
        if name not in self._builders and name not in self._declared:
            raise ParameterError(f"no {self.kind} named {name!r} is registered: nothing to unregister")
        self._builders.pop(name, None)
        self._declared.pop(name, None)

    def available(self) -> list[str]:
        """Every name, declared built-ins and registered entries, sorted (nothing is imported)."""
        return sorted(set(self._builders) | set(self._declared))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._builders or name in self._declared)

    def get(self, name: Any) -> Callable[..., Any]:
        """The builder registered as ``name``, importing its module on first use; a clear error
        naming the choices otherwise."""
        if not isinstance(name, str) or name not in self:
            raise ParameterError(f"unknown {self.kind} name={name!r}: choose one of {', '.join(self.available())}")
        if name not in self._builders:
            module = self._declared[name]
            importlib.import_module(module)
            if name not in self._builders:
                raise ParameterError(f"the built-in {self.kind} {name!r} is declared in {module} but that module "
                                     "registers no such name: fix the declaration in polysense.builtins")
        return self._builders[name]

    def accepted_keys(self, builder: Any) -> list[str] | None:
        """Keyword names ``builder`` (an entry's builder, or its name) accepts, ``seed`` left out;
        None when it takes arbitrary keywords that cannot be seen.

        A class whose ``__init__`` passes ``**kwargs`` on to its parent accepts the parent's names
        too (CLIP/VSE++ → DualEncoder); a builder that forwards ``**kwargs`` to another builder
        (the registry's ``forwards``) accepts that builder's names.
        """
        builder = self.get(builder) if isinstance(builder, str) else builder
        names: list[str] = []
        targets = [builder]
        if isinstance(builder, type):
            targets = [klass.__init__ for klass in builder.__mro__ if "__init__" in vars(klass) and klass is not object]
        inner = self._forwards(builder) if self._forwards is not None else None
        for target in targets:
            try:
                parameters = inspect.signature(target).parameters
            except (TypeError, ValueError):
                return None
            names += [n for n, p in parameters.items() if n not in ("self", "seed")
                      and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]
            if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
                return list(dict.fromkeys(names))
            if inner is not None:
                more = self.accepted_keys(inner)
                return None if more is None else list(dict.fromkeys(names + [n for n in more if n != "dims"]))
        return None

    def unknown_keys(self, name: str, options: Mapping[str, Any]) -> tuple[list[str], list[str]]:
        """``(unknown, accepted)``: the keys of ``options`` (``name`` aside) that the builder
        registered as ``name`` does not take, sorted, and those it takes; no unknown keys when
        its signature cannot be seen."""
        accepted = self.accepted_keys(name)
        if accepted is None:
            return [], []
        return sorted(set(options) - set(accepted) - {"name"}), accepted


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


def _forwarded_fusion(builder: Any) -> Any | None:
    """The fusion a fusion classifier passes its ``**kwargs`` to (named in ``builder.fusion_name``)."""
    fusion = getattr(builder, "fusion_name", None)
    return None if fusion is None else MODEL_PARTS["fusion"].get(fusion)


#: The kinds of model part, each a registry of its own (see :mod:`polysense.models.registry`).
MODEL_KINDS = ("encoder", "fusion", "head", "model")
MODEL_PARTS = {kind: Registry(kind, forwards=_forwarded_fusion) for kind in MODEL_KINDS}
#: The datasets (see :mod:`polysense.data.registry`).
DATASETS = Registry("dataset")
