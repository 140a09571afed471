"""Noise generators (spectral slopes against scipy's Welch estimate), SNR scaling, and the classical
enhancers and oracle masks on a vowel in noise."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch

from polysense.enhance.classical import (
    DEFAULT_STFT,
    apply_gain,
    ideal_binary_mask,
    ideal_ratio_mask,
    oracle_enhance,
    spectral_subtraction,
    wiener_filter,
)
from polysense.enhance.noise import NOISE_TYPES, make_noise, scale_to_snr
from polysense.errors import ParameterError
from polysense.metrics.enhancement import si_sdr

from .conftest import SR, vowel


@pytest.mark.parametrize("kind", [k for k in NOISE_TYPES if k != "babble"])
def test_noise_has_unit_power_and_is_reproducible(kind):
    a = make_noise(kind, 4000, sample_rate=SR, rng=np.random.default_rng(3))
    b = make_noise(kind, 4000, sample_rate=SR, rng=np.random.default_rng(3))
    assert a.shape == (4000,) and torch.equal(a, b)
    assert float(a.square().mean()) == pytest.approx(1.0, rel=1e-9)


def test_babble_sums_pool_utterances_and_needs_a_pool():
    pool = [vowel(0.3, f0=f) for f in (100.0, 150.0, 210.0)]
    x = make_noise("babble", 6000, sample_rate=SR, rng=np.random.default_rng(0), babble_pool=pool)
    assert float(x.square().mean()) == pytest.approx(1.0)
    with pytest.raises(ParameterError, match="babble_pool"):
        make_noise("babble", 100, sample_rate=SR, rng=np.random.default_rng(0))


@pytest.mark.parametrize(("kind", "slope_db_per_octave"), [("white", 0.0), ("pink", -3.01), ("brown", -6.02)])
def test_coloured_noise_slopes(kind, slope_db_per_octave):
    x = make_noise(kind, 2**18, sample_rate=SR, rng=np.random.default_rng(0)).numpy()
    f, p = scipy.signal.welch(x, fs=SR, nperseg=4096)
    band = (f >= 50) & (f <= 2000)  # away from DC and the top
    slope = np.polyfit(np.log2(f[band]), 10 * np.log10(p[band]), 1)[0]
    assert slope == pytest.approx(slope_db_per_octave, abs=0.3)


def test_scale_to_snr_gives_the_requested_snr():
    s = vowel()
    n = make_noise("white", s.numel(), sample_rate=SR, rng=np.random.default_rng(1))
    scaled = scale_to_snr(s, n, snr_db=-5.0)
    assert 10 * np.log10(float(s.square().mean() / scaled.square().mean())) == pytest.approx(-5.0, abs=1e-9)
    with pytest.raises(ParameterError, match="silent"):
        scale_to_snr(torch.zeros(10, dtype=torch.float64), n[:10], snr_db=0.0)


def _mixture(snr_db=0.0, kind="white"):
    s = vowel(0.6)
    n = scale_to_snr(s, make_noise(kind, s.numel(), sample_rate=SR, rng=np.random.default_rng(2)), snr_db=snr_db)
    return s, s + n


def test_unit_gain_reconstructs_exactly():
    s, x = _mixture()
    X = DEFAULT_STFT.analyse(x)
    torch.testing.assert_close(apply_gain(x, torch.ones(X.shape, dtype=torch.float64)), x, atol=1e-10, rtol=0)


def test_masks_are_in_range_and_oracles_bound_the_classical_methods():
    s, x = _mixture(0.0)
    ibm = ideal_binary_mask(x, s)
    irm = ideal_ratio_mask(x, s)
    assert set(ibm.unique().tolist()) <= {0.0, 1.0}
    assert float(irm.min()) >= 0.0 and float(irm.max()) <= 1.0
    base = float(si_sdr(x, s))
    results = {
        "ss": float(si_sdr(spectral_subtraction(x), s)),
        "wiener": float(si_sdr(wiener_filter(x), s)),
        "ibm": float(si_sdr(oracle_enhance(x, s, mask="ibm"), s)),
        "irm": float(si_sdr(oracle_enhance(x, s, mask="irm"), s)),
    }
    # on stationary white noise with speech pauses both classical methods help, and the oracles help more
    assert results["ss"] > base + 3 and results["wiener"] > base + 3
    assert min(results["ibm"], results["irm"]) > max(results["ss"], results["wiener"])
    # the oracle of a clean "mixture" is the clean signal
    torch.testing.assert_close(oracle_enhance(s, s, mask="irm"), s, atol=1e-8, rtol=0)


def test_classical_methods_keep_shape_and_batch():
    s, x = _mixture()
    batch = torch.stack([x, 0.5 * x])
    for fn in (spectral_subtraction, wiener_filter):
        out = fn(batch)
        assert out.shape == batch.shape
        torch.testing.assert_close(out[0], fn(x), atol=1e-10, rtol=0)  # a batch equals its items


def test_classical_errors_name_the_problem():
    with pytest.raises(ParameterError, match="samples"):
        wiener_filter(torch.randn(50, dtype=torch.float64))
    with pytest.raises(ParameterError, match="mask="):
        oracle_enhance(torch.randn(1000), torch.randn(1000), mask="soft")
