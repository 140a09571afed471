"""Quantization: discretising amplitudes, the quantization error, SQNR and μ-law companding.

The lecture's uniform (mid-tread) quantizer with step size ``Δ``:

    Q(a) = sgn(a) · Δ · ⌊ |a| / Δ + 1/2 ⌋

rounds every amplitude to the nearest multiple of ``Δ`` (halves away from zero). The error
``n = a − Q(a)`` satisfies ``|n| ≤ Δ/2``; for a full-scale sine over ``b`` bits the
signal-to-quantization-noise ratio is ``SQNR ≈ 6.02·b + 1.76`` dB.

Differentiability
-----------------
``Q`` is piecewise constant: its derivative is 0 almost everywhere (and undefined at the
steps), so autograd returns zero gradients through :func:`quantize` / :func:`quantize_bits`.
For quantization-aware training pass ``straight_through=True``: the forward value is still
exactly ``Q(a)``, the backward pass treats ``Q`` as the identity (``x + (Q(x) − x).detach()``).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from polysense._checks import (
    check_dtype,
    check_positive_float,
    check_positive_int,
    check_representable,
    check_signal,
    check_tensor,
)
from polysense.errors import ParameterError

__all__ = [
    "mu_law_compress",
    "mu_law_decode",
    "mu_law_encode",
    "mu_law_expand",
    "quantization_error",
    "quantization_step",
    "quantize",
    "quantize_bits",
    "sqnr_db",
]


def _check_bits(bits: Any) -> int:
    bits = check_positive_int("bits", bits, what="bits per sample")
    if bits > 32:
        raise ParameterError(f"bits={bits} is invalid: expected an integer in [1, 32] (bits per sample)")
    return bits


def quantization_step(bits: int, full_scale: float = 1.0) -> float:
    """The step size ``Δ = 2·full_scale / 2^bits`` of a ``bits``-bit quantizer.

    ``2^bits`` levels ``k·Δ`` for integer ``k`` in ``[−2^(bits−1), 2^(bits−1) − 1]`` cover
    ``[−full_scale, full_scale − Δ]``: the two's-complement PCM convention, in which an integer
    sample ``k`` maps to ``k / 2^(bits−1)`` for ``full_scale = 1`` (what WAV readers do).
    """
    bits = _check_bits(bits)
    fs = check_positive_float("full_scale", full_scale, what="largest representable amplitude")
    return 2.0 * fs / 2.0**bits


def quantize(x: torch.Tensor, step: float, *, straight_through: bool = False) -> torch.Tensor:
    """The lecture's quantizer ``Q(a) = sgn(a) · Δ · ⌊|a|/Δ + 1/2⌋`` applied elementwise.

    Parameters
    ----------
    x : Tensor (..., time)
        Real signal, float32 or float64, finite.
    step : float
        Quantization step size ``Δ`` (> 0), in the units of ``x``.
    straight_through : bool
        False (default): gradients are those of the piecewise-constant ``Q`` (zero).
        True: straight-through estimator, gradient of the identity.

    Returns
    -------
    Tensor like ``x``, every value an integer multiple of ``Δ``; no clipping (see
    :func:`quantize_bits` for a finite number of levels).
    """
    delta = check_positive_float("step", step, what="quantization step size Δ")
    dtype = x.dtype if isinstance(x, torch.Tensor) and x.dtype in (torch.float32, torch.float64) else None
    max_abs = None
    if dtype is not None:  # |x|/Δ and the rounded level Δ·k ≤ |x| + Δ/2 must stay finite in x's dtype
        top = torch.finfo(dtype).max
        max_abs = min(top * check_representable("step", delta, dtype) / 2, top - delta)
    x = check_signal("x", x, max_abs=max_abs, overflow=f"quantizing it with step={delta:g}")
    delta = check_representable("step", delta, x.dtype)
    q = torch.sign(x) * delta * torch.floor(torch.abs(x) / delta + 0.5)
    if straight_through:
        return x + (q - x).detach()
    return q


def quantize_bits(
    x: torch.Tensor, bits: int, full_scale: float = 1.0, *, straight_through: bool = False
) -> torch.Tensor:
    """Quantize to ``bits`` bits: ``clip(Q(a), −full_scale, full_scale − Δ)``, ``Δ = 2·full_scale/2^bits``.

    The 2^bits levels are those of two's-complement PCM (see :func:`quantization_step`). Values
    beyond the representable range are clipped to the nearest end level (saturation, as an A/D
    converter does), so there ``|a − Q(a)|`` can exceed ``Δ/2``. ``bits=16`` reproduces 16-bit
    PCM: ``quantize_bits(x, 16) * 32768`` are integers in [−32768, 32767].

    Full-scale sine: the largest sine that never overloads has amplitude ``full_scale − Δ/2``
    (its peaks stay inside the decision range ``[−full_scale − Δ/2, full_scale − Δ/2]``); its
    measured SQNR is ``6.02·b + 1.76`` dB within 0.2 dB for b ≥ 8. A sine of amplitude exactly
    ``full_scale`` clips its positive peaks to ``full_scale − Δ`` (≈ 0.8 dB lower at 8 bits).
    """
    x = check_signal("x", x)
    delta = check_representable("the step 2·full_scale/2^bits", quantization_step(bits, full_scale), x.dtype)
    fs = check_representable("full_scale", float(full_scale), x.dtype)
    q = torch.sign(x) * delta * torch.floor(torch.abs(x) / delta + 0.5)
    q = torch.clamp(q, min=-fs, max=fs - delta)
    if straight_through:
        return x + (q - x).detach()
    return q


def quantization_error(x: torch.Tensor, step: float) -> torch.Tensor:
    """The quantization error ``n = a − Q(a)`` for step ``Δ``; ``|n| ≤ Δ/2`` everywhere."""
    x = check_signal("x", x)
    return x - quantize(x, step)


def sqnr_db(x: torch.Tensor, x_quantized: torch.Tensor) -> torch.Tensor:
    """Signal-to-quantization-noise ratio ``10·log10(Σ a² / Σ (a − Q(a))²)`` in dB along time.

    Returns a tensor of shape ``x.shape[:-1]`` (a 0-d tensor for a 1-D signal); ``+inf`` where
    the error is exactly zero. For a full-scale sine and ``b`` bits it is ≈ ``6.02·b + 1.76`` dB.
    """
    x = check_signal("x", x)
    x_quantized = check_signal("x_quantized", x_quantized)
    if x.shape != x_quantized.shape:
        raise ParameterError(
            f"x_quantized has shape {tuple(x_quantized.shape)}: expected the shape of x, {tuple(x.shape)}"
        )
    signal_power = torch.sum(x**2, dim=-1)
    noise_power = torch.sum((x - x_quantized) ** 2, dim=-1)
    if bool((signal_power == 0).any()):
        raise ParameterError("x is all zeros along time: the SQNR of a silent signal is undefined")
    return 10.0 * torch.log10(signal_power / noise_power)


def _check_channels(quantization_channels: Any) -> int:
    return check_positive_int("quantization_channels", quantization_channels, minimum=2,
                              what="number of μ-law codes, e.g. 256 for 8 bits")


def mu_law_compress(x: torch.Tensor, quantization_channels: int = 256) -> torch.Tensor:
    """The continuous μ-law characteristic ``F(x) = sgn(x)·ln(1 + μ|x|) / ln(1 + μ)``, ``μ = Q − 1``.

    Maps ``[−1, 1]`` onto ``[−1, 1]`` (inputs are clipped to ``[−1, 1]`` first), expanding
    small amplitudes. Differentiable (derivative ``μ / ((1 + μ|x|)·ln(1 + μ))``).
    """
    x = check_signal("x", x)
    mu = float(_check_channels(quantization_channels) - 1)
    x = torch.clamp(x, -1.0, 1.0)
    return torch.sign(x) * torch.log1p(mu * torch.abs(x)) / math.log1p(mu)


def mu_law_expand(y: torch.Tensor, quantization_channels: int = 256) -> torch.Tensor:
    """The inverse characteristic ``F⁻¹(y) = sgn(y)·((1 + μ)^|y| − 1) / μ`` on ``[−1, 1]``."""
    y = check_signal("y", y)
    mu = float(_check_channels(quantization_channels) - 1)
    y = torch.clamp(y, -1.0, 1.0)
    return torch.sign(y) * torch.expm1(torch.abs(y) * math.log1p(mu)) / mu


def mu_law_encode(x: torch.Tensor, quantization_channels: int = 256) -> torch.Tensor:
    """μ-law encode a signal in ``[−1, 1]`` to integer codes ``0 … Q−1`` (``Q = quantization_channels``).

    ``code = ⌊ (F(x) + 1)/2 · μ + 1/2 ⌋`` with ``μ = Q − 1`` and ``F`` the μ-law characteristic
    (:func:`mu_law_compress`): the convention of ``torchaudio.functional.mu_law_encoding`` and
    WaveNet — unsigned codes, ``0`` for −1, ``Q−1`` for +1, silence at ``μ/2`` rounded up
    (128 for Q = 256). Inputs outside ``[−1, 1]`` are clipped. Not differentiable (integer
    output).

    Returns
    -------
    LongTensor like ``x``.
    """
    y = mu_law_compress(x, quantization_channels)
    mu = float(quantization_channels - 1)
    return torch.floor((y + 1.0) / 2.0 * mu + 0.5).to(torch.int64)


def mu_law_decode(
    codes: torch.Tensor, quantization_channels: int = 256, *, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Decode μ-law codes ``0 … Q−1`` back to ``[−1, 1]``: ``x̂ = F⁻¹(2·code/μ − 1)``.

    Inverse of :func:`mu_law_encode` up to the quantization of the companded value: with
    ``y = F(x)`` rounded to a grid of step ``2/μ``, the round-trip error is bounded by
    ``|x − x̂| ≤ (ln(1+μ)/μ²)·(1 + μ|x|)·(1+μ)^(1/μ)`` (small near 0, ~3 % of |x| near full
    scale for Q = 256: at most 0.022).
    """
    channels = _check_channels(quantization_channels)
    check_tensor("codes", codes)
    if codes.is_complex() or codes.dtype == torch.bool:
        raise ParameterError(f"codes has dtype {codes.dtype}: expected integer codes (an integer or float tensor)")
    if codes.is_floating_point():
        if not bool(torch.all(torch.isfinite(codes) & (codes == torch.round(codes)))):
            raise ParameterError(f"codes has dtype {codes.dtype} with non-integer values: expected integer codes")
    if codes.numel() == 0:
        raise ParameterError("codes is empty: expected at least one μ-law code")
    dtype = check_dtype("dtype", dtype, (torch.float32, torch.float64))
    lo, hi = int(codes.min()), int(codes.max())
    if lo < 0 or hi > channels - 1:
        bad = lo if lo < 0 else hi
        raise ParameterError(
            f"codes contains {bad}: expected integers in [0, {channels - 1}] for quantization_channels={channels}"
        )
    mu = float(channels - 1)
    y = codes.to(torch.float64) / mu * 2.0 - 1.0
    x = torch.sign(y) * torch.expm1(torch.abs(y) * math.log1p(mu)) / mu
    return x.to(dtype)
