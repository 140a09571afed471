"""The discrete Fourier transform as the lecture writes it: a matrix-vector product.

    X[k] = Σ_{n=0}^{N−1} x[n] · e^{−2πi·nk/N} = Σ_n x[n] · W_N^{nk},   W_N = e^{−2πi/N}

Row ``k`` of the DFT matrix ``W = [W_N^{nk}]`` is a complex sinusoid of ``k`` cycles per
``N`` samples, i.e. of frequency ``k·F_s/N`` Hz; ``|X[k]|`` is large when the signal
oscillates at that frequency. For a real signal ``X[N−k] = conj(X[k])`` (the negative
frequencies), so the ``⌊N/2⌋ + 1`` bins ``k = 0 … ⌊N/2⌋`` carry all the information
(:func:`one_sided`, :func:`fft_frequencies`).

:func:`dft` is O(N²) and meant for teaching and for checking; it equals ``torch.fft.fft``
(to 1e-10 in float64 for N ≤ 4096). The rest of the package uses the FFT.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from polysense._checks import check_device, check_dtype, check_sample_rate, check_signal, check_size, check_tensor
from polysense.errors import ParameterError
from polysense.signal.windows import get_window

__all__ = ["amplitude_spectrum", "dft", "dft_matrix", "fft_frequencies", "one_sided"]

_COMPLEX_OF = {torch.float32: torch.complex64, torch.float64: torch.complex128}


def dft_matrix(
    n: int, dtype: torch.dtype = torch.complex128, device: torch.device | str | None = None
) -> torch.Tensor:
    """The ``n × n`` DFT matrix with entries ``W[k, m] = W_N^{k·m} = e^{−2πi·k·m/N}``.

    The exponent ``k·m`` is reduced modulo ``N`` in integer arithmetic before the angle
    ``−2π·(k·m mod N)/N`` is formed in float64, so every entry is accurate to machine precision
    whatever ``N``. The matrix is symmetric (``W = Wᵀ``) and ``W·conj(W) = N·I``.

    Parameters
    ----------
    n : int
        Transform length ``N`` (>= 1).
    dtype : torch.complex64 or torch.complex128
    device : where to build it.
    """
    n = check_size("n", n, limit="max_fft", what="DFT length N")
    check_size("n x n", n * n, limit="max_samples", bytes_each=16, what="entries of the DFT matrix")
    dtype = check_dtype("dtype", dtype, (torch.complex64, torch.complex128))
    device = check_device(device)
    idx = torch.arange(n, dtype=torch.int64, device=device)
    exponent = torch.remainder(idx[:, None] * idx[None, :], n)
    angle = exponent.to(torch.float64) * (-2.0 * math.pi / n)
    return torch.polar(torch.ones_like(angle), angle).to(dtype)


def dft(x: torch.Tensor) -> torch.Tensor:
    """The DFT ``X = W·x`` of the last axis, computed as the lecture's matrix-vector product.

    Parameters
    ----------
    x : Tensor (..., N)
        Real (float32/float64) or complex signal; leading dimensions are a batch.

    Returns
    -------
    Complex tensor (..., N): complex64 for float32/complex64 input, complex128 for
    float64/complex128. Differentiable (it is a matrix product).
    """
    x = check_signal("x", x, allow_complex=True)
    if x.is_complex():
        cdtype = x.dtype
    else:
        cdtype = _COMPLEX_OF.get(x.dtype)
        if cdtype is None:
            raise ParameterError(f"x has dtype {x.dtype}: expected float32, float64, complex64 or complex128")
        x = x.to(cdtype)
    w = dft_matrix(x.shape[-1], dtype=cdtype, device=x.device)
    # X[..., k] = Σ_n x[..., n] · W[n, k]; W is symmetric, so x @ W is W·x for each row.
    return x @ w


def one_sided(X: torch.Tensor) -> torch.Tensor:
    """The non-negative-frequency half ``X[..., 0 : ⌊N/2⌋ + 1]`` of a full spectrum of length N.

    For real signals the remaining bins are complex conjugates of these (``X[N−k] = conj(X[k])``).
    """
    if not isinstance(X, torch.Tensor):
        raise ParameterError(f"X must be a torch.Tensor spectrum of shape (..., N), got {type(X).__name__}")
    check_tensor("X", X)
    if X.ndim == 0 or X.shape[-1] < 1:
        length = 0 if X.ndim == 0 else X.shape[-1]
        raise ParameterError(f"X has {length} bins along its last axis: expected a spectrum with N >= 1 bins")
    return X[..., : X.shape[-1] // 2 + 1]


def fft_frequencies(
    *,
    n_fft: int,
    sample_rate: float,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Centre frequencies ``f_k = k · F_s / N`` in Hz of the one-sided bins ``k = 0 … ⌊N/2⌋``.

    Bins are ``Δf = F_s / N`` apart and the last is the Nyquist frequency ``F_s/2`` when ``N``
    is even. Same values as ``librosa.fft_frequencies`` / ``numpy.fft.rfftfreq(N, 1/F_s)``.
    """
    n_fft = check_size("n_fft", n_fft, minimum=2, limit="max_fft", bytes_each=4, what="FFT length")
    sr = check_sample_rate(sample_rate)
    dtype = check_dtype("dtype", dtype)
    device = check_device(device)
    k = torch.arange(n_fft // 2 + 1, dtype=torch.float64, device=device)
    return (k * (sr / n_fft)).to(dtype)


def _resolve_window(window: Any, n: int, x: torch.Tensor) -> torch.Tensor | None:
    if window is None:
        return None
    if isinstance(window, str):
        window = get_window(window, n, periodic=True, dtype=x.dtype, device=x.device)
    if not isinstance(window, torch.Tensor):
        raise ParameterError(
            f"window={window!r} is invalid: expected None (rectangular), a window name or a tensor of length {n}"
        )
    if window.shape != (n,):
        raise ParameterError(
            f"window has shape {tuple(window.shape)}: expected ({n},), the length of the signal's last axis"
        )
    if not bool(torch.isfinite(window).all()):
        raise ParameterError("window contains NaN or Inf: expected finite weights")
    window = window.to(dtype=x.dtype, device=x.device)
    if float(window.sum()) <= 0:
        raise ParameterError("window sums to <= 0: expected weights with a positive sum (coherent gain)")
    return window


def amplitude_spectrum(x: torch.Tensor, window: Any = None) -> torch.Tensor:
    """One-sided amplitude spectrum, scaled so a sinusoid of amplitude ``A`` on a bin reads ``A``.

    With window ``w`` (rectangular when None) and ``X = DFT(w·x)`` over the ``N`` samples:

        a[k] = 2·|X[k]| / Σ_n w[n]   for 0 < k < N/2
        a[k] =   |X[k]| / Σ_n w[n]   for k = 0 (DC) and k = N/2 (Nyquist, even N)

    The interior bins are doubled because a real sinusoid splits its amplitude between ``+f``
    and ``−f``; DC and Nyquist have no mirror image (a constant ``c`` reads ``c``; ``A·cos(πn)``
    reads ``A``). So ``sin(2π·50t) + sin(2π·100t) + sin(2π·400t)`` sampled for a whole number of
    periods shows three peaks of height exactly 1. With a tapering window the peak is exact for
    the window's coherent gain; leakage from the mirror image adds at most the window's
    side-lobe level. Frequencies of the bins: :func:`fft_frequencies`.

    Parameters
    ----------
    x : Tensor (..., N)
        Real signal (float32/float64), finite, N >= 1.
    window : None, str or Tensor (N,)
        Analysis window (a name uses :func:`polysense.signal.windows.get_window`, periodic).

    Returns
    -------
    Tensor (..., ⌊N/2⌋ + 1), the dtype of ``x``. Differentiable; the gradient at a zero bin is
    0, not NaN (``torch.abs`` of a complex zero has subgradient 0).
    """
    x = check_signal("x", x)
    n = x.shape[-1]
    w = _resolve_window(window, n, x)
    gain = float(n) if w is None else w.sum()
    spectrum = torch.fft.rfft(x if w is None else x * w, dim=-1)
    scale = torch.full((spectrum.shape[-1],), 2.0, dtype=x.dtype, device=x.device)
    scale[0] = 1.0
    if n % 2 == 0:
        scale[-1] = 1.0
    return torch.abs(spectrum) * scale / gain
