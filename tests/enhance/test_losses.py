"""SI-SDR and the PIT loss against a float64 direct formula (numpy), and their properties."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from polysense.errors import ParameterError
from polysense.metrics.enhancement import si_sdr as si_sdr_metric
from polysense.metrics.enhancement import si_sdr_improvement, snr, snr_improvement
from polysense.losses.separation import PITSISDRLoss, pit_si_sdr_loss, si_sdr


def si_sdr_numpy(est: np.ndarray, ref: np.ndarray) -> float:
    """Le Roux et al. 2019, eq. (1) with zero-mean signals, in float64."""
    est = est - est.mean()
    ref = ref - ref.mean()
    target = (est @ ref) / (ref @ ref) * ref
    return 10 * np.log10((target @ target) / ((est - target) @ (est - target)))


def test_si_sdr_matches_direct_formula():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((3, 1000))
    est = ref + 0.3 * rng.standard_normal((3, 1000)) + 0.1
    got = si_sdr_metric(torch.from_numpy(est), torch.from_numpy(ref))
    want = [si_sdr_numpy(e, r) for e, r in zip(est, ref)]
    np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-10)  # float64 throughout
    # the float32 training path agrees to float32 rounding
    np.testing.assert_allclose(si_sdr(torch.from_numpy(est).float(), torch.from_numpy(ref).float()).numpy(), want,
                               atol=1e-3)


def test_si_sdr_is_scale_invariant_and_improvement_is_a_difference():
    rng = np.random.default_rng(1)
    ref = torch.from_numpy(rng.standard_normal(500))
    est = ref + 0.5 * torch.from_numpy(rng.standard_normal(500))
    mix = ref + torch.from_numpy(rng.standard_normal(500))
    assert float(si_sdr_metric(7.5 * est, ref)) == pytest.approx(float(si_sdr_metric(est, ref)), abs=1e-9)
    assert float(si_sdr_improvement(est, ref, mix)) == pytest.approx(
        float(si_sdr_metric(est, ref) - si_sdr_metric(mix, ref)), abs=1e-12)
    # SNR is not scale invariant: direct formula
    want = 10 * np.log10((ref.numpy() ** 2).sum() / ((est - ref).numpy() ** 2).sum())
    assert float(snr(est, ref)) == pytest.approx(want, abs=1e-10)
    assert float(snr_improvement(est, ref, mix)) == pytest.approx(float(snr(est, ref) - snr(mix, ref)), abs=1e-12)


def test_silent_reference_is_a_clear_error_not_nan():
    with pytest.raises(ParameterError, match="silent"):
        si_sdr_metric(torch.randn(100, dtype=torch.float64), torch.zeros(100, dtype=torch.float64))
    with pytest.raises(ParameterError, match="silent"):
        snr(torch.randn(2, 100), torch.full((2, 100), 0.3))
    with pytest.raises(ParameterError, match="same length"):
        si_sdr_metric(torch.randn(100), torch.randn(99))


def test_pit_finds_the_permutation_and_equals_brute_force():
    torch.manual_seed(0)
    refs = torch.randn(4, 3, 400, dtype=torch.float64)
    perm = [2, 0, 1]
    est = refs[:, perm] + 0.2 * torch.randn(4, 3, 400, dtype=torch.float64)
    out = pit_si_sdr_loss(est, refs)
    for b in range(4):
        best = max(itertools.permutations(range(3)), key=lambda p: np.mean(
            [si_sdr_numpy(est[b, p[s]].numpy(), refs[b, s].numpy()) for s in range(3)]))
        assert out.permutation[b].tolist() == list(best)
        want = np.mean([si_sdr_numpy(est[b, best[s]].numpy(), refs[b, s].numpy()) for s in range(3)])
        assert float(out.si_sdr[b].mean()) == pytest.approx(want, abs=1e-6)  # eps = 1e-8 in the loss
    torch.testing.assert_close(out.reordered, est[:, [perm.index(s) for s in range(3)]])
    assert float(PITSISDRLoss()(est, refs).loss) == pytest.approx(float(out.loss))


def test_pit_loss_gradient_reaches_every_estimate():
    est = torch.randn(2, 2, 200, requires_grad=True)
    pit_si_sdr_loss(est, torch.randn(2, 2, 200)).loss.backward()
    assert est.grad is not None and bool((est.grad.abs().sum(-1) > 0).all())


def test_pit_rejects_bad_shapes():
    with pytest.raises(ParameterError, match="batch, sources, time"):
        pit_si_sdr_loss(torch.randn(2, 200), torch.randn(2, 200))
