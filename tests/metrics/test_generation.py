"""Measures of generated sounds: the Fréchet distance, the inception score and nearest-neighbour
distances against independent float64 references (SciPy, NumPy), and the folder evaluation with a
stand-in classifier whose answers are known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import scipy.stats
import torch

from polysense.errors import ParameterError
from polysense.evaluate.generated import ClipSet, evaluate_generated
from polysense.metrics.generation import frechet_distance, inception_score, nearest_distances
from polysense.models.output import ClassifierOutput


def _scipy_fd(a: np.ndarray, b: np.ndarray) -> float:
    """The FID formula with scipy.linalg.sqrtm (the reference implementations' way)."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * root))


@pytest.mark.parametrize("n, d", [(50, 5), (200, 16), (12, 3)])
def test_frechet_distance_matches_scipy(n, d):
    g = np.random.default_rng(n)
    a = g.normal(size=(n, d)) @ g.normal(size=(d, d))
    b = g.normal(loc=0.5, size=(n + 7, d)) * g.uniform(0.5, 2, size=d)
    # tolerance: both float64; sqrtm's Schur route and the eigen route agree to ~1e-10 relative
    assert frechet_distance(torch.tensor(a), torch.tensor(b)) == pytest.approx(_scipy_fd(a, b), rel=1e-8, abs=1e-9)
    assert frechet_distance(torch.tensor(b), torch.tensor(a)) == pytest.approx(_scipy_fd(a, b), rel=1e-8, abs=1e-9)


def test_frechet_distance_closed_forms():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(100, 4, generator=g, dtype=torch.float64)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    shift = torch.tensor([1.0, -2.0, 0.5, 0.0], dtype=torch.float64)
    # same covariance, means apart by `shift`: FD = ‖shift‖² = 5.25
    assert frechet_distance(a, a + shift) == pytest.approx(5.25, abs=1e-9)
    # scaled by 3: FD = Tr Σ + 9 Tr Σ − 2·3 Tr Σ + ‖2μ‖² = 4 Tr Σ + 4‖μ‖²
    expected = 4 * float(torch.trace(torch.cov(a.T))) + 4 * float((a.mean(0) ** 2).sum())
    assert frechet_distance(a, 3 * a) == pytest.approx(expected, rel=1e-9)
    with pytest.raises(ParameterError, match="features per item"):
        frechet_distance(a, a[:, :3])
    with pytest.raises(ParameterError, match="N >= 2"):
        frechet_distance(a[:1], a)


def test_inception_score_matches_scipy_and_its_bounds():
    g = np.random.default_rng(0)
    logits = g.normal(size=(64, 10)) * 3
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    expected = float(np.exp(np.mean([scipy.stats.entropy(row, p.mean(0)) for row in p])))
    # tolerance: float64 both ways (scipy normalises its inputs again)
    assert inception_score(torch.tensor(p)) == pytest.approx(expected, rel=1e-10)
    assert inception_score(torch.eye(10, dtype=torch.float64).repeat(3, 1)) == pytest.approx(10.0, rel=1e-12)
    assert inception_score(torch.full((5, 4), 0.25, dtype=torch.float64)) == pytest.approx(1.0, rel=1e-12)
    with pytest.raises(ParameterError, match="rows summing to 1"):
        inception_score(torch.ones(3, 4))


def test_nearest_distances_match_brute_force():
    g = np.random.default_rng(1)
    q, r = g.normal(size=(9, 3)), g.normal(size=(20, 3))
    expected = np.array([min(np.linalg.norm(x - y) for y in r) for x in q])
    found = nearest_distances(torch.tensor(q), torch.tensor(r))
    np.testing.assert_allclose(found.distances.numpy(), expected, rtol=1e-12)
    assert found.median == pytest.approx(float(np.median(expected)), rel=1e-12)


class _Level:
    """A stand-in classifier: the class is the clip's RMS level in tenths (0.05 -> 0, 0.15 -> 1...),
    the embedding the unit vector of (10·rms, 1), whose direction follows the level."""

    run_dir = Path("stand-in")
    sample_rate = 8000

    class model:  # noqa: N801 - the run's model attribute
        @staticmethod
        def eval():
            return _Level.model

        @staticmethod
        def _features(batch):
            audio = batch["audio"]
            rms = audio.pow(2).mean(-1).sqrt()
            return rms, audio.abs().amax(-1)

        def __new__(cls, batch):
            rms, _ = cls._features(batch)
            logits = -((rms[:, None] * 10 - 0.5) - torch.arange(3)[None, :]).abs() * 20
            return ClassifierOutput(logits=logits)

        @classmethod
        def encode(cls, modality, batch):
            rms, _ = cls._features(batch)
            return torch.nn.functional.normalize(torch.stack([10 * rms, torch.ones_like(rms)], -1), dim=-1)


def _clips(levels, labels, seed):
    g = torch.Generator().manual_seed(seed)
    waves = []
    for level in levels:
        w = torch.randn(800, generator=g)
        waves.append(w / w.pow(2).mean().sqrt() * level)
    return ClipSet(waves, torch.tensor(labels))


def test_evaluate_generated_reports_accuracy_by_asked_label_and_distances():
    reference = _clips([0.05, 0.15, 0.25] * 4, [0, 1, 2] * 4, seed=0)
    # generated: the right level for labels 0 and 1, the level of class 0 where 2 was asked
    generated = _clips([0.05, 0.15, 0.05] * 4, [0, 1, 2] * 4, seed=1)
    result = evaluate_generated(_Level, generated=generated, reference=reference,
                                floor=_clips([0.05, 0.15, 0.25] * 4, [0, 1, 2] * 4, seed=2), training=reference)
    assert result["reference"]["accuracy"] == 1.0 and result["generated"]["accuracy"] == pytest.approx(2 / 3)
    assert result["ratios"]["accuracy"] == pytest.approx(2 / 3)
    assert result["reference"]["inception_score"] == pytest.approx(3.0, rel=1e-3)
    assert result["generated"]["inception_score"] < result["reference"]["inception_score"]
    assert result["reference"]["fd"] == 0.0 and result["floor"]["fd"] < result["generated"]["fd"]
    assert result["memorisation"]["reference_median_nearest_train"] == 0.0  # the reference is the training set here
