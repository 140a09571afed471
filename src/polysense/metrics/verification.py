"""Speaker verification metrics: equal error rate and minimum detection cost over trials.

A trial is a pair of recordings with a score (higher = more likely the same speaker) and a label
(1 same speaker, 0 different). For a threshold θ, accepting the trials with score ≥ θ gives the
miss rate ``P_miss(θ)`` (same-speaker trials rejected) and the false-alarm rate ``P_fa(θ)``
(different-speaker trials accepted).

- **EER**: the rate where ``P_miss = P_fa``, read on the ROC's convex steps the way
  ``sklearn.metrics.roc_curve`` lists them: at the threshold where ``P_miss - P_fa`` changes sign, the
  two rates are interpolated linearly between the neighbouring operating points.
- **minDCF** (NIST SRE): ``min_θ C_miss·P_miss(θ)·p_target + C_fa·P_fa(θ)·(1 − p_target)``, divided by
  ``min(C_miss·p_target, C_fa·(1 − p_target))`` (the cost of the best system that looks at no score).

:func:`trials` makes every pair of a set of embeddings (cosine scores) with its label.
:func:`pooled_trials` does the same for recordings pooled ``k`` at a time: each side of a trial is
the mean of ``k`` unit-length embeddings of one speaker's recordings (disjoint groups, in a seeded
random order), as a system enrolled (and tested) on ``k`` utterances, or on one utterance ``k``
times as long, would see it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from polysense._checks import check_positive_float, check_unit_interval
from polysense.errors import ParameterError

__all__ = ["equal_error_rate", "min_dcf", "operating_points", "pooled_trials", "trials", "verification_report"]


def operating_points(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds descending, P_fa, P_miss) at every distinct score (accept ``score >= threshold``),
    with the accept-nothing point first."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels).ravel().astype(bool)
    if scores.shape != labels.shape or scores.size == 0:
        raise ParameterError(f"scores ({scores.size}) and labels ({labels.size}) must be non-empty and of equal length")
    if not np.isfinite(scores).all():
        raise ParameterError("scores contain NaN or Inf: give finite trial scores")
    n_target, n_nontarget = int(labels.sum()), int((~labels).sum())
    if n_target == 0 or n_nontarget == 0:
        raise ParameterError(f"the trials hold {n_target} same-speaker and {n_nontarget} different-speaker pairs: "
                             "verification needs both (at least two speakers with two recordings each)")
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order]
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]  # last index of each distinct score
    tp = np.cumsum(y)[last]
    fp = np.cumsum(~y)[last]
    thresholds = np.r_[np.inf, s[last]]
    p_fa = np.r_[0.0, fp / n_nontarget]
    p_miss = np.r_[1.0, 1.0 - tp / n_target]
    return thresholds, p_fa, p_miss


def equal_error_rate(scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray) -> float:
    """The equal error rate in [0, 1] (see the module docstring)."""
    _, p_fa, p_miss = operating_points(np.asarray(scores), np.asarray(labels))
    diff = p_miss - p_fa  # decreasing from 1 to -1 along the points
    k = int(np.flatnonzero(diff <= 0)[0])
    if diff[k] == 0 or k == 0:
        return float(p_fa[k])
    # interpolate between points k-1 (miss > fa) and k (miss <= fa)
    t = diff[k - 1] / (diff[k - 1] - diff[k])
    return float(p_fa[k - 1] + t * (p_fa[k] - p_fa[k - 1]))


def min_dcf(scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray, *, p_target: float = 0.01,
            c_miss: float = 1.0, c_fa: float = 1.0) -> float:
    """Normalised minimum detection cost (see the module docstring)."""
    p_target = check_unit_interval("p_target", p_target, what="the prior of a same-speaker trial")
    if not 0 < p_target < 1:
        raise ParameterError(f"p_target={p_target} is invalid: expected a prior strictly between 0 and 1")
    c_miss = check_positive_float("c_miss", c_miss, what="the cost of a miss")
    c_fa = check_positive_float("c_fa", c_fa, what="the cost of a false alarm")
    _, p_fa, p_miss = operating_points(np.asarray(scores), np.asarray(labels))
    cost = c_miss * p_miss * p_target + c_fa * p_fa * (1 - p_target)
    return float(cost.min() / min(c_miss * p_target, c_fa * (1 - p_target)))


def trials(embeddings: torch.Tensor, speakers: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(cosine scores, same-speaker labels) of every unordered pair of the (N, D) embeddings."""
    if embeddings.ndim != 2 or embeddings.shape[0] != len(speakers):
        raise ParameterError(f"embeddings of shape {tuple(embeddings.shape)} for {len(speakers)} speakers: "
                             "expected (N, D) with one speaker name per row")
    e = torch.nn.functional.normalize(embeddings.double(), dim=1)
    similarity = (e @ e.T).numpy()
    i, j = np.triu_indices(len(speakers), k=1)
    names = np.asarray(list(speakers))
    return similarity[i, j], (names[i] == names[j]).astype(np.int64)


def pooled_trials(embeddings: torch.Tensor, speakers: Sequence[str], *, utterances: int,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(cosine scores, same-speaker labels) of every pair of pooled recordings (module docstring).

    Each speaker's recordings are shuffled with ``seed`` and cut into disjoint groups of
    ``utterances`` (a remainder smaller than that is left out); a group's embedding is the mean of
    its members' unit-length embeddings. ``utterances=1`` gives :func:`trials` of the shuffled set."""
    if isinstance(utterances, bool) or not isinstance(utterances, (int, np.integer)) or utterances < 1:
        raise ParameterError(f"utterances={utterances!r} is invalid: expected a whole number of recordings >= 1")
    if embeddings.ndim != 2 or embeddings.shape[0] != len(speakers):
        raise ParameterError(f"embeddings of shape {tuple(embeddings.shape)} for {len(speakers)} speakers: "
                             "expected (N, D) with one speaker name per row")
    e = torch.nn.functional.normalize(embeddings.double(), dim=1)
    names = np.asarray(list(speakers))
    rng = np.random.default_rng(seed)
    pooled, who = [], []
    for name in sorted(set(names.tolist())):
        rows = rng.permutation(np.flatnonzero(names == name))
        for start in range(0, len(rows) - utterances + 1, utterances):
            pooled.append(e[torch.as_tensor(rows[start:start + utterances])].mean(0))
            who.append(name)
    if len(set(who)) < 2 or len(who) == len(set(who)):
        raise ParameterError(f"pooling {utterances} recordings per side leaves {len(who)} groups of {len(set(who))} "
                             "speaker(s): verification needs two speakers, one with two groups; pool fewer recordings")
    return trials(torch.stack(pooled), who)


def verification_report(embeddings: torch.Tensor, speakers: Sequence[str], *,
                        pooled: Sequence[int] = (3, 5)) -> dict[str, object]:
    """EER, minDCF (p_target 0.01 and 0.05) and the number of trials over every pair of single
    recordings, the speakers, and under ``"pooled"`` the same for recordings pooled ``k`` per side
    (:func:`pooled_trials`, keyed ``str(k)``) for each ``k`` of ``pooled`` at which every speaker
    has at least two groups."""
    def scores_of(scores: np.ndarray, same: np.ndarray) -> dict[str, float | int]:
        return {"eer": equal_error_rate(scores, same), "min_dcf_p0.01": min_dcf(scores, same, p_target=0.01),
                "min_dcf_p0.05": min_dcf(scores, same, p_target=0.05), "trials": int(len(scores))}

    names = list(speakers)
    fewest = min(names.count(name) for name in set(names)) if names else 0
    return {**scores_of(*trials(embeddings, names)), "speakers": sorted(set(names)),
            "pooled": {str(k): scores_of(*pooled_trials(embeddings, names, utterances=k))
                       for k in pooled if fewest >= 2 * k}}
