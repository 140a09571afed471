"""Scale-invariant SDR and its permutation-invariant loss for denoising and source separation.

SI-SDR (Le Roux et al. 2019, "SDR – half-baked or well done?"), with both signals made zero-mean::

    s_t = (<ŝ, s> / ||s||²) · s          (the part of the estimate along the reference)
    e   = ŝ − s_t
    SI-SDR(ŝ, s) = 10 · log10(||s_t||² / ||e||²)   dB

It ignores the estimate's gain, so a mask model is not rewarded for matching loudness.

Permutation-invariant training (PIT, Yu et al. 2017; Conv-TasNet, Luo & Mesgarani 2019): a
separator's S outputs are unordered, so the loss takes, per mixture, the best of the S!
assignments of outputs to references::

    L = −max_π (1/S) Σ_s SI-SDR(ŝ_π(s), s_s)

:func:`si_sdr` is the differentiable tensor path (``eps`` keeps it finite at a perfect or a
silent estimate); :func:`polysense.metrics.enhancement.si_sdr` is the checked float64 metric
built on it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import nn

from polysense.errors import ParameterError

__all__ = ["PITOutput", "PITSISDRLoss", "NegSISDRLoss", "neg_si_sdr_loss", "pit_si_sdr_loss", "si_sdr"]

#: keeps the ratio finite when the error or the projection is exactly zero (float32-safe).
DEFAULT_EPS = 1e-8


def si_sdr(estimate: torch.Tensor, reference: torch.Tensor, *, eps: float = DEFAULT_EPS,
           zero_mean: bool = True) -> torch.Tensor:
    """SI-SDR in dB of ``estimate`` against ``reference``, both (..., T) (broadcastable); returns (...).

    ``10·log10((||s_t||² + eps) / (||e||² + eps))`` with ``s_t = (<ŝ, s> / (||s||² + eps))·s``
    and ``e = ŝ − s_t``. Differentiable; batched over leading dims.
    """
    try:
        torch.broadcast_shapes(estimate.shape, reference.shape)
    except RuntimeError:
        raise ParameterError(f"estimate has shape {tuple(estimate.shape)} but reference has "
                             f"{tuple(reference.shape)}: give signals of the same (or broadcastable) shape (..., time)") from None
    if zero_mean:
        estimate = estimate - estimate.mean(dim=-1, keepdim=True)
        reference = reference - reference.mean(dim=-1, keepdim=True)
    scale = (estimate * reference).sum(-1, keepdim=True) / (reference.square().sum(-1, keepdim=True) + eps)
    target = scale * reference
    error = estimate - target
    return 10 * torch.log10((target.square().sum(-1) + eps) / (error.square().sum(-1) + eps))


def neg_si_sdr_loss(estimate: torch.Tensor, reference: torch.Tensor, *, eps: float = DEFAULT_EPS) -> torch.Tensor:
    """Mean negative SI-SDR (dB) over the batch: the denoising objective."""
    return -si_sdr(estimate, reference, eps=eps).mean()


@dataclass
class PITOutput:
    """PIT SI-SDR loss and what it chose.

    Attributes:
        loss: ``−mean_b max_π mean_s SI-SDR`` (dB, a scalar to minimise).
        si_sdr: (B, S) SI-SDR of each reference under the best assignment.
        permutation: (B, S) ``permutation[b, s]`` = the output assigned to reference ``s``.
        reordered: (B, S, T) the estimates reordered to match the references.
    """

    loss: torch.Tensor
    si_sdr: torch.Tensor
    permutation: torch.Tensor
    reordered: torch.Tensor


def pit_si_sdr_loss(estimates: torch.Tensor, references: torch.Tensor, *, eps: float = DEFAULT_EPS) -> PITOutput:
    """Permutation-invariant SI-SDR loss over S sources: estimates, references (B, S, T).

    Every assignment is scored from one (B, S, S) matrix of pairwise SI-SDRs, so the cost is S²
    SI-SDRs plus S! sums (S ≤ 4 is practical).
    """
    if estimates.ndim != 3 or estimates.shape != references.shape:
        raise ParameterError(f"estimates {tuple(estimates.shape)} and references {tuple(references.shape)} "
                             "must both be (batch, sources, time)")
    num_sources = estimates.shape[1]
    if not 1 <= num_sources <= 6:
        raise ParameterError(f"{num_sources} sources: PIT enumerates S! assignments, give 1 to 6 sources")
    # pair[b, i, j] = SI-SDR(estimate i, reference j)
    pair = si_sdr(estimates.unsqueeze(2), references.unsqueeze(1), eps=eps)
    perms = torch.tensor(list(itertools.permutations(range(num_sources))), device=estimates.device)  # (P, S)
    refs = torch.arange(num_sources, device=estimates.device)
    scores = pair[:, perms, refs]  # (B, P, S): output perms[p, s] scored against reference s
    best = scores.mean(-1).argmax(-1)  # (B,)
    chosen = scores[torch.arange(scores.shape[0], device=scores.device), best]  # (B, S)
    permutation = perms[best]
    reordered = torch.gather(estimates, 1, permutation.unsqueeze(-1).expand_as(estimates))
    return PITOutput(loss=-chosen.mean(), si_sdr=chosen, permutation=permutation, reordered=reordered)


class NegSISDRLoss(nn.Module):
    """Module form of :func:`neg_si_sdr_loss`."""

    def __init__(self, *, eps: float = DEFAULT_EPS) -> None:
        super().__init__()
        self.eps = float(eps)

    def forward(self, estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        return neg_si_sdr_loss(estimate, reference, eps=self.eps)


class PITSISDRLoss(nn.Module):
    """Module form of :func:`pit_si_sdr_loss`."""

    def __init__(self, *, eps: float = DEFAULT_EPS) -> None:
        super().__init__()
        self.eps = float(eps)

    def forward(self, estimates: torch.Tensor, references: torch.Tensor) -> PITOutput:
        return pit_si_sdr_loss(estimates, references, eps=self.eps)
