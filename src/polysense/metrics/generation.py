"""Measures of generated sounds, as pure functions of features and class probabilities.

- Fréchet distance between two sets of feature vectors, each summarised by a Gaussian
  (mean μ, covariance Σ, unbiased, N − 1):
  ``FD = ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2·(Σ₁Σ₂)^{1/2})`` (Heusel et al. 2017, the FID/FAD formula), in the
  squared units of the features. ``Tr (Σ₁Σ₂)^{1/2}`` is computed as the sum of the square roots of
  the eigenvalues of the symmetric ``Σ₁^{1/2} Σ₂ Σ₁^{1/2}`` (same eigenvalues as Σ₁Σ₂), in float64.
- Inception score of class probabilities p(y|x) (Salimans et al. 2016):
  ``IS = exp(E_x KL(p(y|x) ‖ p(y)))``, p(y) the mean of p(y|x) over the clips; between 1 (every
  clip gets the same distribution) and the number of classes (confident, balanced predictions).
- Memorisation: for each clip, the distance to its nearest neighbour among the training clips'
  features; generated clips that copy training clips sit far below real held-out clips.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from polysense.errors import ParameterError

__all__ = ["NearestDistances", "frechet_distance", "gaussian_statistics", "inception_score", "nearest_distances"]


def _features(name: str, x: torch.Tensor, *, minimum: int = 2) -> torch.Tensor:
    x = torch.as_tensor(x)
    if x.ndim != 2 or x.shape[0] < minimum or x.shape[1] < 1:
        raise ParameterError(f"{name} must be (N, D) feature vectors with N >= {minimum}, got shape {tuple(x.shape)}")
    x = x.detach().to(torch.float64).cpu()
    if not bool(torch.isfinite(x).all()):
        raise ParameterError(f"{name} holds NaN or Inf values: expected finite features")
    return x


def gaussian_statistics(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(μ (D,), Σ (D, D)) of (N, D) features in float64; Σ with the unbiased N − 1 normalisation."""
    x = _features("features", features)
    mean = x.mean(0)
    centred = x - mean
    return mean, centred.T @ centred / (x.shape[0] - 1)


def _psd_sqrt(matrix: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * values.clamp_min(0).sqrt()) @ vectors.T


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fréchet distance between the Gaussians of feature sets ``a`` (N, D) and ``b`` (M, D)
    (module formula; squared feature units). 0 for identical sets; symmetric."""
    a, b = _features("a", a), _features("b", b)
    if a.shape[1] != b.shape[1]:
        raise ParameterError(f"a and b have {a.shape[1]} and {b.shape[1]} features per item: embed both the same way")
    mu1, s1 = gaussian_statistics(a)
    mu2, s2 = gaussian_statistics(b)
    root = _psd_sqrt(s1)
    cross = torch.linalg.eigvalsh(root @ s2 @ root).clamp_min(0).sqrt().sum()
    value = float(((mu1 - mu2) ** 2).sum() + torch.trace(s1) + torch.trace(s2) - 2 * cross)
    return max(value, 0.0)


def inception_score(probabilities: torch.Tensor) -> float:
    """``exp(E_x KL(p(y|x) ‖ p(y)))`` of (N, C) class probabilities (rows sum to 1; 0·ln 0 = 0)."""
    p = _features("probabilities", probabilities, minimum=1)
    if bool((p < 0).any()) or not torch.allclose(p.sum(1), torch.ones(p.shape[0], dtype=p.dtype), atol=1e-4):
        raise ParameterError("probabilities must be non-negative with rows summing to 1: pass softmax outputs")
    marginal = p.mean(0, keepdim=True)
    kl = torch.where(p > 0, p * (torch.log(p.clamp_min(1e-300)) - torch.log(marginal.clamp_min(1e-300))),
                     torch.zeros_like(p)).sum(1)
    return float(math.exp(float(kl.mean())))


@dataclass
class NearestDistances:
    """Euclidean distance of each query to its nearest reference, and their median."""

    distances: torch.Tensor
    median: float


def nearest_distances(queries: torch.Tensor, references: torch.Tensor) -> NearestDistances:
    """For each of (N, D) ``queries`` the Euclidean distance to the nearest of (M, D) ``references``
    (float64). Memorisation shows as generated clips' distances to the training clips far below
    those of real held-out clips."""
    q, r = _features("queries", queries, minimum=1), _features("references", references, minimum=1)
    if q.shape[1] != r.shape[1]:
        raise ParameterError(f"queries and references have {q.shape[1]} and {r.shape[1]} features per item")
    distances = torch.cdist(q, r).min(dim=1).values
    return NearestDistances(distances=distances, median=float(distances.median()))
