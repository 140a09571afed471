"""Contrastive losses: InfoNCE in one direction, CLIP's symmetric loss, and the learnable temperature.

For paired embeddings ``a`` (N, D) and ``b`` (N, D), L2-normalised, with logit scale ``s``
(the inverse temperature), the logits are ``s · a bᵀ`` and CLIP's symmetric InfoNCE loss is::

    L = ½ [ CE(s·a bᵀ, y) + CE(s·b aᵀ, y) ],   y_i = i,
    CE(Z, y) = −(1/N) Σ_i log( exp Z[i, y_i] / Σ_j exp Z[i, j] )

(Radford et al. 2021). :func:`info_nce` is one direction; it also takes soft targets (a
distribution over the columns, as ALBEF's momentum distillation needs) and extra negative keys
(a queue of momentum features, as in MoCo/ALBEF). Under ``torch.distributed`` the keys are
gathered from every process with gradients and the targets offset by this process's first row
(see :mod:`polysense.losses.distributed` for the convention on losses and gradients).

Each loss is a function returning a typed output plus an ``nn.Module`` wrapper, after
TorchMultimodal's ``contrastive_loss_with_temperature``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from polysense._checks import check_choice, check_positive_float
from polysense.errors import ParameterError
from polysense.losses.distributed import ProcessLayout, gather_pairs, pair_positive_mask, share_of_global

#: CLIP's initial logit scale, 1 / 0.07 (a temperature of 0.07).
DEFAULT_LOGIT_SCALE = 1.0 / 0.07
#: The largest logit scale CLIP allows (a temperature of 0.01).
MAX_LOGIT_SCALE = 100.0


def cosine_similarity(a: torch.Tensor, b: torch.Tensor, *, eps: float = 1e-12) -> torch.Tensor:
    """Cosine similarity of every row of ``a`` (n, D) with every row of ``b`` (m, D): (n, m)."""
    return F.normalize(a, dim=-1, eps=eps) @ F.normalize(b, dim=-1, eps=eps).transpose(-2, -1)


@dataclass
class InfoNCEOutput:
    """One direction of a contrastive loss.

    Attributes:
        loss: scalar loss (this process's share under torch.distributed).
        logits: (queries, keys [+ extra keys]) scaled similarities.
        targets: (queries,) index of each query's positive column, or (queries, columns) soft
            target distributions when those were given.
    """

    loss: torch.Tensor
    logits: torch.Tensor
    targets: torch.Tensor


def info_nce(
    queries: torch.Tensor,
    keys: torch.Tensor,
    *,
    logit_scale: float | torch.Tensor,
    targets: torch.Tensor | None = None,
    extra_keys: torch.Tensor | None = None,
    normalize: bool = True,
    label_offset: int = 0,
    layout: ProcessLayout | None = None,
    reduction: str = "mean",
) -> InfoNCEOutput:
    """InfoNCE (cross-entropy over scaled similarities) of ``queries`` against ``keys``.

    ``logits = logit_scale · q kᵀ`` (with ``extra_keys`` appended as more negative columns);
    the loss is the cross-entropy of each row against its target, averaged (or summed).

    Args:
        queries: (n, D) query embeddings.
        keys: (m, D) key embeddings; by default query ``i`` matches key ``i + label_offset``.
        logit_scale: inverse temperature (float or scalar tensor, may require grad).
        targets: optional targets: (n,) long indices of the positive columns, or (n, m + k)
            float distributions over all columns (soft targets; rows should sum to 1).
        extra_keys: optional (k, D) additional negatives (e.g. a queue), never positives
            unless soft targets say so.
        normalize: L2-normalise queries and keys first (cosine similarity).
        label_offset: index of the key matching query 0 (this process's first global row).
        layout: when given, the loss is this process's share of the global reduction (see
            :func:`polysense.losses.distributed.share_of_global`); ``None`` = this batch alone.
        reduction: "mean" or "sum" over query rows.

    Returns:
        :class:`InfoNCEOutput` with the loss, logits and targets.
    """
    check_choice("reduction", reduction, ("mean", "sum"))
    _check_embeddings("queries", queries)
    _check_embeddings("keys", keys, dim=queries.shape[1])
    columns = keys
    if extra_keys is not None:
        _check_embeddings("extra_keys", extra_keys, dim=queries.shape[1], allow_empty=True)
        columns = torch.cat([keys, extra_keys.to(keys.dtype)])
    if normalize:
        queries, columns = F.normalize(queries, dim=-1), F.normalize(columns, dim=-1)
    logits = _as_scale(logit_scale, queries) * queries @ columns.T
    n = queries.shape[0]
    if targets is None:
        if label_offset < 0 or label_offset + n > keys.shape[0]:
            raise ParameterError(
                f"label_offset={label_offset} is invalid for {n} queries and {keys.shape[0]} keys: "
                f"expected 0 <= label_offset <= {keys.shape[0] - n} (query i matches key i + offset)"
            )
        targets = torch.arange(n, device=queries.device) + label_offset
    else:
        targets = _check_targets(targets, n, logits.shape[1])
    if targets.is_floating_point():
        targets = targets.to(logits.dtype)
    per_row = F.cross_entropy(logits, targets, reduction="none")
    loss = share_of_global(per_row, layout, reduction)
    return InfoNCEOutput(loss=loss, logits=logits, targets=targets)


@dataclass
class ContrastiveOutput:
    """CLIP's symmetric contrastive loss and its parts.

    Attributes:
        loss: scalar ``(loss_a + loss_b) / 2`` (this process's share under torch.distributed).
        loss_a: ``a → b`` direction (each ``a`` retrieves its ``b`` among all ``b``).
        loss_b: ``b → a`` direction.
        logits_a: (local a, global b [+ extra b]) scaled similarities.
        logits_b: (local b, global a [+ extra a]) scaled similarities.
        logit_scale: the scale used (scalar tensor).
    """

    loss: torch.Tensor
    loss_a: torch.Tensor
    loss_b: torch.Tensor
    logits_a: torch.Tensor
    logits_b: torch.Tensor
    logit_scale: torch.Tensor


def clip_loss(
    embeddings_a: torch.Tensor,
    embeddings_b: torch.Tensor,
    *,
    logit_scale: float | torch.Tensor = DEFAULT_LOGIT_SCALE,
    targets_a: torch.Tensor | None = None,
    targets_b: torch.Tensor | None = None,
    positive_mask: torch.Tensor | None = None,
    extra_a: torch.Tensor | None = None,
    extra_b: torch.Tensor | None = None,
    normalize: bool = True,
    gather: bool = True,
    local_loss: bool = True,
    group: torch.distributed.ProcessGroup | None = None,
) -> ContrastiveOutput:
    """CLIP's symmetric InfoNCE loss over paired embeddings (row ``i`` of a pairs with row ``i`` of b).

    Args:
        embeddings_a: (N, D) embeddings of modality a.
        embeddings_b: (N, D) embeddings of modality b, paired row by row with ``a``.
        logit_scale: inverse temperature ``s`` (e.g. :class:`LogitScale`'s output).
        targets_a: optional soft targets for ``a → b``: (N, global N + extra_b rows)
            distributions (ALBEF's momentum distillation); default one-hot on the pair.
        targets_b: likewise for ``b → a``.
        positive_mask: optional (N, N) bool, True where item j is also a positive of item i
            (the same caption twice in a batch): each row's target is then uniform over its
            positives (``t_ij = m_ij / Σ_j m_ij``) instead of one-hot, so duplicates are never
            pushed apart as negatives. The diagonal is always a positive; items of other
            processes only pair with themselves. Exclusive with ``targets_a``/``targets_b``.
        extra_a: optional (k, D) extra negatives of modality a for the ``b → a`` direction.
        extra_b: optional (k, D) extra negatives of modality b for the ``a → b`` direction.
        normalize: L2-normalise the embeddings first.
        gather: under torch.distributed with several processes, gather the other processes'
            embeddings (with gradients) so the negatives span the global batch. Without it
            each process computes the loss of its own batch.
        local_loss: with ``gather``, compute only this process's rows against all columns,
            labels offset by rank (cheaper); otherwise every process computes the full
            global loss. Either way the mean over processes equals the single-process loss.
        group: process group (default: the world).

    Returns:
        :class:`ContrastiveOutput`.

    Example::

        >>> a, b = torch.randn(4, 8), torch.randn(4, 8)
        >>> out = clip_loss(a, b, logit_scale=1 / 0.07)
        >>> out.loss.shape, out.logits_a.shape
        (torch.Size([]), torch.Size([4, 4]))
    """
    _check_embeddings("embeddings_a", embeddings_a)
    _check_embeddings("embeddings_b", embeddings_b, dim=embeddings_a.shape[1], rows=embeddings_a.shape[0])
    scale = _as_scale(logit_scale, embeddings_a)
    pairs = gather_pairs(embeddings_a, embeddings_b, gather=gather, local_loss=local_loss, group=group)
    if positive_mask is not None:
        if targets_a is not None or targets_b is not None:
            raise ParameterError("give positive_mask or targets_a/targets_b, not both")
        targets_a = _uniform_targets(pair_positive_mask(positive_mask, pairs, group=group), extra_b)
        targets_b = _uniform_targets(pair_positive_mask(positive_mask.T, pairs, group=group), extra_a)
    common = dict(logit_scale=scale, normalize=normalize, label_offset=pairs.label_offset, layout=pairs.layout)
    a_to_b = info_nce(pairs.queries_a, pairs.keys_b, targets=targets_a, extra_keys=extra_b, **common)
    b_to_a = info_nce(pairs.queries_b, pairs.keys_a, targets=targets_b, extra_keys=extra_a, **common)
    return ContrastiveOutput(
        loss=(a_to_b.loss + b_to_a.loss) / 2,
        loss_a=a_to_b.loss,
        loss_b=b_to_a.loss,
        logits_a=a_to_b.logits,
        logits_b=b_to_a.logits,
        logit_scale=scale,
    )


class LogitScale(nn.Module):
    """A learnable inverse temperature stored as its logarithm, clamped from above.

    ``forward()`` returns ``exp(min(log_scale, ln max_scale))``: the scale used never exceeds
    ``max_scale`` (CLIP: initialised to 1/0.07, at most 100), and while clamped it gets no
    gradient, so an optimiser cannot push it further.

    Args:
        init: initial scale (not its log), default 1/0.07.
        max_scale: upper bound on the scale, default 100.
        learnable: whether ``log_scale`` is an ``nn.Parameter`` (else a buffer).
    """

    def __init__(
        self, init: float = DEFAULT_LOGIT_SCALE, *, max_scale: float = MAX_LOGIT_SCALE, learnable: bool = True
    ) -> None:
        super().__init__()
        init = check_positive_float("init", init, what="initial logit scale, 1/temperature")
        self.max_scale = check_positive_float("max_scale", max_scale, what="largest logit scale")
        if init > self.max_scale:
            raise ParameterError(f"init={init} is invalid: expected at most max_scale={self.max_scale}")
        log_scale = torch.tensor(math.log(init))
        if learnable:
            self.log_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_scale", log_scale)

    def forward(self) -> torch.Tensor:
        return self.log_scale.clamp(max=math.log(self.max_scale)).exp()

    def extra_repr(self) -> str:
        return f"scale={float(self().detach()):.4g}, max_scale={self.max_scale:g}"


class ClipLoss(nn.Module):
    """Module form of :func:`clip_loss` holding its temperature (a :class:`LogitScale`).

    Args:
        logit_scale: initial inverse temperature (default 1/0.07).
        max_logit_scale: upper bound of the scale (default 100).
        learn_logit_scale: learn the temperature (default True).
        normalize, gather, local_loss: as in :func:`clip_loss`.
    """

    def __init__(
        self,
        *,
        logit_scale: float = DEFAULT_LOGIT_SCALE,
        max_logit_scale: float = MAX_LOGIT_SCALE,
        learn_logit_scale: bool = True,
        normalize: bool = True,
        gather: bool = True,
        local_loss: bool = True,
    ) -> None:
        super().__init__()
        self.logit_scale = LogitScale(logit_scale, max_scale=max_logit_scale, learnable=learn_logit_scale)
        self.normalize, self.gather, self.local_loss = normalize, gather, local_loss

    def forward(
        self,
        embeddings_a: torch.Tensor,
        embeddings_b: torch.Tensor,
        *,
        targets_a: torch.Tensor | None = None,
        targets_b: torch.Tensor | None = None,
        positive_mask: torch.Tensor | None = None,
        extra_a: torch.Tensor | None = None,
        extra_b: torch.Tensor | None = None,
    ) -> ContrastiveOutput:
        return clip_loss(
            embeddings_a,
            embeddings_b,
            logit_scale=self.logit_scale(),
            targets_a=targets_a,
            targets_b=targets_b,
            positive_mask=positive_mask,
            extra_a=extra_a,
            extra_b=extra_b,
            normalize=self.normalize,
            gather=self.gather,
            local_loss=self.local_loss,
        )


def _uniform_targets(positives: torch.Tensor, extra: torch.Tensor | None) -> torch.Tensor:
    """Soft targets uniform over each row's positives (zero on the ``extra`` columns)."""
    targets = positives.float()
    if extra is not None:
        targets = F.pad(targets, (0, extra.shape[0]))
    return targets / targets.sum(dim=1, keepdim=True)


def _as_scale(logit_scale: float | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    if isinstance(logit_scale, torch.Tensor):
        if logit_scale.numel() != 1:
            raise ParameterError(
                f"logit_scale must be a scalar, got a tensor of shape {tuple(logit_scale.shape)}"
            )
        return logit_scale.reshape(()).to(like.dtype)
    check_positive_float("logit_scale", logit_scale, what="inverse temperature")
    return torch.tensor(float(logit_scale), dtype=like.dtype, device=like.device)


def _check_embeddings(
    name: str, x: torch.Tensor, *, dim: int | None = None, rows: int | None = None, allow_empty: bool = False
) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or not x.is_floating_point():
        what = f"{type(x).__name__}" if not isinstance(x, torch.Tensor) else f"{x.dtype} tensor of shape {tuple(x.shape)}"
        raise ParameterError(f"{name} must be a floating-point (batch, dim) tensor, got a {what}")
    if x.shape[0] == 0 and not allow_empty:
        raise ParameterError(f"{name} has 0 rows: expected a non-empty batch")
    if dim is not None and x.shape[1] != dim:
        raise ParameterError(f"{name} has dim {x.shape[1]}, expected {dim} (the same as the other embeddings)")
    if rows is not None and x.shape[0] != rows:
        raise ParameterError(
            f"{name} has {x.shape[0]} rows, expected {rows}: the two modalities must be paired row by row"
        )


def _check_targets(targets: torch.Tensor, rows: int, columns: int) -> torch.Tensor:
    if not isinstance(targets, torch.Tensor):
        raise ParameterError(f"targets must be a tensor, got {type(targets).__name__}")
    if targets.is_floating_point():
        if targets.shape != (rows, columns):
            raise ParameterError(
                f"soft targets have shape {tuple(targets.shape)}, expected ({rows}, {columns}): "
                "one distribution per query over every key (global batch, then extra keys)"
            )
        return targets
    if targets.shape != (rows,):
        raise ParameterError(f"targets have shape {tuple(targets.shape)}, expected ({rows},) column indices")
    if rows and (int(targets.min()) < 0 or int(targets.max()) >= columns):
        raise ParameterError(f"targets must be column indices in [0, {columns}), got values outside")
    return targets
