"""The contrastive and ranking losses across 2 processes (gloo on CPU) equal the single-process
losses on the same global batch, and so do the gradients (averaged over processes, as
DistributedDataParallel averages them).

Reference: the same loss computed in one process on the concatenated batch, float64, tolerance
1e-10. Both processes run every case inside one process group to keep start-up cost to one spawn.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from polysense.errors import ParameterError
from polysense.losses import (
    clip_loss,
    gather_pairs,
    gather_with_grad,
    is_distributed,
    process_layout,
    vsepp_loss,
)
from tests._multiprocess import run_in_processes

WORLD = 2
TOL = dict(rtol=1e-10, atol=1e-10)


def _case_inputs(global_rows: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(global_rows)
    return {
        "x_a": torch.randn(global_rows, 6, generator=g, dtype=torch.float64),
        "x_b": torch.randn(global_rows, 5, generator=g, dtype=torch.float64),
        "w_a": torch.randn(4, 6, generator=g, dtype=torch.float64),
        "w_b": torch.randn(4, 5, generator=g, dtype=torch.float64),
        "queue": torch.randn(3, 4, generator=g, dtype=torch.float64),
    }


def _run(loss_name: str, x_a, x_b, w_a, w_b, queue, **kwargs):
    """Projections (shared parameters) -> loss; returns the loss and the leaves to differentiate."""
    x_a, x_b = x_a.clone().requires_grad_(), x_b.clone().requires_grad_()
    w_a, w_b = w_a.clone().requires_grad_(), w_b.clone().requires_grad_()
    log_scale = torch.tensor(2.5, dtype=torch.float64, requires_grad=True)
    a, b = x_a @ w_a.T, x_b @ w_b.T
    if loss_name == "clip":
        loss = clip_loss(a, b, logit_scale=log_scale.exp(), **kwargs).loss
        params = (w_a, w_b, log_scale)
    elif loss_name == "clip_queue":
        loss = clip_loss(a, b, logit_scale=log_scale.exp(), extra_b=queue, extra_a=queue, **kwargs).loss
        params = (w_a, w_b, log_scale)
    else:
        loss = vsepp_loss(a, b, **kwargs).loss
        params = (w_a, w_b)
    grads = torch.autograd.grad(loss, (*params, x_a, x_b))
    return loss.detach(), grads[: len(params)], grads[len(params) :]


CASES = [
    # (loss, kwargs, rows per rank)
    ("clip", dict(local_loss=True), (4, 4)),
    ("clip", dict(local_loss=True), (3, 5)),
    ("clip", dict(local_loss=False), (3, 5)),
    ("clip_queue", dict(local_loss=True), (4, 4)),
    ("vsepp", dict(local_loss=True), (4, 4)),
    ("vsepp", dict(local_loss=True, reduction="mean"), (2, 6)),
    ("vsepp", dict(local_loss=False), (3, 5)),
    # items 0 and 1 of each process are duplicates (the same caption): positive_mask
    ("clip", dict(local_loss=True, duplicates=True), (3, 5)),
    ("clip", dict(local_loss=False, duplicates=True), (3, 5)),
    ("vsepp", dict(local_loss=True, duplicates=True), (4, 4)),
    ("vsepp", dict(local_loss=False, duplicates=True), (3, 5)),
]


def _duplicates(sizes: tuple[int, ...]) -> torch.Tensor:
    """The global (N, N) positive mask: rows 0 and 1 of each process's block are duplicates
    (a process only knows its own, so the reference has none across processes)."""
    mask = torch.eye(sum(sizes), dtype=torch.bool)
    for rank in range(len(sizes)):
        first = sum(sizes[:rank])
        mask[first, first + 1] = mask[first + 1, first] = True
    return mask


def _worker(rank: int) -> None:
    assert is_distributed()
    _check_gather(rank)
    for loss_name, kwargs, sizes in CASES:
        inputs = _case_inputs(sum(sizes))
        start, stop = sum(sizes[:rank]), sum(sizes[: rank + 1])
        kwargs = dict(kwargs)
        ref_kwargs, local_kwargs = dict(kwargs), dict(kwargs)
        if kwargs.pop("duplicates", False):
            mask = _duplicates(sizes)
            ref_kwargs = dict(kwargs, positive_mask=mask)
            local_kwargs = dict(kwargs, positive_mask=mask[start:stop, start:stop])
        # Single-process reference on the global batch (gather=False: no communication).
        ref_loss, ref_param_grads, ref_input_grads = _run(loss_name, **inputs, gather=False, **ref_kwargs)
        local = dict(inputs, x_a=inputs["x_a"][start:stop], x_b=inputs["x_b"][start:stop])
        loss, param_grads, input_grads = _run(loss_name, **local, **local_kwargs)
        where = f"{loss_name} {kwargs} sizes={sizes} rank={rank}"
        # The mean over processes of the losses and of the parameter gradients (DDP).
        mean_loss = loss.clone()
        dist.all_reduce(mean_loss)
        torch.testing.assert_close(mean_loss / WORLD, ref_loss, **TOL, msg=where)
        for grad, ref in zip(param_grads, ref_param_grads):
            grad = grad.clone()
            dist.all_reduce(grad)
            torch.testing.assert_close(grad / WORLD, ref, **TOL, msg=where)
        # Each process gets the gradient of the summed losses for its own rows.
        for grad, ref in zip(input_grads, ref_input_grads):
            torch.testing.assert_close(grad, WORLD * ref[start:stop], **TOL, msg=where)
        if not kwargs.get("local_loss", True):
            torch.testing.assert_close(loss, ref_loss, **TOL, msg=where)  # full loss everywhere


def _check_gather(rank: int) -> None:
    sizes = (2, 3)
    layout = process_layout(sizes[rank])
    assert layout.sizes == sizes and layout.offset == sum(sizes[:rank]) and layout.global_size == 5
    x = torch.full((sizes[rank], 2), float(rank + 1), dtype=torch.float64, requires_grad=True)
    gathered = gather_with_grad(x)
    expected = torch.cat([torch.full((2, 2), 1.0), torch.full((3, 2), 2.0)]).double()
    torch.testing.assert_close(gathered.detach(), expected)
    # Rank r weighs row i by (r + 1) * (i + 1); this rank's rows receive the sum over ranks.
    weights = torch.arange(1, 6, dtype=torch.float64)[:, None] * (rank + 1)
    (gathered * weights).sum().backward()
    summed = torch.arange(1, 6, dtype=torch.float64)[:, None].expand(5, 2) * sum(r + 1 for r in range(WORLD))
    torch.testing.assert_close(x.grad, summed[layout.offset : layout.offset + sizes[rank]])
    pairs = gather_pairs(x.detach(), x.detach(), local_loss=True)
    assert pairs.label_offset == layout.offset and pairs.queries_a.shape[0] == sizes[rank]
    assert pairs.keys_b.shape[0] == 5
    with pytest.raises(ParameterError, match="layout says"):
        gather_with_grad(torch.zeros(7, 2), layout=layout)


def test_two_processes_equal_one_process(tmp_path: Path):
    run_in_processes(_worker, world_size=WORLD, store=tmp_path / "store", collective_timeout_s=30, deadline_s=120,
                     name="the 2-process test")


def test_single_process_is_the_identity():
    x = torch.randn(3, 2)
    assert not is_distributed()
    assert gather_with_grad(x) is x
    layout = process_layout(3)
    assert (layout.rank, layout.world_size, layout.sizes, layout.offset) == (0, 1, (3,), 0)
    pairs = gather_pairs(x, x)
    assert pairs.layout is None and pairs.label_offset == 0 and pairs.keys_a is x


def test_gather_rejects_scalars():
    with pytest.raises(ParameterError, match="batch axis"):
        gather_with_grad(torch.tensor(1.0))
