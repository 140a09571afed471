"""Gathering embeddings from every process with gradients, for losses over the global batch.

Contrastive and ranking losses compare each item with every other item of the batch, so under
data parallelism each process needs the embeddings of all processes. :func:`gather_with_grad`
concatenates them along the batch axis (processes may hold different numbers of rows) and, on
the way back, sums the gradients that every process computed for each slice, so each process
receives the full gradient of its own rows.

The convention shared by the losses built on it (:func:`~polysense.losses.clip_loss`,
:func:`~polysense.losses.vsepp_loss`): each process returns a loss such that the **mean over
processes** of the losses, and of the parameter gradients (what ``DistributedDataParallel``
computes), equal the single-process loss and gradients on the concatenated global batch.

Outside ``torch.distributed`` (not initialised, or one process) everything here is the identity.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist

from polysense.errors import ParameterError


@dataclass(frozen=True)
class ProcessLayout:
    """Where this process's rows sit in the global batch.

    Attributes:
        rank: this process's index in the group (0 outside torch.distributed).
        world_size: number of processes in the group (1 outside torch.distributed).
        sizes: rows held by each process, in rank order.
    """

    rank: int
    world_size: int
    sizes: tuple[int, ...]

    @property
    def offset(self) -> int:
        """Index of this process's first row in the global batch (the label offset)."""
        return sum(self.sizes[: self.rank])

    @property
    def global_size(self) -> int:
        """Rows in the global batch."""
        return sum(self.sizes)


def is_distributed(group: dist.ProcessGroup | None = None) -> bool:
    """True when torch.distributed is initialised with more than one process in ``group``."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size(group) > 1


def process_layout(local_size: int, *, group: dist.ProcessGroup | None = None) -> ProcessLayout:
    """Exchange batch sizes between processes (one small all_gather) and return the layout.

    Every process of ``group`` must call this. Outside torch.distributed it returns a layout
    with one process holding ``local_size`` rows, without communicating.
    """
    if not is_distributed(group):
        return ProcessLayout(rank=0, world_size=1, sizes=(int(local_size),))
    world_size = dist.get_world_size(group)
    size = torch.tensor([int(local_size)], dtype=torch.long, device=_collective_device(group))
    sizes = [torch.zeros_like(size) for _ in range(world_size)]
    dist.all_gather(sizes, size, group=group)
    return ProcessLayout(
        rank=dist.get_rank(group), world_size=world_size, sizes=tuple(int(s.item()) for s in sizes)
    )


def gather_with_grad(
    tensor: torch.Tensor,
    *,
    group: dist.ProcessGroup | None = None,
    layout: ProcessLayout | None = None,
) -> torch.Tensor:
    """Concatenate ``tensor`` (rows, ...) from every process along dim 0, keeping gradients.

    The result is the same on every process: the rows of rank 0, then rank 1, and so on.
    Backward sums the gradient of the result over processes and returns each process its own
    slice, so gradients flow to the rows of every process (unlike a plain ``all_gather``,
    whose result is a constant). Processes may hold different numbers of rows.

    Args:
        tensor: (rows, ...) local tensor; the trailing shape must agree across processes.
        group: the process group (default: the world).
        layout: the result of :func:`process_layout` for ``tensor.shape[0]`` rows, when the
            caller already has it (saves one exchange of sizes).

    Returns:
        (global rows, ...) tensor; ``tensor`` itself outside torch.distributed.
    """
    if not isinstance(tensor, torch.Tensor) or tensor.ndim == 0:
        raise ParameterError(
            f"tensor must be a torch.Tensor with a batch axis first, got {type(tensor).__name__}"
            + (" of 0 dimensions" if isinstance(tensor, torch.Tensor) else "")
        )
    if not is_distributed(group):
        return tensor
    if layout is None:
        layout = process_layout(tensor.shape[0], group=group)
    elif layout.sizes[layout.rank] != tensor.shape[0]:
        raise ParameterError(
            f"layout says this process holds {layout.sizes[layout.rank]} rows but tensor has "
            f"{tensor.shape[0]}: compute the layout with process_layout(tensor.shape[0])"
        )
    return _GatherWithGrad.apply(tensor, group, layout)


class _GatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, tensor, group, layout):  # type: ignore[override]
        ctx.group, ctx.layout = group, layout
        rows = max(layout.sizes)
        padded = tensor.new_zeros((rows, *tensor.shape[1:]))
        padded[: tensor.shape[0]] = tensor
        pieces = [torch.empty_like(padded) for _ in range(layout.world_size)]
        dist.all_gather(pieces, padded, group=group)
        return torch.cat([piece[:n] for piece, n in zip(pieces, layout.sizes)])

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        # Each process holds d(its loss)/d(global rows); the gradient of the summed losses
        # with respect to this process's rows is the sum over processes of its slice.
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM, group=ctx.group)
        start = ctx.layout.offset
        return grad[start : start + ctx.layout.sizes[ctx.layout.rank]], None, None


@dataclass
class GatheredPairs:
    """Queries and keys of both directions of a loss over paired embeddings ``a``, ``b``.

    Attributes:
        queries_a, queries_b: the rows this process computes the loss for.
        keys_a, keys_b: the rows they are compared with (the global batch when gathered).
        label_offset: index in the keys of the positive of query 0.
        layout: the process layout when the loss is this process's share of a global
            reduction (see :func:`share_of_global`); None when the queries are the whole batch.
    """

    queries_a: torch.Tensor
    queries_b: torch.Tensor
    keys_a: torch.Tensor
    keys_b: torch.Tensor
    label_offset: int
    layout: ProcessLayout | None


def gather_pairs(
    a: torch.Tensor,
    b: torch.Tensor,
    *,
    gather: bool = True,
    local_loss: bool = True,
    group: dist.ProcessGroup | None = None,
) -> GatheredPairs:
    """Arrange paired embeddings (row i of ``a`` pairs with row i of ``b``) for a two-way loss.

    Outside torch.distributed, or with ``gather=False``, queries and keys are the local batch.
    Otherwise both are gathered with gradients; with ``local_loss`` the queries stay local and
    their positives sit at ``label_offset`` (this process's first global row), else every
    process computes the loss of the whole global batch.
    """
    if not (gather and is_distributed(group)):
        return GatheredPairs(a, b, a, b, 0, None)
    layout = process_layout(a.shape[0], group=group)
    all_a = gather_with_grad(a, group=group, layout=layout)
    all_b = gather_with_grad(b, group=group, layout=layout)
    if local_loss:
        return GatheredPairs(a, b, all_a, all_b, layout.offset, layout)
    return GatheredPairs(all_a, all_b, all_a, all_b, 0, None)


def pair_positive_mask(
    positive_mask: torch.Tensor, pairs: GatheredPairs, *, group: dist.ProcessGroup | None = None
) -> torch.Tensor:
    """The (queries, keys) bool positives of ``pairs`` from the local (n, n) ``positive_mask``.

    ``positive_mask[i, j]`` says that local item j is a positive of local item i (e.g. the same
    caption twice in a batch); the diagonal is always a positive. Under torch.distributed the
    global mask is block-diagonal: each process's duplicates are known within its own rows only
    (items of two processes are never positives of each other). When the queries are the whole
    global batch (``local_loss=False``) every process needs every block, so the local masks are
    all-gathered: every process of the group must call this then.
    """
    local = positive_mask.shape[0]
    if positive_mask.shape != (local, local) or positive_mask.dtype != torch.bool:
        raise ParameterError(
            f"positive_mask must be a ({local}, {local}) bool tensor (local item j is a positive of i), "
            f"got {tuple(positive_mask.shape)} {positive_mask.dtype}"
        )
    keys = pairs.keys_b.shape[0]
    if keys == local:  # the local batch alone
        return positive_mask | torch.eye(local, dtype=torch.bool, device=positive_mask.device)
    full = torch.eye(keys, dtype=torch.bool, device=positive_mask.device)
    if pairs.layout is not None:  # local queries against the global keys
        offset = pairs.label_offset
        full[offset : offset + local, offset : offset + local] |= positive_mask
        return full[offset : offset + local]
    layout = process_layout(local, group=group)
    size = max(layout.sizes)
    padded = torch.zeros(size, size, dtype=torch.uint8, device=_collective_device(group))
    padded[:local, :local] = positive_mask.to(padded.device, torch.uint8)
    blocks = [torch.zeros_like(padded) for _ in range(layout.world_size)]
    dist.all_gather(blocks, padded, group=group)
    start = 0
    for rows, block in zip(layout.sizes, blocks):
        full[start : start + rows, start : start + rows] |= block[:rows, :rows].bool().to(full.device)
        start += rows
    return full


def _collective_device(group: dist.ProcessGroup | None) -> torch.device:
    """Tensors exchanged by NCCL must live on the current CUDA device; others on the CPU."""
    if dist.get_backend(group) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def share_of_global(per_row: torch.Tensor, layout: ProcessLayout | None, reduction: str) -> torch.Tensor:
    """This process's share of a loss summed or averaged over the global batch.

    ``per_row`` holds the losses of this process's rows. The share is scaled so that its mean
    over processes equals the global sum (``reduction="sum"``) or mean (``"mean"``), the
    convention under which ``DistributedDataParallel``'s gradient averaging is exact.
    With ``layout=None`` (the rows are the whole batch) it is ``per_row.sum()`` or ``.mean()``.
    """
    if layout is None:
        return per_row.sum() if reduction == "sum" else per_row.mean()
    total = per_row.sum()
    if reduction == "mean":
        total = total / layout.global_size
    return total * layout.world_size
