"""Argument validation shared by every layer: one place that words the error messages.

Each helper raises :class:`~polysense.errors.ParameterError` naming the argument, the value
received and what would be valid, and returns the (possibly converted) value otherwise.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable
from typing import Any

import torch

from polysense.errors import ParameterError


def check_positive_int(name: str, value: Any, *, minimum: int = 1, what: str = "") -> int:
    """Return ``value`` as int if it is an integer ``>= minimum``, else raise ParameterError."""
    if isinstance(value, bool):
        raise ParameterError(f"{name}={value!r} is invalid: expected an integer >= {minimum}{_what(what)}")
    try:
        value = operator.index(value)
    except TypeError:
        raise ParameterError(
            f"{name}={value!r} is invalid: expected an integer >= {minimum}{_what(what)}"
        ) from None
    if value < minimum:
        raise ParameterError(f"{name}={value} is invalid: expected an integer >= {minimum}{_what(what)}")
    return value


def check_positive_float(name: str, value: Any, *, allow_zero: bool = False, what: str = "") -> float:
    """Return ``value`` as float if it is finite and > 0 (or >= 0 with ``allow_zero``)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name}={value!r} is invalid: expected a number{_what(what)}") from None
    bound_ok = number >= 0 if allow_zero else number > 0
    if not math.isfinite(number) or not bound_ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ParameterError(f"{name}={value!r} is invalid: expected a finite number {bound}{_what(what)}")
    return number


def check_unit_interval(name: str, value: Any, *, what: str = "a probability", include_one: bool = True) -> float:
    """Return ``value`` as float if it lies in [0, 1] (a probability, a momentum, a share), or in
    [0, 1) with ``include_one=False`` (a dropout rate: 1 would zero everything)."""
    interval = "[0, 1]" if include_one else "[0, 1)"
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name}={value!r} is invalid: expected {what} in {interval}") from None
    if not (0.0 <= number <= 1.0 if include_one else 0.0 <= number < 1.0):
        raise ParameterError(f"{name}={value!r} is invalid: expected {what} in {interval}")
    return number


def check_sample_rate(sample_rate: Any, name: str = "sample_rate") -> float:
    """A sample rate in Hz: finite and positive."""
    return check_positive_float(name, sample_rate, what=" (samples per second, Hz)")


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``choices``, else raise naming the valid ones."""
    choices = list(choices)
    if value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise ParameterError(f"{name}={value!r} is not supported: choose one of {valid}")
    return value


def check_signal(name: str, x: Any, *, min_length: int = 1, allow_complex: bool = False) -> torch.Tensor:
    """A signal tensor of shape (..., time): floating point, non-empty, finite.

    Raises ParameterError for non-tensors, integer dtypes, an empty time axis, or NaN/Inf
    samples (naming how many and the first index), so no function silently returns NaN.
    """
    if not isinstance(x, torch.Tensor):
        raise ParameterError(
            f"{name} must be a torch.Tensor of shape (..., time), got {type(x).__name__}; "
            "convert with torch.as_tensor(array, dtype=torch.float32)"
        )
    if x.is_complex():
        if not allow_complex:
            raise ParameterError(f"{name} has complex dtype {x.dtype}: expected a real floating-point signal")
    elif not x.is_floating_point():
        raise ParameterError(
            f"{name} has dtype {x.dtype}: expected float32 or float64; "
            "integer PCM should be scaled to [-1, 1) first (polysense.audio.load does this)"
        )
    if x.ndim == 0 or x.shape[-1] < min_length:
        length = 0 if x.ndim == 0 else x.shape[-1]
        raise ParameterError(
            f"{name} has {length} samples along its last (time) axis: expected at least {min_length}"
        )
    # aminmax propagates NaN and exposes ±Inf in one pass without a bool temporary the size of x
    # (isfinite(x).all() cost ~20% of a batched log-mel); the slow scan only locates the culprit.
    lo, hi = torch.aminmax(torch.view_as_real(x) if x.is_complex() else x)
    if bool(torch.isfinite(lo)) and bool(torch.isfinite(hi)):
        return x
    bad = (~torch.isfinite(x)).nonzero()
    raise ParameterError(
        f"{name} contains {bad.shape[0]} NaN or Inf value(s), first at index {tuple(bad[0].tolist())}: "
        "remove or replace them (e.g. torch.nan_to_num) before analysis"
    )


def _what(what: str) -> str:
    return what if not what or what.startswith(" ") else f" ({what})"
