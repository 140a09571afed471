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

from polysense import limits
from polysense.errors import ParameterError


# The largest integer any argument may be: what torch can unpack into a C long long. Sizes have
# tighter, configurable limits (check_size, polysense.limits).
INT_MAX = 2**63 - 1


def check_positive_int(
    name: str, value: Any, *, minimum: int = 1, maximum: int | None = None, what: str = ""
) -> int:
    """Return ``value`` as int if it is an integer in ``[minimum, maximum]``, else raise ParameterError.

    Booleans and strings are refused (``True`` is not a size); ``maximum`` defaults to 2**63 - 1.
    """
    top = INT_MAX if maximum is None else maximum
    bounds = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
    if isinstance(value, bool):
        raise ParameterError(f"{name}={value!r} is invalid: expected an integer {bounds}{_what(what)}")
    try:
        value = operator.index(value)
    except TypeError:
        raise ParameterError(f"{name}={value!r} is invalid: expected an integer {bounds}{_what(what)}") from None
    if value < minimum:
        raise ParameterError(f"{name}={value} is invalid: expected an integer {bounds}{_what(what)}")
    if value > top:
        shown = value if value < 10**30 else f"{value:.3e}"
        raise ParameterError(f"{name}={shown} is too large: expected an integer in [{minimum}, {top}]{_what(what)}")
    return value


def check_size(
    name: str, value: Any, *, limit: str, minimum: int = 1, bytes_each: int = 0, what: str = ""
) -> int:
    """An integer size bounded below by ``minimum`` and above by the configurable limit ``limit``
    (a field of :class:`polysense.limits.Limits`, e.g. ``"max_fft"``).

    Refusing up front, the message says how much memory the size would have needed
    (``value * bytes_each``) and which environment variable raises the limit.
    """
    value = check_positive_int(name, value, minimum=minimum, what=what)
    top = getattr(limits.current(), limit)
    if value > top:
        need = f"; it would need {limits.format_bytes(value * bytes_each)} of memory" if bytes_each else ""
        raise ParameterError(
            f"{name}={value} is too large{_what(what)}: the limit is {top}{need}. "
            f"Use a smaller value, or raise the limit with the environment variable {limits.env_name(limit)}"
        )
    return value


def _as_number(name: str, value: Any, expected: str) -> float:
    """``float(value)`` for real numbers only: booleans, strings and None are refused."""
    if isinstance(value, (bool, str, bytes)) or value is None:
        raise ParameterError(f"{name}={value!r} is invalid: expected {expected}")
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError, RuntimeError):
        raise ParameterError(f"{name}={value!r} is invalid: expected {expected}") from None


def check_positive_float(
    name: str, value: Any, *, allow_zero: bool = False, maximum: float | None = None, what: str = ""
) -> float:
    """Return ``value`` as float if it is finite and > 0 (or >= 0 with ``allow_zero``) and at most
    ``maximum``."""
    bound = ">= 0" if allow_zero else "> 0"
    if maximum is not None:
        bound += f" and <= {maximum:g}"
    number = _as_number(name, value, f"a finite number {bound}{_what(what)}")
    bound_ok = number >= 0 if allow_zero else number > 0
    if not math.isfinite(number) or not bound_ok or (maximum is not None and number > maximum):
        raise ParameterError(f"{name}={value!r} is invalid: expected a finite number {bound}{_what(what)}")
    return number


def check_representable(name: str, value: float, dtype: torch.dtype, *, what: str = "") -> float:
    """``value`` (already checked finite and > 0) if it is a finite, non-zero normal number in
    ``dtype``: a step of 1e300 is infinite in float32 and 1e-300 is zero, both of which turn a
    result into NaN."""
    info = torch.finfo(dtype)
    if not info.tiny <= abs(value) <= info.max:
        raise ParameterError(
            f"{name}={value!r} is invalid for {str(dtype).replace('torch.', '')} data{_what(what)}: "
            f"expected a magnitude in [{info.tiny:.3g}, {info.max:.3g}]; use float64 data or rescale"
        )
    return value


def check_unit_interval(name: str, value: Any, *, what: str = "a probability", include_one: bool = True) -> float:
    """Return ``value`` as float if it lies in [0, 1] (a probability, a momentum, a share), or in
    [0, 1) with ``include_one=False`` (a dropout rate: 1 would zero everything)."""
    interval = "[0, 1]" if include_one else "[0, 1)"
    number = _as_number(name, value, f"{what} in {interval}")
    if not (0.0 <= number <= 1.0 if include_one else 0.0 <= number < 1.0):
        raise ParameterError(f"{name}={value!r} is invalid: expected {what} in {interval}")
    return number


def check_sample_rate(sample_rate: Any, name: str = "sample_rate", *, integer: bool = False) -> float:
    """A sample rate in Hz: finite, within the configurable limits (``POLYSENSE_MIN_SAMPLE_RATE``,
    ``POLYSENSE_MAX_SAMPLE_RATE``) and, with ``integer=True``, a whole number of Hz (returned as int;
    a model config or a file header cannot hold 1.5 Hz)."""
    what = " (samples per second, Hz)"
    number = check_positive_float(name, sample_rate, what=what)
    lim = limits.current()
    if not lim.min_sample_rate <= number <= lim.max_sample_rate:
        raise ParameterError(
            f"{name}={sample_rate!r} is out of range: expected a sample rate in "
            f"[{lim.min_sample_rate:g}, {lim.max_sample_rate:g}] Hz (the limits are set by the environment "
            f"variables {limits.env_name('min_sample_rate')} and {limits.env_name('max_sample_rate')})"
        )
    if integer:
        if number != int(number):
            raise ParameterError(f"{name}={sample_rate!r} is invalid: expected a whole number of Hz{what}")
        return int(number)
    return number


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``choices``, else raise naming the valid ones."""
    choices = list(choices)
    if value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise ParameterError(f"{name}={value!r} is not supported: choose one of {valid}")
    return value


_REAL_DTYPES = (torch.float32, torch.float64)
_COMPLEX_DTYPES = (torch.complex64, torch.complex128)


def check_signal(
    name: str,
    x: Any,
    *,
    min_length: int = 1,
    allow_complex: bool = False,
    max_abs: float | None = None,
    n_fft: int | None = None,
) -> torch.Tensor:
    """A signal tensor of shape (..., time): float32/float64 (or complex64/128 with
    ``allow_complex``), at least one signal (no empty batch), ``min_length`` samples, finite.

    Raises ParameterError for non-tensors, other dtypes (integers, float16/bfloat16: convert with
    ``x.float()``), an empty batch or time axis, NaN/Inf samples (naming how many and the first
    index) and, with ``max_abs``, samples larger than ``max_abs`` in magnitude (``n_fft`` sets it to
    :func:`power_headroom` of the dtype), so no function silently returns NaN or Inf.
    """
    if not isinstance(x, torch.Tensor):
        raise ParameterError(
            f"{name} must be a torch.Tensor of shape (..., time), got {type(x).__name__}; "
            "convert with torch.as_tensor(array, dtype=torch.float32)"
        )
    if x.is_complex():
        if not allow_complex:
            raise ParameterError(f"{name} has complex dtype {x.dtype}: expected a real floating-point signal")
        if x.dtype not in _COMPLEX_DTYPES:
            raise ParameterError(f"{name} has dtype {x.dtype}: expected complex64 or complex128; convert with x.to(torch.complex64)")
    elif not x.is_floating_point():
        raise ParameterError(
            f"{name} has dtype {x.dtype}: expected float32 or float64; "
            "integer PCM should be scaled to [-1, 1) first (polysense.audio.load does this)"
        )
    elif x.dtype not in _REAL_DTYPES:
        raise ParameterError(
            f"{name} has dtype {x.dtype}: expected float32 or float64 (the FFT and filter banks need them); "
            "convert with x.float()"
        )
    if x.ndim == 0 or x.shape[-1] < min_length:
        length = 0 if x.ndim == 0 else x.shape[-1]
        raise ParameterError(
            f"{name} has {length} samples along its last (time) axis: expected at least {min_length}"
        )
    if x.numel() == 0:
        raise ParameterError(
            f"{name} has shape {tuple(x.shape)}: an empty batch (a leading axis of size 0); pass at least one signal"
        )
    if torch.compiler.is_compiling():
        return x  # a graph being traced for export has no values to check; its inputs are checked when it runs
    if n_fft is not None and max_abs is None:
        max_abs = power_headroom(x.dtype, n_fft)
    # aminmax propagates NaN and exposes ±Inf in one pass without a bool temporary the size of x
    # (isfinite(x).all() cost ~20% of a batched log-mel); the slow scan only locates the culprit.
    lo, hi = torch.aminmax((torch.view_as_real(x) if x.is_complex() else x).detach())
    lo, hi = float(lo), float(hi)
    if math.isfinite(lo) and math.isfinite(hi):
        if max_abs is not None and max(-lo, hi) > max_abs:
            peak = max(-lo, hi)
            raise ParameterError(
                f"{name} has samples up to {peak:.3g} in magnitude, more than {max_abs:.3g}: its power spectrum "
                f"would overflow {str(x.dtype).replace('torch.', '')}. Scale the signal down (audio is normally "
                "within [-1, 1]) or convert it to float64"
            )
        return x
    bad = (~torch.isfinite(x)).nonzero()
    raise ParameterError(
        f"{name} contains {bad.shape[0]} NaN or Inf value(s), first at index {tuple(bad[0].tolist())}: "
        "remove or replace them (e.g. torch.nan_to_num) before analysis"
    )


def power_headroom(dtype: torch.dtype, n_fft: int, power: float = 2.0) -> float:
    """The largest sample magnitude ``A`` whose power spectrum stays finite in ``dtype``.

    A frame of ``N = n_fft`` samples bounded by ``A`` under a window bounded by 1 has
    ``|X_k| <= A·N``, so ``|X_k|² <= A²N²``; a filter bank adds at most ``N/2 + 1`` bins with
    weights that we allow up to 1e6 (slaney-normalised triangles at low sample rates). So
    ``A <= sqrt(max / (1e6·(N/2 + 1))) / N`` keeps every power, mel and dB value finite:
    about 2.8e11 for float32 at N = 2048, far beyond real audio. For ``|X|^p`` with ``p = power``
    the square root becomes the p-th root.
    """
    top = torch.finfo(dtype if dtype.is_floating_point else torch.float32).max
    return (top / (1e6 * (n_fft // 2 + 1))) ** (1.0 / max(float(power), 1.0)) / n_fft


def check_stft_size(x: torch.Tensor, n_fft: int, hop_length: int) -> None:
    """Refuse a short-time analysis whose spectrogram would hold more than the configurable
    ``max_spectrogram_values`` (``POLYSENSE_MAX_SPECTROGRAM_VALUES``) values: signals x bins x
    frames, e.g. a long signal at hop 1 with a large FFT, which would take hours or terabytes."""
    signals = x[..., 0].numel()
    frames = x.shape[-1] // hop_length + 1
    values = signals * (n_fft // 2 + 1) * frames
    top = limits.current().max_spectrogram_values
    if values > top:
        raise ParameterError(
            f"n_fft={n_fft} with hop_length={hop_length} on x of shape {tuple(x.shape)} would give {values:,} "
            f"spectrogram values ({signals} signal(s) x {n_fft // 2 + 1} bins x {frames} frames, "
            f"{limits.format_bytes(values * 8)} as complex64), more than the limit {top:,}. Use a larger "
            f"hop_length, a smaller n_fft or shorter signals, or raise the limit with the environment variable "
            f"{limits.env_name('max_spectrogram_values')}"
        )


def check_matrix_size(rows_name: str, rows: int, cols: int, *, what: str) -> None:
    """Refuse a (rows, cols) filter bank or transform matrix of more than 1/4 of
    ``POLYSENSE_MAX_SAMPLES`` values (2**27 by default: 256 mel bands at the largest FFT); building one
    takes ~5 float64 temporaries of that size."""
    top = limits.current().max_samples // 4
    if rows * cols > top:
        raise ParameterError(
            f"{rows_name}={rows} is too large for {what} of {rows} x {cols} = {rows * cols:,} values (building it needs "
            f"about {limits.format_bytes(rows * cols * 40)}): the limit is {top:,} values; use fewer, or raise the limit "
            f"with the environment variable {limits.env_name('max_samples')} (1/4 of it applies here)"
        )


def check_lifter(lifter: Any) -> float:
    """The MFCC lifter L: 0 (off) or at least 1e-6, so ``sin(π·n/L)`` stays finite (a lifter of
    1e-300 makes ``π·n/L`` infinite and the coefficients NaN)."""
    lifter = check_positive_float("lifter", lifter, allow_zero=True, what="0 disables liftering")
    if 0 < lifter < 1e-6:
        raise ParameterError(f"lifter={lifter!r} is invalid: expected 0 (no liftering) or a number >= 1e-6 (22 is usual)")
    return lifter


def _what(what: str) -> str:
    return what if not what or what.startswith(" ") else f" ({what})"
