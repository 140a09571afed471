"""Feature normalisation over time: per-utterance and sliding-window CMVN.

Cepstral (feature) mean and variance normalisation removes what is constant over an utterance
in each band: the channel (microphone, room: a multiplicative filter is an additive offset in
dB) and much of the speaker's spectral tilt. For features ``X`` of shape (..., n_bands, frames)
and a frame mask ``m`` (..., frames) (True = real frame, False = padding, as the encoders'
frame masks), per band ``b``::

    μ_b = Σ_t m_t X[b, t] / Σ_t m_t,      σ²_b = Σ_t m_t (X[b, t] − μ_b)² / Σ_t m_t
    cmvn(X)[b, t] = (X[b, t] − μ_b) / sqrt(σ²_b + eps)          (padded frames set to 0)

So over the real frames every band has mean 0 and variance ≈ 1 (exactly σ²/(σ²+eps)).
:func:`sliding_cmvn` takes μ and σ² over a window of frames around each frame instead (for
long audio whose channel drifts), as Kaldi's ``apply-cmvn-sliding --center=true``.
"""

from __future__ import annotations

import torch

from polysense._checks import check_positive_float, check_positive_int
from polysense.errors import ParameterError

__all__ = ["cmvn", "sliding_cmvn"]


def _check(features, mask, name: str = "features") -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(features, torch.Tensor) or not features.is_floating_point() or features.ndim < 2:
        raise ParameterError(f"{name} must be a float tensor of shape (..., n_bands, frames)")
    if not torch.compiler.is_compiling() and not bool(torch.isfinite(features).all()):  # (no values in a traced graph)
        raise ParameterError(f"{name} holds NaN or Inf: compute features with a floor (amin) before normalising")
    shape = features.shape[:-2] + features.shape[-1:]
    if mask is None:
        return features, torch.ones(shape, dtype=torch.bool, device=features.device)
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.shape != shape:
        got = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ParameterError(
            f"mask must be a bool tensor of shape {tuple(shape)} (..., frames), True = real frame; got {got}"
        )
    return features, mask.to(features.device)


def cmvn(
    features: torch.Tensor,
    *,
    mask: torch.Tensor | None = None,
    variance: bool = True,
    eps: float = 1e-5,
) -> torch.Tensor:
    """Per-utterance mean (and variance) normalisation of each band over the real frames.

    Args:
        features: (..., n_bands, frames), e.g. log-mel in dB or MFCCs.
        mask: (..., frames) bool, True = real frame (default: all real).
        variance: divide by ``sqrt(σ²_b + eps)`` too (CMVN); False subtracts the mean only (CMN).
        eps: added to the variance (units of the features squared) so silent bands stay finite.

    Returns:
        Same shape and dtype; padded frames are 0. An item with no real frame is all 0.
    """
    features, mask = _check(features, mask)
    eps = check_positive_float("eps", eps, allow_zero=True)
    w = mask.to(features.dtype).unsqueeze(-2)  # (..., 1, frames)
    count = w.sum(-1, keepdim=True).clamp_min(1.0)
    mean = (features * w).sum(-1, keepdim=True) / count
    out = features - mean
    if variance:
        var = (out.square() * w).sum(-1, keepdim=True) / count
        out = out / torch.sqrt(var + eps)
    return out * w


def sliding_cmvn(
    features: torch.Tensor,
    *,
    window_frames: int = 301,
    mask: torch.Tensor | None = None,
    variance: bool = False,
    eps: float = 1e-5,
) -> torch.Tensor:
    """CMVN with statistics over a centred window of ``window_frames`` frames around each frame.

    For frame ``t`` the statistics use the real frames ``s`` with ``|s − t| <= window_frames // 2``
    (fewer at the edges; an utterance shorter than the window gets exactly :func:`cmvn`). Kaldi's
    default is mean-only (``variance=False``) over 600 frames (6 s at a 10 ms hop).

    Computed with cumulative sums (float64), O(frames) whatever the window.
    """
    features, mask = _check(features, mask)
    window_frames = check_positive_int("window_frames", window_frames, what="frames")
    eps = check_positive_float("eps", eps, allow_zero=True)
    half = window_frames // 2
    x = features.to(torch.float64)
    w = mask.to(torch.float64).unsqueeze(-2)
    frames = x.shape[-1]

    def window_sum(v: torch.Tensor) -> torch.Tensor:
        c = torch.nn.functional.pad(v.cumsum(-1), (1, 0))  # c[t] = Σ_{s<t} v[s]
        t = torch.arange(frames, device=v.device)
        hi = (t + half + 1).clamp_max(frames)
        lo = (t - half).clamp_min(0)
        return c[..., hi] - c[..., lo]

    count = window_sum(w.expand_as(x)).clamp_min(1.0)
    mean = window_sum(x * w) / count
    out = x - mean
    if variance:
        # Σ w (x − μ_t)² = Σ w x² − 2 μ_t Σ w x + μ_t² Σ w, with μ_t the window mean at t
        second = window_sum(x.square() * w) / count
        var = (second - mean.square()).clamp_min(0.0)
        out = out / torch.sqrt(var + eps)
    return (out * w).to(features.dtype)
