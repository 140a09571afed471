"""Connectionist temporal classification (Graves et al., 2006): the loss of a frame-wise recogniser
trained on transcripts without alignments.

A path ``π`` is one symbol per frame (a unit or the blank ``∅``); ``B(π)`` removes repeats, then
blanks (``a a ∅ b b → a b``). The model's frames are independent given the input, so

    P(y | x) = Σ_{π : B(π) = y} Π_t p_t(π_t),        loss = −log P(y | x),

summed by the forward algorithm over the extended label ``∅ y1 ∅ y2 ∅ … ∅`` (PyTorch's
``F.ctc_loss`` does that sum; this module checks its inputs and fixes its conventions).

A target can only be emitted when the input is long enough: ``L`` labels need ``L`` frames plus
one blank between each pair of equal neighbours (``"three"`` spelled by characters needs 6 frames:
the two ``e`` must be separated). A shorter input has probability 0 (an infinite loss that PyTorch
either returns or, with ``zero_infinity``, silently zeroes): :func:`ctc_loss` refuses it instead
with :class:`CTCLengthError`, naming the item and both lengths. A zero-length target is valid:
its probability is that of all-blank frames.

Reductions: ``"mean"`` (default, PyTorch's): each item's loss divided by its target length
(at least 1), then averaged over the batch; ``"sum"``; ``"none"``: (B,) per-item losses.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from polysense._checks import check_choice
from polysense.errors import ParameterError

__all__ = ["CTCLengthError", "CTCLoss", "ctc_loss", "ctc_min_frames"]

REDUCTIONS = ("mean", "sum", "none")


class CTCLengthError(ParameterError):
    """A target needs more frames than its input has: no alignment exists."""


def ctc_min_frames(targets: torch.Tensor, target_lengths: torch.Tensor) -> torch.Tensor:
    """(B,) the fewest frames that can emit each target: its length plus its repeated neighbours."""
    if targets.ndim != 2:
        raise ParameterError(f"targets have shape {tuple(targets.shape)}: expected (batch, max target length)")
    width = targets.shape[1]
    valid = torch.arange(width, device=targets.device)[None] < target_lengths[:, None]
    repeats = (targets[:, 1:] == targets[:, :-1]) & valid[:, 1:]
    return target_lengths + repeats.sum(dim=1)


def ctc_loss(log_probs: torch.Tensor, targets: torch.Tensor, input_lengths: torch.Tensor,
             target_lengths: torch.Tensor, *, blank: int = 0, reduction: str = "mean") -> torch.Tensor:
    """The CTC loss ``−log P(target | input)`` (module docstring).

    Args:
        log_probs: (B, T, C) log-probabilities over C symbols (blank included) per frame, batch first.
        targets: (B, S) long unit ids, padded past each ``target_lengths[b]`` (padding ignored).
        input_lengths: (B,) real frames of each item (``<= T``).
        target_lengths: (B,) real labels of each target (``<= S``, 0 allowed).
        blank: the blank's id. reduction: ``"mean"``, ``"sum"`` or ``"none"``.

    Raises:
        CTCLengthError: an item's input is shorter than :func:`ctc_min_frames` of its target.
        ParameterError: shapes, lengths or ids out of range (a target holding the blank included).
    """
    reduction = check_choice("reduction", reduction, REDUCTIONS)
    if log_probs.ndim != 3 or not log_probs.is_floating_point():
        raise ParameterError(f"log_probs have shape {tuple(log_probs.shape)}: expected float (batch, frames, symbols)")
    b, t, c = log_probs.shape
    if not 0 <= blank < c:
        raise ParameterError(f"blank={blank} is not a symbol id of the {c} symbols")
    input_lengths = torch.as_tensor(input_lengths, dtype=torch.long, device=log_probs.device)
    target_lengths = torch.as_tensor(target_lengths, dtype=torch.long, device=log_probs.device)
    targets = torch.as_tensor(targets, dtype=torch.long, device=log_probs.device)
    if targets.ndim == 1 and b == 1:
        targets = targets[None]
    if targets.ndim != 2 or targets.shape[0] != b or input_lengths.shape != (b,) or target_lengths.shape != (b,):
        raise ParameterError(f"for {b} items expected targets (B, S), input_lengths (B,), target_lengths (B,); got "
                             f"{tuple(targets.shape)}, {tuple(input_lengths.shape)}, {tuple(target_lengths.shape)}")
    if bool((input_lengths < 0).any() | (input_lengths > t).any()):
        raise ParameterError(f"input_lengths {input_lengths.tolist()} must lie in 0..{t} (the frames of log_probs)")
    if bool((target_lengths < 0).any() | (target_lengths > targets.shape[1]).any()):
        raise ParameterError(f"target_lengths {target_lengths.tolist()} must lie in 0..{targets.shape[1]} "
                             "(the width of targets)")
    valid = torch.arange(targets.shape[1], device=targets.device)[None] < target_lengths[:, None]
    real = targets[valid]
    if bool(((real < 0) | (real >= c) | (real == blank)).any()):
        raise ParameterError(f"targets hold ids outside 0..{c - 1} or the blank ({blank}): a target is a sequence of "
                             "non-blank unit ids")
    need = ctc_min_frames(targets, target_lengths)
    short = torch.nonzero(need > input_lengths).flatten().tolist()
    if short:
        i = short[0]
        raise CTCLengthError(
            f"item {i} of the batch has {int(input_lengths[i])} frames but its target of {int(target_lengths[i])} "
            f"labels needs at least {int(need[i])} (one frame per label, plus a blank between repeated labels)"
            f"{f'; {len(short)} items in all' if len(short) > 1 else ''}: the utterance is too short for its "
            "transcript at this frame rate; use a smaller time reduction (hop or pooling), or drop the item")
    per_item = F.ctc_loss(log_probs.transpose(0, 1).float(), targets, input_lengths, target_lengths, blank=blank,
                          reduction="none", zero_infinity=False)
    if reduction == "none":
        return per_item
    if reduction == "sum":
        return per_item.sum()
    return (per_item / target_lengths.clamp_min(1).to(per_item.dtype)).mean()


class CTCLoss(nn.Module):
    """:func:`ctc_loss` as a module: ``CTCLoss(blank=0, reduction="mean")(log_probs, targets, input_lengths, target_lengths)``."""

    def __init__(self, *, blank: int = 0, reduction: str = "mean") -> None:
        super().__init__()
        self.blank = int(blank)
        self.reduction = check_choice("reduction", reduction, REDUCTIONS)

    def forward(self, log_probs: torch.Tensor, targets: torch.Tensor, input_lengths: torch.Tensor,
                target_lengths: torch.Tensor) -> torch.Tensor:
        return ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=self.blank, reduction=self.reduction)
