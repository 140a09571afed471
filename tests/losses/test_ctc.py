"""ctc_loss against a brute-force float64 sum over every path, and its length checks."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from polysense.errors import ParameterError
from polysense.losses import CTCLengthError, CTCLoss, ctc_loss, ctc_min_frames


def _collapse(path, blank=0):
    out, previous = [], None
    for s in path:
        if s != previous and s != blank:
            out.append(s)
        previous = s
    return out


def _brute_force(log_probs: torch.Tensor, target: list[int]) -> float:
    """−log Σ over every path of T symbols that collapses to ``target`` (float64, independent of torch's CTC)."""
    t, c = log_probs.shape
    p = log_probs.double().exp()
    total = 0.0
    for path in itertools.product(range(c), repeat=t):
        if _collapse(path) == target:
            total += math.prod(float(p[i, s]) for i, s in enumerate(path))
    return -math.log(total)


def _log_probs(b, t, c, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, t, c, generator=g, dtype=torch.float64).log_softmax(-1)


@pytest.mark.parametrize("target", [[1], [1, 2], [2, 2], [1, 2, 1], []])
def test_ctc_loss_equals_the_sum_over_paths(target):
    lp = _log_probs(1, 5, 3)
    got = ctc_loss(lp, torch.tensor([target + [0] * (3 - len(target))]), torch.tensor([5]), torch.tensor([len(target)]),
                   reduction="sum")
    assert float(got) == pytest.approx(_brute_force(lp[0], target), rel=1e-5)  # torch computes in float32


def test_batch_padding_and_reductions():
    lp = _log_probs(3, 6, 4, seed=1)
    targets = torch.tensor([[1, 2, 0], [3, 0, 0], [1, 1, 2]])
    lengths_in, lengths_t = torch.tensor([6, 4, 5]), torch.tensor([2, 1, 3])
    per = ctc_loss(lp, targets, lengths_in, lengths_t, reduction="none")
    expected = [_brute_force(lp[i, : lengths_in[i]], targets[i, : lengths_t[i]].tolist()) for i in range(3)]
    assert per.tolist() == pytest.approx(expected, rel=1e-5)
    assert float(ctc_loss(lp, targets, lengths_in, lengths_t, reduction="sum")) == pytest.approx(sum(expected), rel=1e-5)
    mean = sum(e / n for e, n in zip(expected, [2, 1, 3])) / 3
    assert float(CTCLoss()(lp, targets, lengths_in, lengths_t)) == pytest.approx(mean, rel=1e-5)
    # frames past an item's length do not matter
    changed = lp.clone()
    changed[1, 4:] = torch.randn(2, 4, dtype=torch.float64).log_softmax(-1)
    assert torch.allclose(ctc_loss(changed, targets, lengths_in, lengths_t, reduction="none"), per)


def test_zero_length_target_is_all_blank():
    lp = _log_probs(1, 4, 3, seed=2)
    got = ctc_loss(lp, torch.zeros(1, 2, dtype=torch.long), torch.tensor([4]), torch.tensor([0]), reduction="mean")
    assert float(got) == pytest.approx(-float(lp[0, :, 0].sum()), rel=1e-5)


def test_gradient_reaches_log_probs():
    logits = torch.randn(2, 6, 4, requires_grad=True)
    ctc_loss(logits.log_softmax(-1), torch.tensor([[1, 2], [3, 3]]), torch.tensor([6, 6]), torch.tensor([2, 2])).backward()
    assert logits.grad is not None and bool(logits.grad.abs().sum() > 0)


def test_min_frames_counts_repeats():
    targets = torch.tensor([[1, 1, 2, 0], [3, 3, 3, 3], [1, 2, 3, 0]])
    assert ctc_min_frames(targets, torch.tensor([3, 4, 2])).tolist() == [4, 7, 2]


def test_target_longer_than_input_is_a_clear_error():
    lp = _log_probs(2, 3, 4)
    with pytest.raises(CTCLengthError, match="item 1 of the batch has 2 frames but its target of 2 labels needs at least 3"):
        ctc_loss(lp, torch.tensor([[1, 2], [2, 2]]), torch.tensor([3, 2]), torch.tensor([2, 2]))
    with pytest.raises(CTCLengthError, match="item 0 .* 2 frames"):
        ctc_loss(lp, torch.tensor([[1, 2, 3], [1, 0, 0]]), torch.tensor([2, 3]), torch.tensor([3, 1]))


def test_bad_targets_and_lengths_are_named():
    lp = _log_probs(1, 4, 3)
    with pytest.raises(ParameterError, match="the blank"):
        ctc_loss(lp, torch.tensor([[0, 1]]), torch.tensor([4]), torch.tensor([2]))
    with pytest.raises(ParameterError, match="outside 0..2"):
        ctc_loss(lp, torch.tensor([[5]]), torch.tensor([4]), torch.tensor([1]))
    with pytest.raises(ParameterError, match="input_lengths \\[9\\] must lie in 0..4"):
        ctc_loss(lp, torch.tensor([[1]]), torch.tensor([9]), torch.tensor([1]))
    with pytest.raises(ParameterError, match="reduction"):
        ctc_loss(lp, torch.tensor([[1]]), torch.tensor([4]), torch.tensor([1]), reduction="avg")
