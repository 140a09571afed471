"""A frozen tower's outputs cached per distinct input row (text ids, or an audio tower's waveform).

A frozen pretrained tower (MiniLM, 6 layers of 384) is a fixed function of its input ids, yet a
training loop feeds it the same captions every epoch (FSDD: 40 distinct captions for 2,000 clips,
~9 s per epoch on the CPU re-running them). :class:`TowerCache` keeps each distinct row's output,
keyed by the bytes of its real (unpadded) token ids, so the tower runs only on rows it has not
seen. Bounded (least recently used rows are dropped past ``max_rows``); the owner clears it when
its weights may change (unfrozen, weights loaded).

Outputs at padded positions are zeros (the tower's values there are meaningless: every consumer
masks them), so an item's output does not depend on the batch it came in.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import torch

from polysense._checks import check_positive_int
from polysense.models.encoders.base import EncoderOutput
from polysense.models.layers import lengths_to_mask

__all__ = ["TowerCache"]

Tower = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


class TowerCache:
    """Per-row cache of a deterministic text tower ``(input_ids, mask) -> (tokens, pooled)``.

    Args:
        max_rows: rows kept (least recently used dropped first).

    Attributes:
        calls: rows the tower was run on (for tests and diagnostics).
    """

    def __init__(self, max_rows: int = 4096) -> None:
        self.max_rows = check_positive_int("max_rows", max_rows, what="cached rows")
        self._rows: OrderedDict[tuple, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
        self.calls = 0

    def __len__(self) -> int:
        return len(self._rows)

    def clear(self) -> None:
        self._rows.clear()

    @staticmethod
    def _key(ids: torch.Tensor, device: torch.device, dtype: torch.dtype) -> tuple:
        return (ids.cpu().numpy().tobytes(), str(device), str(dtype))

    def __call__(
        self,
        tower: Tower,
        input_ids: torch.Tensor,
        mask: torch.Tensor,
        *,
        dtype: torch.dtype,
        token_count: Callable[[int], int] | None = None,
    ) -> EncoderOutput:
        """The tower's output for the batch, running it only on rows not cached yet.

        ``token_count`` maps a row's real input length to its count of output tokens when the two
        differ (an audio tower: samples in, frames out); the output then has as many positions as
        the longest row's tokens, with its own mask. None: one token per input position (text).
        """
        counts = mask.sum(dim=1)
        if not torch.equal(mask, torch.arange(mask.shape[1], device=mask.device)[None] < counts[:, None]):
            # not right-padded: a row's real tokens are not its prefix, so no per-row key
            tokens, pooled = tower(input_ids, mask)
            self.calls += input_ids.shape[0]
            if token_count is not None:
                mask = lengths_to_mask(torch.tensor([token_count(int(n)) for n in counts.tolist()], device=mask.device),
                                       tokens.shape[1])
            return EncoderOutput(tokens=tokens, mask=mask, pooled=pooled)
        lengths = counts.tolist()
        keys = [self._key(input_ids[i, : n], input_ids.device, dtype) for i, n in enumerate(lengths)]
        # one run per distinct uncached row (the same caption twice in a batch runs once)
        first: dict[tuple, int] = {}
        for i, key in enumerate(keys):
            if key not in self._rows:
                first.setdefault(key, i)
        # each new row alone, unpadded: its cached output is then the same bits whatever batch it first
        # came in, so a run resumed in a fresh process (empty cache, other batches) equals an
        # uninterrupted one (tests/train/test_resume_configs.py); rows are computed once, so the
        # lost batching costs only the first epoch
        for i in first.values():
            n_in = lengths[i]
            tokens, pooled = tower(input_ids[i : i + 1, :n_in], mask[i : i + 1, :n_in])
            self.calls += 1
            n = n_in if token_count is None else token_count(n_in)
            self._rows[keys[i]] = (tokens[0, :n].detach(), pooled[0].detach())
        rows = []
        for key in keys:
            self._rows.move_to_end(key)
            rows.append(self._rows[key])
        while len(self._rows) > self.max_rows:
            self._rows.popitem(last=False)
        dim = rows[0][0].shape[-1] if rows else 0  # token width (the pooled width may differ)
        width = input_ids.shape[1] if token_count is None else max((r.shape[0] for r, _ in rows), default=0)
        out = torch.zeros(input_ids.shape[0], width, dim, dtype=dtype, device=input_ids.device)
        for i, (row_tokens, _) in enumerate(rows):
            out[i, : row_tokens.shape[0]] = row_tokens
        pooled = torch.stack([p for _, p in rows]) if rows else out.new_zeros(0, dim)
        if token_count is not None:
            mask = lengths_to_mask(torch.tensor([r.shape[0] for r, _ in rows], device=mask.device), width)
        return EncoderOutput(tokens=out, mask=mask, pooled=pooled)

