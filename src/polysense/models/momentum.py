"""Momentum (EMA) encoders and a queue of their features, as in MoCo and ALBEF.

A momentum model is a copy of an online model whose parameters follow the online ones by an
exponential moving average instead of by gradient descent:

.. math::  \\theta_m \\leftarrow m\\,\\theta_m + (1 - m)\\,\\theta, \\qquad m = 0.995 \\ (ALBEF).

Its features change slowly, so features from several past batches can be kept in a
first-in-first-out :class:`FeatureQueue` and used as extra negatives for a contrastive loss,
and its predictions serve as soft "pseudo-targets" (momentum distillation), weighted by an
``alpha`` that ramps up from 0 over the first steps (:func:`alpha_ramp`).
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from polysense._checks import check_positive_int, check_unit_interval
from polysense.errors import ParameterError


def momentum_copy(module: nn.Module) -> nn.Module:
    """A deep copy of ``module`` with every parameter frozen (``requires_grad=False``)."""
    twin = copy.deepcopy(module)
    twin.requires_grad_(False)
    return twin


@torch.no_grad()
def ema_update(momentum_module: nn.Module, online_module: nn.Module, *, momentum: float = 0.995) -> None:
    """In place: ``theta_m = momentum * theta_m + (1 - momentum) * theta`` for every parameter.

    Buffers (e.g. batch-norm statistics) are copied from the online module.

    Raises:
        ParameterError: if the two modules do not have the same parameter names and shapes.
    """
    momentum = check_unit_interval("momentum", momentum, what="an EMA momentum (ALBEF uses 0.995)")
    online = dict(online_module.named_parameters())
    twin = dict(momentum_module.named_parameters())
    if online.keys() != twin.keys() or any(online[k].shape != twin[k].shape for k in online):
        raise ParameterError(
            "momentum_module and online_module differ in their parameters: build the momentum "
            "module with momentum_copy(online_module)"
        )
    names = list(online)
    torch._foreach_lerp_([twin[k] for k in names], [online[k].detach() for k in names], 1.0 - momentum)
    online_buffers = dict(online_module.named_buffers())
    for name, buffer in momentum_module.named_buffers():
        if name in online_buffers:
            buffer.copy_(online_buffers[name])


def alpha_ramp(step: int, *, final: float, warmup_steps: int) -> float:
    """ALBEF's distillation weight: ``final * min(1, step / warmup_steps)`` (0 at step 0)."""
    warmup_steps = check_positive_int("warmup_steps", warmup_steps, what="steps over which alpha ramps up")
    if not 0.0 <= float(final) <= 1.0:
        raise ParameterError(f"final={final!r} is invalid: expected alpha in [0, 1] (ALBEF uses 0.4)")
    return float(final) * min(1.0, max(int(step), 0) / warmup_steps)


class FeatureQueue(nn.Module):
    """A first-in-first-out ring buffer of the last ``size`` feature vectors (no gradient).

    Stored as buffers, so it moves with ``.to(device)`` and is saved in the state dict.

    Args:
        size: capacity K (number of vectors kept).
        dim: feature dimension.

    Example:
        >>> queue = FeatureQueue(size=4, dim=2)
        >>> queue.enqueue(torch.ones(3, 2)); queue.enqueue(torch.zeros(3, 2))
        >>> queue.features()  # the last 4 in arrival order: 1 one, then 3 zeros
    """

    queue: Tensor
    pointer: Tensor
    count: Tensor

    def __init__(self, *, size: int, dim: int) -> None:
        super().__init__()
        self.size = check_positive_int("size", size, what="number of queued features")
        self.dim = check_positive_int("dim", dim)
        self.register_buffer("queue", torch.zeros(self.size, self.dim))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))  # next slot to write
        self.register_buffer("count", torch.zeros((), dtype=torch.long))  # filled slots

    def __len__(self) -> int:
        return int(self.count)

    @torch.no_grad()
    def enqueue(self, features: Tensor) -> None:
        """Append (batch, dim) features, overwriting the oldest once full (wrap-around)."""
        if features.ndim != 2 or features.shape[1] != self.dim:
            raise ParameterError(f"features has shape {tuple(features.shape)}: expected (batch, {self.dim})")
        features = features.detach()[-self.size :].to(self.queue.dtype)
        n = features.shape[0]
        slots = (self.pointer + torch.arange(n, device=self.queue.device)) % self.size
        self.queue[slots] = features
        self.pointer.copy_((self.pointer + n) % self.size)
        self.count.copy_(torch.clamp(self.count + n, max=self.size))

    def features(self) -> Tensor:
        """The queued features, (len, dim), oldest first."""
        if int(self.count) < self.size:
            return self.queue[: int(self.count)]
        return torch.roll(self.queue, shifts=-int(self.pointer), dims=0)

    @torch.no_grad()
    def clear(self) -> None:
        self.pointer.zero_()
        self.count.zero_()
