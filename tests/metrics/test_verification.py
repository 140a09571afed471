"""EER and minDCF against independent references: sklearn's roc_curve and a float64 brute force."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_curve

from polysense.errors import ParameterError
from polysense.metrics.verification import equal_error_rate, min_dcf, pooled_trials, trials, verification_report


def reference_eer(scores, labels):
    """EER from sklearn's ROC: interpolate FPR and FNR where FNR - FPR changes sign."""
    fpr, tpr, _ = roc_curve(labels, scores)
    fnr = 1 - tpr
    diff = fnr - fpr
    k = int(np.flatnonzero(diff <= 0)[0])
    if diff[k] == 0:
        return fpr[k]
    t = diff[k - 1] / (diff[k - 1] - diff[k])
    return fpr[k - 1] + t * (fpr[k] - fpr[k - 1])


def brute_min_dcf(scores, labels, p_target, c_miss=1.0, c_fa=1.0):
    best = np.inf
    for threshold in np.r_[np.unique(scores), np.inf]:
        accept = scores >= threshold
        p_miss = np.mean(~accept[labels == 1])
        p_fa = np.mean(accept[labels == 0])
        best = min(best, c_miss * p_miss * p_target + c_fa * p_fa * (1 - p_target))
    return best / min(c_miss * p_target, c_fa * (1 - p_target))


@pytest.mark.parametrize("seed", range(10))
def test_eer_and_min_dcf_match_the_references(seed):
    rng = np.random.default_rng(seed)
    n_same, n_diff = rng.integers(20, 200), rng.integers(50, 500)
    scores = np.r_[rng.normal(1.0, 1.0, n_same), rng.normal(0.0, 1.0, n_diff)]
    scores = np.round(scores, 1 if seed % 2 else 6)  # ties on odd seeds
    labels = np.r_[np.ones(n_same, int), np.zeros(n_diff, int)]
    assert equal_error_rate(scores, labels) == pytest.approx(reference_eer(scores, labels), abs=1e-12)
    for p in (0.01, 0.05, 0.5):
        assert min_dcf(scores, labels, p_target=p) == pytest.approx(brute_min_dcf(scores, labels, p), abs=1e-12)


def test_separable_and_reversed_scores():
    labels = np.array([1, 1, 0, 0])
    assert equal_error_rate([0.9, 0.8, 0.1, 0.2], labels) == 0.0
    assert equal_error_rate([0.1, 0.2, 0.9, 0.8], labels) == 1.0
    assert min_dcf([0.9, 0.8, 0.1, 0.2], labels) == 0.0


def test_trials_are_every_pair_with_cosine_scores():
    e = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    scores, labels = trials(e, ["a", "a", "b"])
    assert scores.tolist() == pytest.approx([1.0, 0.0, 0.0]) and labels.tolist() == [1, 0, 0]


def test_bad_trials_are_refused():
    with pytest.raises(ParameterError, match="0 same-speaker and 3 different-speaker"):
        equal_error_rate([0.1, 0.2, 0.3], [0, 0, 0])
    with pytest.raises(ParameterError, match="p_target=1.0"):
        min_dcf([0.1, 0.2], [0, 1], p_target=1.0)


def test_pooled_trials_average_k_unit_embeddings_of_one_speaker():
    rng = np.random.default_rng(3)
    x = torch.from_numpy(rng.normal(size=(11, 4)))
    speakers = ["a"] * 6 + ["b"] * 5
    scores, same = pooled_trials(x, speakers, utterances=2, seed=7)
    # the same groups by hand: each speaker's rows in the seed's permutation, cut in pairs (b's fifth left out)
    order = np.random.default_rng(7)
    unit = x / x.norm(dim=1, keepdim=True)
    groups, names = [], []
    for name, rows in (("a", np.arange(6)), ("b", np.arange(6, 11))):
        rows = order.permutation(rows)
        for start in range(0, len(rows) - 1, 2):
            groups.append(unit[rows[start:start + 2]].mean(0))
            names.append(name)
    g = torch.stack(groups)
    g = g / g.norm(dim=1, keepdim=True)
    i, j = np.triu_indices(len(names), k=1)
    np.testing.assert_allclose(scores, (g @ g.T).numpy()[i, j], atol=1e-12)
    np.testing.assert_array_equal(same, (np.array(names)[i] == np.array(names)[j]).astype(int))
    assert len(scores) == 5 * 4 // 2  # 3 groups of a, 2 of b


def test_pooling_separates_noisy_speakers_better_than_single_recordings():
    # two speakers whose single recordings overlap heavily: pooling averages the noise away
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(2, 16))
    x = torch.from_numpy(np.repeat(centres, 60, axis=0) + 1.5 * rng.normal(size=(120, 16)))
    speakers = ["a"] * 60 + ["b"] * 60
    single = equal_error_rate(*trials(x, speakers))
    pooled = equal_error_rate(*pooled_trials(x, speakers, utterances=10))
    assert single > 0.3 and pooled < single / 3


def test_pooled_trials_bad_arguments():
    x = torch.zeros(4, 3) + torch.arange(4.0)[:, None]
    with pytest.raises(ParameterError, match="utterances=0 is invalid"):
        pooled_trials(x, ["a", "a", "b", "b"], utterances=0)
    with pytest.raises(ParameterError, match="pooling 2 recordings per side leaves 2 groups of 2 speaker"):
        pooled_trials(x, ["a", "a", "b", "b"], utterances=2)


def test_verification_report_holds_single_and_pooled_trials_where_each_speaker_has_two_groups():
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.normal(size=(14, 5)))
    speakers = ["a"] * 8 + ["b"] * 6  # b has two groups of 3, not of 5
    report = verification_report(x, speakers)
    scores, same = trials(x, speakers)
    assert report["eer"] == equal_error_rate(scores, same) and report["trials"] == 14 * 13 // 2
    assert report["min_dcf_p0.05"] == min_dcf(scores, same, p_target=0.05) and report["speakers"] == ["a", "b"]
    assert sorted(report["pooled"]) == ["3"]
    assert report["pooled"]["3"]["eer"] == equal_error_rate(*pooled_trials(x, speakers, utterances=3))
