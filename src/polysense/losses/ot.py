"""Optimal transport between two token sets: the IPOT plan and word-patch alignment (WPA).

ViLT and UNITER align the words of a caption with the patches (regions) of an image by the
Wasserstein distance between the two token sets, each a uniform distribution over its real
(non-padding) tokens, with the cosine distance as ground cost:

.. math::

    C_{ij} = 1 - \\frac{x_i^\\top y_j}{\\|x_i\\| \\|y_j\\|}, \\qquad
    D_{OT}(x, y) = \\min_{T \\in \\Pi(\\mu, \\nu)} \\langle C, T \\rangle, \\qquad
    \\mu_i = 1/n, \\ \\nu_j = 1/m .

The plan :math:`T` is found by the inexact proximal point method (IPOT, Xie et al. 2018,
"A Fast Proximal Point Method for Computing Exact Wasserstein Distance"): each outer step
solves a Sinkhorn problem with kernel :math:`G \\odot T^{(t)}`, :math:`G = e^{-C/\\beta}`, by a
few (``inner_iterations``) scaling steps. Unlike plain Sinkhorn it converges to the exact OT
plan as the iterations grow, whatever ``beta``. As in both papers the plan is computed without
gradient and the distance :math:`\\langle C, T\\rangle` is differentiated through the cost only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from polysense._checks import check_positive_float, check_positive_int
from polysense.errors import ParameterError


@dataclass
class OTOutput:
    """Result of :func:`ot_distance`.

    Attributes:
        distance: (batch,) the transport cost :math:`\\langle C, T \\rangle` (differentiable
            through the features).
        plan: (batch, n, m) the IPOT transport plan (no gradient); zero on padding.
        cost: (batch, n, m) the cosine cost matrix; zero on padding.
    """

    distance: Tensor
    plan: Tensor
    cost: Tensor


@dataclass
class WPAOutput:
    """Result of :func:`word_patch_alignment_loss`.

    Attributes:
        loss: scalar, ``(sum of distances of matched pairs - sum over unmatched pairs) / batch``.
        distance: (batch,) the OT distance of every pair.
    """

    loss: Tensor
    distance: Tensor


def _token_mask(name: str, mask: Tensor | None, tokens_shape: tuple[int, ...], device: torch.device) -> Tensor:
    if mask is None:
        return torch.ones(tokens_shape, dtype=torch.bool, device=device)
    if mask.shape != tokens_shape:
        raise ParameterError(f"{name} has shape {tuple(mask.shape)}: expected {tokens_shape} (batch, tokens)")
    mask = mask.bool()
    empty = ~mask.any(dim=-1)
    if bool(empty.any()):
        rows = empty.nonzero().flatten().tolist()
        raise ParameterError(
            f"{name} marks no real token in batch row(s) {rows}: every item needs at least one "
            "token to transport mass from"
        )
    return mask


def _check_pair(x: Tensor, y: Tensor) -> None:
    if x.ndim != 3 or y.ndim != 3 or x.shape[0] != y.shape[0] or x.shape[-1] != y.shape[-1]:
        raise ParameterError(
            f"x and y have shapes {tuple(x.shape)} and {tuple(y.shape)}: expected (batch, n, dim) "
            "and (batch, m, dim) with the same batch and dim"
        )


def cosine_cost(x: Tensor, y: Tensor, *, x_mask: Tensor | None = None, y_mask: Tensor | None = None) -> Tensor:
    """The cosine-distance cost matrix ``1 - cos(x_i, y_j)``, shape (batch, n, m), 0 on padding.

    Args:
        x: (batch, n, dim) tokens (e.g. words).
        y: (batch, m, dim) tokens (e.g. patches).
        x_mask, y_mask: (batch, n) / (batch, m) bool, True where a token is real.
    """
    _check_pair(x, y)
    cost = 1.0 - F.normalize(x, dim=-1) @ F.normalize(y, dim=-1).transpose(1, 2)
    joint = _token_mask("x_mask", x_mask, x.shape[:2], x.device)[:, :, None] & _token_mask(
        "y_mask", y_mask, y.shape[:2], y.device
    )[:, None, :]
    return cost.masked_fill(~joint, 0.0)


@torch.no_grad()
def ipot(
    cost: Tensor,
    *,
    x_mask: Tensor | None = None,
    y_mask: Tensor | None = None,
    beta: float = 0.5,
    iterations: int = 50,
    inner_iterations: int = 1,
) -> Tensor:
    """The IPOT transport plan between uniform distributions over the real tokens.

    Args:
        cost: (batch, n, m) ground cost (entries on padding are ignored).
        x_mask: (batch, n) bool, True for real rows; the row marginal is ``1/n_real`` there, 0 elsewhere.
        y_mask: (batch, m) bool, True for real columns; column marginal ``1/m_real``.
        beta: proximal step size (> 0); smaller is closer to one exact OT step but stiffer.
        iterations: outer proximal steps (ViLT uses 50).
        inner_iterations: Sinkhorn scaling steps per outer step (IPOT's ``k``; 1 suffices).

    Returns:
        (batch, n, m) plan ``T``, zero on padded rows/columns. After the last step the column
        sums equal the column marginal exactly and the row sums approximately.
    """
    if cost.ndim != 3:
        raise ParameterError(f"cost has shape {tuple(cost.shape)}: expected (batch, n, m)")
    beta = check_positive_float("beta", beta, what="IPOT proximal step")
    iterations = check_positive_int("iterations", iterations)
    inner_iterations = check_positive_int("inner_iterations", inner_iterations)
    batch, n, m = cost.shape
    x_mask = _token_mask("x_mask", x_mask, (batch, n), cost.device)
    y_mask = _token_mask("y_mask", y_mask, (batch, m), cost.device)
    dtype = cost.dtype
    mu = x_mask.to(dtype) / x_mask.sum(-1, keepdim=True).to(dtype)  # (batch, n)
    nu = y_mask.to(dtype) / y_mask.sum(-1, keepdim=True).to(dtype)  # (batch, m)
    joint = x_mask[:, :, None] & y_mask[:, None, :]
    kernel = torch.exp(-cost / beta).masked_fill(~joint, 0.0)
    plan = joint.to(dtype)
    b = nu.clone()
    for _ in range(iterations):
        q = kernel * plan
        for _ in range(inner_iterations):
            # padded rows/columns have zero mass and zero kernel: divide by 1 there, giving 0
            a = mu / torch.where(x_mask, (q @ b[:, :, None]).squeeze(-1), torch.ones_like(mu))
            b = nu / torch.where(y_mask, (a[:, None, :] @ q).squeeze(1), torch.ones_like(nu))
        plan = a[:, :, None] * q * b[:, None, :]
    return plan


def ot_distance(
    x: Tensor,
    y: Tensor,
    *,
    x_mask: Tensor | None = None,
    y_mask: Tensor | None = None,
    beta: float = 0.5,
    iterations: int = 50,
    inner_iterations: int = 1,
) -> OTOutput:
    """Wasserstein distance between two token sets with cosine cost, plan by :func:`ipot`.

    Args:
        x: (batch, n, dim), y: (batch, m, dim) token features (any dtype; padded tokens allowed).
        x_mask, y_mask: bool masks, True where a token is real (None: all real).
        beta, iterations, inner_iterations: see :func:`ipot`.

    Returns:
        :class:`OTOutput` with the per-pair distance (differentiable through ``x`` and ``y``).

    Example:
        >>> x = torch.randn(2, 5, 8)
        >>> ot_distance(x, x.flip(1)).distance  # the same set, reordered: ~0
    """
    cost = cosine_cost(x, y, x_mask=x_mask, y_mask=y_mask)
    plan = ipot(
        cost.detach(), x_mask=x_mask, y_mask=y_mask, beta=beta,
        iterations=iterations, inner_iterations=inner_iterations,
    )
    distance = (cost * plan).sum(dim=(-2, -1))
    return OTOutput(distance=distance, plan=plan, cost=cost)


def word_patch_alignment_loss(
    text_tokens: Tensor,
    patch_tokens: Tensor,
    *,
    matched: Tensor,
    text_mask: Tensor | None = None,
    patch_mask: Tensor | None = None,
    beta: float = 0.5,
    iterations: int = 50,
    inner_iterations: int = 1,
) -> WPAOutput:
    """ViLT's word-patch alignment loss: pull matched pairs' token sets together, push others apart.

    ``loss = (sum_{matched} D_OT - sum_{unmatched} D_OT) / batch`` (ViLT ``compute_itm_wpa``,
    UNITER's WRA), with :math:`D_{OT}` from :func:`ot_distance`.

    Args:
        text_tokens: (batch, n, dim) word tokens of the fused sequence (exclude [CLS]/[SEP]
            through ``text_mask``).
        patch_tokens: (batch, m, dim) patch tokens of the fused sequence.
        matched: (batch,) bool (or 0/1), True where the text describes the paired image.
        text_mask, patch_mask: bool, True where a token takes part.
    """
    if matched.shape != text_tokens.shape[:1]:
        raise ParameterError(
            f"matched has shape {tuple(matched.shape)}: expected ({text_tokens.shape[0]},), one flag per pair"
        )
    out = ot_distance(
        text_tokens, patch_tokens, x_mask=text_mask, y_mask=patch_mask, beta=beta,
        iterations=iterations, inner_iterations=inner_iterations,
    )
    sign = torch.where(matched.bool(), 1.0, -1.0).to(out.distance.dtype)
    loss = (sign * out.distance).sum() / out.distance.shape[0]
    return WPAOutput(loss=loss, distance=out.distance)


class WordPatchAlignmentLoss(nn.Module):
    """Module form of :func:`word_patch_alignment_loss` holding the IPOT settings."""

    def __init__(self, *, beta: float = 0.5, iterations: int = 50, inner_iterations: int = 1) -> None:
        super().__init__()
        self.beta = check_positive_float("beta", beta, what="IPOT proximal step")
        self.iterations = check_positive_int("iterations", iterations)
        self.inner_iterations = check_positive_int("inner_iterations", inner_iterations)

    def forward(
        self,
        text_tokens: Tensor,
        patch_tokens: Tensor,
        *,
        matched: Tensor,
        text_mask: Tensor | None = None,
        patch_mask: Tensor | None = None,
    ) -> WPAOutput:
        return word_patch_alignment_loss(
            text_tokens, patch_tokens, matched=matched, text_mask=text_mask, patch_mask=patch_mask,
            beta=self.beta, iterations=self.iterations, inner_iterations=self.inner_iterations,
        )
