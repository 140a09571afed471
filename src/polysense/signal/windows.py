"""Window functions w(n) for short-time analysis.

Every window is first defined in its *symmetric* form of length M (the filter-design form,
``w(n) = w(M-1-n)``, n = 0 … M-1). The *periodic* ("DFT-even") form used for spectral
analysis is the symmetric window of length M+1 with its last sample dropped, so that
``w(n) = w(M-n)`` holds modulo M. This is exactly how ``scipy.signal.get_window`` builds
windows (``fftbins=True`` ⇔ ``periodic=True``), and both forms equal scipy to 1e-12 in float64.

Windows are dimensionless gains (unit: 1); ``length`` is in samples.

Supported names (parameters in brackets, defaults in parentheses):

=============  ======================================================================
name           symmetric form, n = 0 … M-1, x = 2πn/(M-1)
=============  ======================================================================
hann           0.5 − 0.5·cos x
hamming        0.54 − 0.46·cos x
blackman       0.42 − 0.5·cos x + 0.08·cos 2x
gaussian(std)  exp(−½·((n − (M−1)/2)/std)²), std in samples (required)
cosine         sin(π(n + ½)/M)
bartlett       1 − |2n/(M−1) − 1|   (triangle with zero end points)
tukey(alpha)   flat top with cosine tapers covering a fraction alpha (0.5) of the window
rectangular    1  (aliases: boxcar, ones, rect)
=============  ======================================================================

A window of length 1 is ``[1.0]`` for every name (scipy's convention).

The lecture writes Hann (ε = 0.5) and Hamming (ε = 0.54) as the one-parameter family
``w(n) = ε − (1 − ε)·cos(2πn/N)``, 0 ≤ n ≤ N−1: :func:`generalized_hamming` implements that
formula literally; with N = M it is the periodic window and with N = M−1 the symmetric one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from polysense._checks import check_device, check_dtype, check_positive_float, check_real, check_size
from polysense.errors import ParameterError

__all__ = ["WINDOWS", "generalized_hamming", "get_window", "window_names"]


def _cosine_sum(m: int, coefficients: tuple[float, ...]) -> torch.Tensor:
    # Σ_k (−1)^k a_k cos(k·x), x = 2πn/(M−1): written as scipy's general_cosine over
    # linspace(−π, π, M) so both agree to the last bit pattern that matters (1e-12).
    fac = torch.linspace(-math.pi, math.pi, m, dtype=torch.float64)
    w = torch.zeros(m, dtype=torch.float64)
    for k, a in enumerate(coefficients):
        w += a * torch.cos(k * fac)
    return w


def _hann(m: int) -> torch.Tensor:
    return _cosine_sum(m, (0.5, 0.5))


def _hamming(m: int) -> torch.Tensor:
    return _cosine_sum(m, (0.54, 0.46))


def _blackman(m: int) -> torch.Tensor:
    return _cosine_sum(m, (0.42, 0.50, 0.08))


def _gaussian(m: int, std: float) -> torch.Tensor:
    n = torch.arange(m, dtype=torch.float64) - (m - 1.0) / 2.0
    return torch.exp(-(n**2) / (2.0 * std * std))


def _cosine(m: int) -> torch.Tensor:
    return torch.sin(math.pi / m * (torch.arange(m, dtype=torch.float64) + 0.5))


def _bartlett(m: int) -> torch.Tensor:
    n = torch.arange(m, dtype=torch.float64)
    half = 2.0 * n / (m - 1)
    return torch.where(n <= (m - 1) / 2.0, half, 2.0 - half)


def _tukey(m: int, alpha: float) -> torch.Tensor:
    if alpha <= 0:
        return torch.ones(m, dtype=torch.float64)
    if alpha >= 1.0:
        return _hann(m)
    n = torch.arange(m, dtype=torch.float64)
    width = math.floor(alpha * (m - 1) / 2.0)
    n1, n2, n3 = n[: width + 1], n[width + 1 : m - width - 1], n[m - width - 1 :]
    w1 = 0.5 * (1 + torch.cos(math.pi * (-1 + 2.0 * n1 / alpha / (m - 1))))
    w2 = torch.ones(n2.shape, dtype=torch.float64)
    w3 = 0.5 * (1 + torch.cos(math.pi * (-2.0 / alpha + 1 + 2.0 * n3 / alpha / (m - 1))))
    return torch.cat([w1, w2, w3])


def _rectangular(m: int) -> torch.Tensor:
    return torch.ones(m, dtype=torch.float64)


# name -> (symmetric builder, {param: (default or None if required, description)})
WINDOWS: dict[str, tuple[Callable[..., torch.Tensor], dict[str, tuple[float | None, str]]]] = {
    "hann": (_hann, {}),
    "hamming": (_hamming, {}),
    "gaussian": (_gaussian, {"std": (None, "standard deviation in samples, > 0")}),
    "blackman": (_blackman, {}),
    "cosine": (_cosine, {}),
    "bartlett": (_bartlett, {}),
    "tukey": (_tukey, {"alpha": (0.5, "taper fraction in [0, 1]")}),
    "rectangular": (_rectangular, {}),
}
_ALIASES = {"hanning": "hann", "boxcar": "rectangular", "ones": "rectangular", "rect": "rectangular"}


def window_names() -> list[str]:
    """The canonical window names :func:`get_window` accepts (aliases not listed)."""
    return list(WINDOWS)


def _canonical(name: Any) -> str:
    if not isinstance(name, str) or name.lower() not in WINDOWS.keys() | _ALIASES.keys():
        valid = ", ".join(repr(n) for n in WINDOWS)
        raise ParameterError(
            f"window={name!r} is not supported: choose one of {valid} "
            f"(aliases: {', '.join(sorted(_ALIASES))}), or pass a 1-D tensor of window values"
        )
    return _ALIASES.get(name.lower(), name.lower())


def _resolve(name: Any, params: dict[str, Any]) -> tuple[str, dict[str, float]]:
    if isinstance(name, tuple):  # scipy style: ("gaussian", 7.0) / ("tukey", 0.25)
        if not name:
            raise ParameterError("window=() is invalid: expected a name such as 'hann' or ('gaussian', std)")
        head, *args = name
        spec = WINDOWS[_canonical(head)][1]
        if len(args) > len(spec):
            raise ParameterError(
                f"window={name!r} has {len(args)} parameter(s): {head!r} takes {len(spec)} ({', '.join(spec) or 'none'})"
            )
        params = {**dict(zip(spec, args)), **params}
        name = head
    canonical = _canonical(name)
    spec = WINDOWS[canonical][1]
    unknown = set(params) - set(spec)
    if unknown:
        raise ParameterError(
            f"window {canonical!r} got unexpected parameter(s) {sorted(unknown)}: it takes {list(spec) or 'none'}"
        )
    values: dict[str, float] = {}
    for key, (default, what) in spec.items():
        if key in params:
            value = params[key]
        elif default is None:
            raise ParameterError(f"window {canonical!r} needs {key}= ({what}), e.g. get_window('{canonical}', 512, {key}=...)")
        else:
            value = default
        if key == "std":
            values[key] = check_positive_float(f"{key}", value, what=what)
        else:
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = math.nan
            if not 0.0 <= number <= 1.0:
                raise ParameterError(f"{key}={value!r} is invalid: expected a number in [0, 1] ({what})")
            values[key] = number
    return canonical, values


def get_window(
    name: str | tuple,
    length: int,
    *,
    periodic: bool = True,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
    **params: float,
) -> torch.Tensor:
    """Window ``w(n)``, n = 0 … length−1, as a 1-D tensor (dimensionless).

    Symmetric form (``periodic=False``): the formula in the module table with M = ``length``.
    Periodic form (``periodic=True``, the default for spectral analysis): the symmetric
    window of length M+1 with its last sample dropped; e.g. Hann becomes
    ``0.5 − 0.5·cos(2πn/M)``. Both equal ``scipy.signal.get_window(name, M, fftbins=periodic)``
    to 1e-12 in float64.

    Args:
        name: one of :func:`window_names` (or an alias), or a scipy-style tuple
            ``("gaussian", std)`` / ``("tukey", alpha)``.
        length: number of samples M ≥ 1.
        periodic: DFT-even (True) or symmetric (False) form.
        dtype, device: of the returned tensor (computed in float64 on the CPU, then cast).
        **params: window parameters: ``std`` (gaussian, samples), ``alpha`` (tukey, 0 … 1).

    Raises:
        ParameterError: unknown name (the message lists the valid ones), missing or invalid
            parameter, length < 1.

    Example:
        >>> get_window("hann", 4)
        tensor([0.0000, 0.5000, 1.0000, 0.5000], dtype=torch.float64)
    """
    length = check_size("length", length, limit="max_fft", bytes_each=8, what="window length in samples")
    dtype = check_dtype("dtype", dtype)
    device = check_device(device)
    canonical, values = _resolve(name, params)
    builder = WINDOWS[canonical][0]
    if length == 1:
        w = torch.ones(1, dtype=torch.float64)
    elif periodic:
        w = builder(length + 1, **values)[:-1]
    else:
        w = builder(length, **values)
    return w.to(device=device, dtype=dtype)


def generalized_hamming(
    length: int,
    epsilon: float,
    *,
    periodic: bool = True,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The lecture's window ``w(n) = ε − (1 − ε)·cos(2πn/N)``, 0 ≤ n ≤ M−1 (dimensionless).

    ε = 0.5 gives Hann and ε = 0.54 gives Hamming. N = M for the periodic form and
    N = M − 1 for the symmetric one (length 1 gives ``[1.0]``), so the result equals
    ``get_window("hann"|"hamming", M, periodic=...)`` (to 1e-15).
    """
    length = check_size("length", length, limit="max_fft", bytes_each=8, what="window length in samples")
    dtype = check_dtype("dtype", dtype)
    device = check_device(device)
    eps = check_real("epsilon", epsilon, what="number in [0, 1] (0.5 Hann, 0.54 Hamming)")
    if not 0.0 <= eps <= 1.0:
        raise ParameterError(f"epsilon={epsilon!r} is invalid: expected a number in [0, 1] (0.5 Hann, 0.54 Hamming)")
    if length == 1:
        return torch.ones(1, dtype=dtype, device=device)
    n_period = length if periodic else length - 1
    n = torch.arange(length, dtype=torch.float64)
    w = eps - (1.0 - eps) * torch.cos(2.0 * math.pi * n / n_period)
    return w.to(device=device, dtype=dtype)
