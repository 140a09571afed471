"""Sampling: continuous-time sinusoids, their samples, the Nyquist frequency and aliasing.

The lecture's continuous signal is the sinusoid

    f(t) = A · sin(2π(ω·t − φ))

with amplitude ``A``, frequency ``ω`` in Hz (period λ = 1/ω) and phase ``φ`` in **cycles**
(φ = 0.25 delays the wave by a quarter of its period; the phase in radians is 2πφ).
Sums of sinusoids (superposition, ``(f + g)(t) = f(t) + g(t)``) are again periodic.

Sampling with period ``T = 1/F_s`` gives ``x(n) = f(n·T)``. The Nyquist–Shannon theorem
reconstructs ``f`` from its samples when ``F_s > 2·f_max``; the Nyquist frequency is
``F_s / 2``. A tone above it *aliases*: its samples are exactly those of a tone at
``|f − F_s·round(f / F_s)|`` in ``[0, F_s/2]`` (see :func:`alias_frequency`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import torch

from polysense._checks import (
    check_choice,
    check_device,
    check_dtype,
    check_positive_float,
    check_real,
    check_sample_rate,
    check_size,
    check_tensor,
)
from polysense.errors import ParameterError

__all__ = [
    "alias_frequency",
    "check_band",
    "chirp",
    "nyquist_frequency",
    "sample_times",
    "sinusoid",
]


def _num_samples(sample_rate: float, duration_s: Any, num_samples: Any) -> int:
    """Resolve the length from exactly one of ``duration_s`` / ``num_samples``."""
    if (duration_s is None) == (num_samples is None):
        raise ParameterError(
            f"duration_s={duration_s!r} and num_samples={num_samples!r}: give exactly one of them "
            "(the signal length in seconds or in samples)"
        )
    if num_samples is not None:
        return check_size("num_samples", num_samples, limit="max_samples", bytes_each=8, what="samples in the signal")
    seconds = check_positive_float("duration_s", duration_s, what="seconds")
    n = int(round(seconds * sample_rate))
    check_size(f"duration_s={duration_s!r} at sample_rate={sample_rate:g} Hz gives num_samples", max(n, 1),
               limit="max_samples", bytes_each=8)
    if n < 1:
        raise ParameterError(
            f"duration_s={duration_s!r} is shorter than one sample at sample_rate={sample_rate:g} Hz: "
            f"expected duration_s >= {1.0 / sample_rate:g}"
        )
    return n


def sample_times(
    *,
    sample_rate: float,
    duration_s: float | None = None,
    num_samples: int | None = None,
    start_s: float = 0.0,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Sampling instants ``t_n = start_s + n·T`` with ``T = 1 / sample_rate``, in seconds.

    Parameters
    ----------
    sample_rate : float
        Sampling rate ``F_s`` in Hz (> 0).
    duration_s, num_samples :
        The length, either in seconds (rounded to ``round(duration_s·F_s)`` samples) or in
        samples. Give exactly one.
    start_s : float
        Time of the first sample in seconds.

    Returns
    -------
    Tensor of shape ``(num_samples,)``.
    """
    sr = check_sample_rate(sample_rate)
    n = _num_samples(sr, duration_s, num_samples)
    start = check_real("start_s", start_s, what="number of seconds")
    dtype = check_dtype("dtype", dtype)
    device = check_device(device)
    if abs(start) + n / sr > torch.finfo(dtype).max:
        raise ParameterError(f"start_s={start_s!r} is too large for {str(dtype).replace('torch.', '')} times: "
                             f"expected the times to stay below {torch.finfo(dtype).max:.3g} s")
    # Compute n / F_s in float64 first so float32 times do not accumulate rounding error.
    t = torch.arange(n, dtype=torch.float64, device=device) / sr + start
    return t.to(dtype)


def _components(name: str, value: Any, dtype: torch.dtype, device: Any) -> torch.Tensor:
    """A parameter given as a scalar, a sequence or a tensor, as a 1-D tensor of components."""
    if isinstance(value, torch.Tensor):
        check_tensor(name, value)
        tensor = value.to(dtype=dtype, device=device if device is not None else value.device)
    elif isinstance(value, (bool, str, bytes)) or value is None:
        raise ParameterError(f"{name}={value!r} is invalid: expected a number, a sequence of numbers or a tensor")
    else:
        try:
            tensor = torch.as_tensor(value, dtype=dtype, device=device)
        except (TypeError, ValueError, RuntimeError):
            raise ParameterError(
                f"{name}={value!r} is invalid: expected a number, a sequence of numbers or a tensor"
            ) from None
    if tensor.ndim > 1:
        raise ParameterError(
            f"{name} has shape {tuple(tensor.shape)}: expected a scalar or a 1-D sequence of components"
        )
    tensor = tensor.reshape(-1)
    if tensor.numel() == 0:
        raise ParameterError(f"{name}={value!r} is empty: expected at least one component")
    if not bool(torch.isfinite(tensor.detach()).all()):
        raise ParameterError(f"{name}={value!r} contains NaN or Inf: expected finite numbers")
    return tensor


def sinusoid(
    *,
    freq_hz: float | Sequence[float] | torch.Tensor,
    sample_rate: float,
    duration_s: float | None = None,
    num_samples: int | None = None,
    amplitude: float | Sequence[float] | torch.Tensor = 1.0,
    phase: float | Sequence[float] | torch.Tensor = 0.0,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
    start_s: float = 0.0,
    sum_components: bool = True,
) -> torch.Tensor:
    """Sample ``f(t) = Σ_k A_k · sin(2π(ω_k·t − φ_k))`` at ``t_n = start_s + n / sample_rate``.

    The lecture's sinusoid, or with sequences the superposition of several (the example
    ``sin(2π·50t) + sin(2π·100t) + sin(2π·400t)`` is ``sinusoid(freq_hz=[50, 100, 400], ...)``).

    Parameters
    ----------
    freq_hz : float, sequence or 1-D tensor
        Frequency ω of each component in Hz (finite, >= 0). Frequencies above the Nyquist
        frequency ``sample_rate / 2`` are allowed on purpose: their samples alias
        (:func:`alias_frequency`); call :func:`check_band` first to forbid them.
    sample_rate : float
        Sampling rate ``F_s`` in Hz (> 0).
    duration_s, num_samples :
        Length in seconds or samples; give exactly one.
    amplitude : float, sequence or 1-D tensor
        Amplitude ``A`` of each component (any finite value, in signal units; full scale is 1).
    phase : float, sequence or 1-D tensor
        Phase ``φ`` of each component in **cycles** (the radian phase is 2πφ).
    dtype, device :
        Of the result (float32 or float64). Times are formed in float64 and cast.
    sum_components : bool
        True (default): the superposition, shape ``(time,)``. False: each component on its own,
        shape ``(components, time)``.

    ``freq_hz``, ``amplitude`` and ``phase`` broadcast against each other (a scalar applies to
    every component). The result is differentiable with respect to tensor arguments
    (amplitude, phase, frequency).
    """
    dtype = check_dtype("dtype", dtype, (torch.float32, torch.float64))
    device = check_device(device)
    sr = check_sample_rate(sample_rate)
    compute = torch.float64
    f = _components("freq_hz", freq_hz, compute, device)
    if bool((f.detach() < 0).any()):
        raise ParameterError(f"freq_hz={freq_hz!r} is invalid: expected frequencies >= 0 Hz")
    a = _components("amplitude", amplitude, compute, f.device)
    p = _components("phase", phase, compute, f.device)
    try:
        f, a, p = torch.broadcast_tensors(f, a, p)
    except RuntimeError:
        raise ParameterError(
            f"freq_hz, amplitude and phase have {f.numel()}, {a.numel()} and {p.numel()} components: "
            "expected equal counts (or a single value that applies to all)"
        ) from None
    t = sample_times(sample_rate=sr, duration_s=duration_s, num_samples=num_samples, start_s=start_s,
                     dtype=compute, device=f.device)
    # Reduce the phase argument ω·t − φ modulo one cycle before multiplying by 2π, which keeps
    # float64 accuracy for long signals and high frequencies.
    cycles = f[:, None] * t[None, :] - p[:, None]
    cycles = cycles - torch.floor(cycles.detach())
    waves = a[:, None] * torch.sin(2.0 * math.pi * cycles)
    out = waves.sum(dim=0) if sum_components else waves
    return out.to(dtype)


def chirp(
    *,
    f0_hz: float,
    f1_hz: float,
    sample_rate: float,
    duration_s: float | None = None,
    num_samples: int | None = None,
    method: str = "linear",
    amplitude: float = 1.0,
    phase: float = 0.0,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """A sweep from ``f0_hz`` to ``f1_hz`` over the signal: ``A · sin(2π(Φ(t) − φ))``.

    ``Φ(t) = ∫₀ᵗ ω(τ) dτ`` (cycles) for the instantaneous frequency
    ``ω(t) = f0 + (f1 − f0)·t/T`` (``method="linear"``) or ``ω(t) = f0·(f1/f0)^(t/T)``
    (``method="exponential"``, needs f0, f1 > 0), where ``T`` is the duration of the signal
    (``num_samples / sample_rate``). A sound whose frequency changes over time: what a
    whole-signal DFT cannot place in time and a spectrogram can.
    """
    check_choice("method", method, ("linear", "exponential"))
    sr = check_sample_rate(sample_rate)
    n = _num_samples(sr, duration_s, num_samples)
    exponential = method == "exponential"  # a geometric sweep needs both ends > 0
    f0 = check_positive_float("f0_hz", f0_hz, allow_zero=not exponential, what="frequency in Hz")
    f1 = check_positive_float("f1_hz", f1_hz, allow_zero=not exponential, what="frequency in Hz")
    phase = check_real("phase", phase, what="phase in cycles")
    amplitude = check_real("amplitude", amplitude, what="amplitude")
    dtype = check_dtype("dtype", dtype)
    device = check_device(device)
    t = torch.arange(n, dtype=torch.float64, device=device) / sr
    total = n / sr
    if method == "linear" or f0 == f1:
        cycles = f0 * t + 0.5 * (f1 - f0) / total * t**2
    else:
        ratio = math.log(f1 / f0)
        cycles = f0 * total / ratio * (torch.exp(ratio * t / total) - 1.0)
    cycles = cycles - float(phase)
    cycles = cycles - torch.floor(cycles)
    return (float(amplitude) * torch.sin(2.0 * math.pi * cycles)).to(dtype)


def nyquist_frequency(sample_rate: float) -> float:
    """The Nyquist frequency ``Ω = F_s / 2`` in Hz: the highest frequency the samples can hold."""
    return check_sample_rate(sample_rate) / 2.0


def alias_frequency(freq_hz: float | torch.Tensor, sample_rate: float) -> float | torch.Tensor:
    """The frequency, in ``[0, F_s/2]`` Hz, at which a tone of ``freq_hz`` appears after sampling.

    Sampling cannot tell ``f`` from ``f + m·F_s`` (any integer ``m``) nor from ``−f``, so the
    tone folds to

        f_alias = | f − F_s · round(f / F_s) |

    A tone below Nyquist keeps its frequency; 7 kHz sampled at 8 kHz appears at 1 kHz.
    Accepts a float (returns a float) or a tensor of frequencies (returns a tensor).
    """
    sr = check_sample_rate(sample_rate)
    if isinstance(freq_hz, torch.Tensor):
        check_tensor("freq_hz", freq_hz)
        if freq_hz.is_complex():
            raise ParameterError(f"freq_hz has dtype {freq_hz.dtype}: expected real frequencies in Hz")
        if not bool(torch.isfinite(freq_hz).all()):
            raise ParameterError("freq_hz contains NaN or Inf: expected finite frequencies in Hz")
        f = freq_hz.to(torch.promote_types(freq_hz.dtype, torch.float32))
        return torch.abs(f - sr * torch.round(f / sr))
    f = check_real("freq_hz", freq_hz, what="frequency in Hz")
    return abs(f - sr * round(f / sr))


def check_band(
    f_max_hz: float | None,
    sample_rate: float,
    *,
    name: str = "f_max_hz",
    on_exceed: str = "error",
) -> float:
    """Check that a requested upper band edge lies within ``[0, F_s/2]`` (Nyquist–Shannon).

    Parameters
    ----------
    f_max_hz : float or None
        The highest frequency requested, in Hz. ``None`` means "up to Nyquist" and returns
        ``sample_rate / 2``.
    sample_rate : float
        Sampling rate in Hz.
    name : str
        The caller's argument name, used in the message.
    on_exceed : "error" | "warn"
        Above Nyquist, raise :class:`~polysense.errors.ParameterError` (default) or emit a
        ``UserWarning`` and return ``f_max_hz`` unchanged (content there is aliased or empty).

    Returns
    -------
    float: the band edge in Hz.
    """
    check_choice("on_exceed", on_exceed, ("error", "warn"))
    nyquist = nyquist_frequency(sample_rate)
    if f_max_hz is None:
        return nyquist
    f = check_positive_float(name, f_max_hz, allow_zero=True, what=f"frequency in Hz, at most {nyquist:g}")
    if f > nyquist:
        message = (
            f"{name}={f:g} Hz exceeds the Nyquist frequency {nyquist:g} Hz of sample_rate={2 * nyquist:g} Hz: "
            f"expected {name} <= {nyquist:g} (or a sample_rate above {2 * f:g} Hz)"
        )
        if on_exceed == "error":
            raise ParameterError(message)
        warnings.warn(message, UserWarning, stacklevel=2)
    return f
