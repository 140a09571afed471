"""Greedy CTC decoding and the forced (Viterbi) alignment of a transcript to the frames.

:func:`greedy_decode`: the most likely symbol per frame, repeats merged, blanks dropped: the
best *path*, not the best label sequence (prefix beam search, :mod:`polysense.recognize.ctc_beam`,
sums over paths and adds a language model).

:func:`ctc_align`: the single best path that collapses to given unit ids (Viterbi over the
extended label ``∅ y1 ∅ y2 … ∅``), returned as each unit's first and last frame: where a word
was heard. Word timestamps of a recogniser come from it (frame × seconds per frame).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from polysense.errors import ParameterError

__all__ = ["ctc_align", "greedy_decode"]


def greedy_decode(log_probs: torch.Tensor, lengths: torch.Tensor | Sequence[int] | None = None, *,
                  blank: int = 0) -> list[list[int]]:
    """Unit ids of each item's best path: (B, T, C) log-probs (or probabilities) → B lists of ids."""
    if log_probs.ndim != 3:
        raise ParameterError(f"log_probs have shape {tuple(log_probs.shape)}: expected (batch, frames, symbols)")
    best = log_probs.argmax(dim=-1).cpu()
    lengths = [best.shape[1]] * best.shape[0] if lengths is None else [int(n) for n in lengths]
    out = []
    for row, n in zip(best.tolist(), lengths):
        ids, previous = [], blank
        for s in row[:n]:
            if s != previous and s != blank:
                ids.append(s)
            previous = s
        out.append(ids)
    return out


def ctc_align(log_probs: torch.Tensor, ids: Sequence[int], *, blank: int = 0) -> list[tuple[int, int]]:
    """``[(first frame, last frame), ...]`` of each unit of ``ids`` on the best path of one item's
    (T, C) log-probs that collapses to ``ids``; a ParameterError when ``T`` frames cannot hold them."""
    if log_probs.ndim != 2:
        raise ParameterError(f"log_probs have shape {tuple(log_probs.shape)}: expected (frames, symbols) of one item")
    ids = [int(i) for i in ids]
    if not ids:
        return []
    t_max = log_probs.shape[0]
    need = len(ids) + sum(a == b for a, b in zip(ids, ids[1:]))
    if need > t_max:
        raise ParameterError(f"{len(ids)} units need at least {need} frames but the utterance has {t_max}: "
                             "it is too short to align this transcript")
    lp = log_probs.detach().double().cpu()
    labels = [blank]
    for i in ids:
        labels += [i, blank]
    s = len(labels)
    neg = float("-inf")
    score = torch.full((s,), neg, dtype=torch.float64)
    score[0], score[1] = lp[0, blank], lp[0, labels[1]]
    back = torch.zeros((t_max, s), dtype=torch.long)
    label_t = torch.tensor(labels)
    # a state may be reached from itself, the previous state, or (a unit not equal to the one two back) from there
    skip = torch.zeros(s, dtype=torch.bool)
    for k in range(2, s):
        skip[k] = labels[k] != blank and labels[k] != labels[k - 2]
    for t in range(1, t_max):
        stay = score
        step = torch.cat([torch.tensor([neg], dtype=torch.float64), score[:-1]])
        jump = torch.cat([torch.tensor([neg, neg], dtype=torch.float64), score[:-2]])
        jump = torch.where(skip, jump, torch.tensor(neg, dtype=torch.float64))
        stacked = torch.stack([stay, step, jump])
        best, choice = stacked.max(dim=0)
        score = best + lp[t, label_t]
        back[t] = choice
    state = s - 1 if score[s - 1] >= score[s - 2] else s - 2
    path = [state]
    for t in range(t_max - 1, 0, -1):
        state -= int(back[t, state])
        path.append(state)
    path.reverse()
    spans: list[list[int]] = [[-1, -1] for _ in ids]
    for t, state in enumerate(path):
        if state % 2 == 1:
            unit = state // 2
            if spans[unit][0] < 0:
                spans[unit][0] = t
            spans[unit][1] = t
    return [(a, b) for a, b in spans]
