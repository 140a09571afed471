"""Augmentations: what each changes, what it must keep (shapes, padding, labels, masks), determinism."""

from __future__ import annotations

import math

import pytest
import torch

from polysense.data.augment import (
    AddNoise,
    RandomGain,
    SpecAugment,
    SpeedPerturb,
    TimeShift,
    add_noise,
    gain,
    mixup,
    pitch_shift_batch,
    random_gain,
    spec_augment,
    speed_perturb_batch,
    time_shift,
)
from polysense.errors import ParameterError


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def prefix_mask(lengths, total):
    return torch.arange(total) < torch.as_tensor(lengths)[:, None]


def snr_db(clean: torch.Tensor, noisy: torch.Tensor) -> float:
    clean, noise = clean.double(), noisy.double() - clean.double()
    return 10 * math.log10(float(clean.square().mean() / noise.square().mean()))


# ------------------------------------------------------------------ SpecAugment


@pytest.fixture
def spec():
    return torch.rand(4, 40, 100, generator=gen(1)) + 1.0  # strictly positive, so 0 marks a mask


def runs(flags: torch.Tensor) -> list[tuple[int, int]]:
    """(start, width) of each run of True in a 1-D bool tensor."""
    out, start = [], None
    for i, f in enumerate(flags.tolist() + [False]):
        if f and start is None:
            start = i
        elif not f and start is not None:
            out.append((start, i - start))
            start = None
    return out


def test_spec_augment_is_deterministic_under_a_seed(spec):
    a = spec_augment(spec, generator=gen(3))
    b = spec_augment(spec, generator=gen(3))
    c = spec_augment(spec, generator=gen(4))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_spec_augment_changes_only_masked_values_and_keeps_the_input(spec):
    original = spec.clone()
    out, hit = spec_augment(spec, generator=gen(0), return_mask=True, mask_value=0.0)
    assert torch.equal(spec, original), "the input must not be modified in place"
    assert out.shape == spec.shape and out.dtype == spec.dtype
    assert torch.equal(out[~hit], spec[~hit])
    assert bool((out[hit] == 0).all())
    assert hit.any()


def test_spec_augment_mask_widths_stay_within_their_parameters(spec):
    for seed in range(20):
        _, hit = spec_augment(spec, freq_masks=1, freq_mask_param=5, time_masks=1, time_mask_param=7,
                              generator=gen(seed), return_mask=True)
        for b in range(spec.shape[0]):
            full_rows = hit[b].all(dim=1)  # a frequency mask covers every frame of its bins
            full_cols = hit[b].all(dim=0)
            assert sum(w for _, w in runs(full_rows)) <= 5
            assert sum(w for _, w in runs(full_cols)) <= 7  # only a time mask covers every bin of a frame


def test_spec_augment_never_touches_padded_frames(spec):
    lengths = torch.tensor([100, 60, 25, 1])
    for seed in range(20):
        out, hit = spec_augment(spec, mask=prefix_mask(lengths, spec.shape[-1]), freq_mask_param=40, time_mask_param=100,
                                generator=gen(seed), return_mask=True)
        for b, length in enumerate(lengths.tolist()):
            assert not hit[b, :, length:].any()
            assert torch.equal(out[b, :, length:], spec[b, :, length:])


def test_spec_augment_time_mask_respects_max_time_fraction(spec):
    lengths = torch.tensor([100, 50, 20, 10])
    for seed in range(30):
        _, hit = spec_augment(spec, freq_masks=0, time_masks=1, time_mask_param=100, max_time_fraction=0.2,
                              mask=prefix_mask(lengths, spec.shape[-1]), generator=gen(seed), return_mask=True)
        widths = hit.all(dim=1).sum(-1)
        assert bool((widths <= (lengths * 0.2).floor()).all())


def test_spec_augment_with_no_masks_is_the_identity(spec):
    assert torch.equal(spec_augment(spec, freq_masks=0, time_masks=0, generator=gen(0)), spec)
    assert torch.equal(spec_augment(spec, freq_mask_param=0, time_mask_param=0, generator=gen(0)), spec)


def test_spec_augment_works_on_a_single_spectrogram_and_a_custom_value():
    s = torch.ones(16, 30)
    out, hit = spec_augment(s, mask_value=-80.0, generator=gen(2), return_mask=True)
    assert out.shape == s.shape
    assert bool((out[hit] == -80).all()) and bool((out[~hit] == 1).all())


def test_spec_augment_default_fills_with_each_examples_mean_over_its_real_frames(spec):
    # log-mel in dB lies far below 0 dB: a fill of 0 would add the loudest "sound" of the clip
    db = spec * 10 - 90.0
    lengths = torch.tensor([100, 60, 25, 10])
    mask = prefix_mask(lengths, db.shape[-1])
    out, hit = spec_augment(db, mask=mask, generator=gen(5), return_mask=True)
    for b, length in enumerate(lengths.tolist()):
        mean = db[b, :, :length].mean()
        assert hit[b].any()
        assert torch.allclose(out[b][hit[b]], mean.expand(int(hit[b].sum())), atol=1e-4)  # float32 sums
        assert torch.equal(out[b, :, length:], db[b, :, length:])


def test_spec_augment_errors_name_the_argument(spec):
    with pytest.raises(ParameterError, match="mask"):
        spec_augment(spec, mask=torch.ones(4, 101, dtype=torch.bool))
    with pytest.raises(ParameterError, match="prefix"):
        spec_augment(spec, mask=~prefix_mask([3, 3, 3, 3], spec.shape[-1]))
    with pytest.raises(ParameterError, match="mask_value"):
        spec_augment(spec, mask_value="median")
    with pytest.raises(ParameterError, match="max_time_fraction"):
        spec_augment(spec, max_time_fraction=1.5)
    with pytest.raises(ParameterError, match="freq_masks"):
        spec_augment(spec, freq_masks=-1)
    with pytest.raises(ParameterError, match="spec"):
        spec_augment(torch.ones(5))


# ------------------------------------------------------------------ additive noise


@pytest.mark.parametrize("target", [-10.0, 0.0, 6.5, 30.0])
def test_add_noise_reaches_the_requested_snr(target):
    x = torch.sin(torch.linspace(0, 200, 4000, dtype=torch.float64))
    y = add_noise(x, snr_db=target, generator=gen(0))
    assert abs(snr_db(x, y) - target) < 1e-6


def test_add_noise_per_example_snr_with_padding_left_alone():
    x = torch.randn(3, 1000, generator=gen(5))
    lengths = [1000, 600, 300]
    mask = prefix_mask(lengths, 1000)
    x = x * mask
    targets = torch.tensor([0.0, 10.0, 20.0])
    y = add_noise(x, snr_db=targets, mask=mask, generator=gen(1))
    assert y.shape == x.shape and y.dtype == x.dtype
    for b, length in enumerate(lengths):
        assert abs(snr_db(x[b, :length], y[b, :length]) - float(targets[b])) < 1e-3  # float32 arithmetic
        assert torch.equal(y[b, length:], x[b, length:])


def test_add_noise_with_a_given_noise_and_determinism():
    x = torch.randn(2, 500, generator=gen(0), dtype=torch.float64)
    noise = torch.randn(500, generator=gen(9), dtype=torch.float64)
    y = add_noise(x, snr_db=3.0, noise=noise)
    for b in range(2):
        residual = y[b] - x[b]
        assert abs(snr_db(x[b], y[b]) - 3.0) < 1e-9
        assert torch.allclose(residual / residual.norm(), noise / noise.norm())  # the given noise, scaled
    assert torch.equal(add_noise(x, snr_db=3.0, generator=gen(2)), add_noise(x, snr_db=3.0, generator=gen(2)))
    assert not torch.equal(add_noise(x, snr_db=3.0, generator=gen(2)), add_noise(x, snr_db=3.0, generator=gen(3)))


def test_add_noise_leaves_silence_silent_and_rejects_bad_noise():
    assert torch.equal(add_noise(torch.zeros(100), snr_db=0.0, generator=gen(0)), torch.zeros(100))
    with pytest.raises(ParameterError, match="noise is all zeros"):
        add_noise(torch.ones(100), snr_db=0.0, noise=torch.zeros(100))
    with pytest.raises(ParameterError, match="noise has 50 samples"):
        add_noise(torch.ones(100), snr_db=0.0, noise=torch.ones(50))
    with pytest.raises(ParameterError, match="snr_db"):
        add_noise(torch.ones(2, 100), snr_db=torch.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(ParameterError, match="mask"):
        add_noise(torch.ones(2, 100), snr_db=0.0, mask=torch.ones(2, 100))


# ------------------------------------------------------------------ gain


def test_gain_scales_by_decibels_and_keeps_zeros():
    x = torch.tensor([[0.1, -0.2, 0.0, 0.0], [0.5, 0.0, 0.0, 0.0]])
    doubled = gain(x, gain_db=20 * math.log10(2))
    assert torch.allclose(doubled, 2 * x)
    per = gain(x, gain_db=torch.tensor([0.0, -20.0]))
    assert torch.allclose(per[0], x[0]) and torch.allclose(per[1], x[1] / 10)
    assert bool((per[x == 0] == 0).all())


def test_random_gain_stays_in_range_and_is_seeded():
    x = torch.ones(200, 10)
    y = random_gain(x, min_gain_db=-6.0, max_gain_db=3.0, generator=gen(0))
    db = 20 * torch.log10(y[:, 0])
    assert bool((db >= -6.0 - 1e-5).all()) and bool((db <= 3.0 + 1e-5).all())
    assert float(db.max() - db.min()) > 6  # draws spread over the range
    assert torch.equal(y, random_gain(x, min_gain_db=-6.0, max_gain_db=3.0, generator=gen(0)))
    assert bool((y == y[:, :1]).all()), "one gain per example, the same for all its samples"
    with pytest.raises(ParameterError, match="min_gain_db"):
        random_gain(x, min_gain_db=3.0, max_gain_db=-3.0)


# ------------------------------------------------------------------ time shift


def test_time_shift_roll_equals_torch_roll_and_keeps_length():
    x = torch.arange(20.0).reshape(2, 10)
    y = time_shift(x, shift=torch.tensor([3, -2]))
    assert y.shape == x.shape
    assert torch.equal(y[0], torch.roll(x[0], 3)) and torch.equal(y[1], torch.roll(x[1], -2))


def test_time_shift_zero_mode_fills_with_zeros():
    x = torch.arange(1.0, 11.0)
    assert torch.equal(time_shift(x, shift=3, mode="zero"), torch.tensor([0, 0, 0, 1, 2, 3, 4, 5, 6, 7.0]))
    assert torch.equal(time_shift(x, shift=-4, mode="zero"), torch.tensor([5, 6, 7, 8, 9, 10, 0, 0, 0, 0.0]))


def test_time_shift_stays_inside_the_real_samples():
    x = torch.arange(1.0, 25.0).reshape(2, 12)
    lengths = [12, 7]
    mask = prefix_mask(lengths, 12)
    x = x * mask
    for seed in range(10):
        y = time_shift(x, max_shift=5, mask=mask, generator=gen(seed))
        assert y.shape == x.shape
        assert torch.equal(y[1, 7:], x[1, 7:]), "padding must stay padding"
        for b, length in enumerate(lengths):
            assert torch.equal(y[b, :length].sort().values, x[b, :length].sort().values)  # same samples
            shift = int(torch.nonzero(y[b, :length] == x[b, 0])[0])
            assert torch.equal(y[b, :length], torch.roll(x[b, :length], shift))
    y = time_shift(x, shift=torch.tensor([0, 2]), mode="zero", mask=mask)
    assert torch.equal(y[1], torch.tensor([0, 0, 13, 14, 15, 16, 17, 0, 0, 0, 0, 0.0]))


def test_time_shift_random_shifts_are_bounded_and_seeded():
    x = torch.arange(50.0).repeat(300, 1)
    y = time_shift(x, max_shift=4, generator=gen(0))
    shifts = (y[:, 0] != 0) * (50 - y[:, 0])  # y[0] = x[-s mod 50]
    shifts = torch.where(shifts > 25, shifts - 50, shifts)
    assert set(shifts.tolist()) == set(range(-4, 5))
    assert torch.equal(y, time_shift(x, max_shift=4, generator=gen(0)))


def test_time_shift_argument_errors():
    x = torch.ones(2, 10)
    with pytest.raises(ParameterError, match="exactly one"):
        time_shift(x)
    with pytest.raises(ParameterError, match="exactly one"):
        time_shift(x, shift=1, max_shift=2)
    with pytest.raises(ParameterError, match="prefix"):
        time_shift(x, shift=1, mask=torch.tensor([[True] * 10, [False, True] + [True] * 8]))
    with pytest.raises(ParameterError, match="mode"):
        time_shift(x, shift=1, mode="wrap")


# ------------------------------------------------------------------ mixup


def test_mixup_mixes_inputs_and_returns_the_label_weights():
    x = torch.randn(6, 3, 5, generator=gen(0))
    labels = torch.tensor([0, 1, 2, 3, 0, 1])
    labels_before = labels.clone()
    out = mixup(x, labels, alpha=0.4, num_classes=4, generator=gen(1))
    assert torch.equal(labels, labels_before), "the labels given must not change"
    assert sorted(out.index.tolist()) == list(range(6))
    assert bool(((out.lam >= 0) & (out.lam <= 1)).all())
    lam = out.lam.view(6, 1, 1)
    assert torch.allclose(out.inputs, lam * x + (1 - lam) * x[out.index])
    assert out.targets.shape == (6, 4)
    assert torch.allclose(out.targets.sum(1), torch.ones(6))
    for i in range(6):
        expected = torch.zeros(4)
        expected[labels[i]] += out.lam[i]
        expected[labels[out.index[i]]] += 1 - out.lam[i]
        assert torch.allclose(out.targets[i], expected)
    assert out.mask is None


def test_mixup_is_deterministic_and_unions_masks():
    x = torch.randn(4, 10, generator=gen(0))
    mask = prefix_mask([10, 4, 7, 2], 10)
    a = mixup(x * mask, torch.tensor([0, 1, 0, 1]), num_classes=2, mask=mask, generator=gen(5))
    b = mixup(x * mask, torch.tensor([0, 1, 0, 1]), num_classes=2, mask=mask, generator=gen(5))
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.lam, b.lam) and torch.equal(a.index, b.index)
    assert torch.equal(a.mask, mask | mask[a.index])
    assert a.inputs.shape == x.shape
    assert not bool(a.inputs[~a.mask].any()), "outside both inputs' real parts the mixture is still padding"


def test_mixup_lambda_follows_beta_alpha_alpha():
    x = torch.zeros(4000, 1)
    lam = mixup(x, torch.zeros(4000, 2), alpha=0.5, generator=gen(0)).lam.double()
    # Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1)) = 1/8 for a = 0.5
    assert abs(float(lam.mean()) - 0.5) < 0.02
    assert abs(float(lam.var()) - 1 / 8) < 0.01


def test_mixup_errors():
    x = torch.randn(3, 2)
    with pytest.raises(ParameterError, match="num_classes"):
        mixup(x, torch.tensor([0, 1, 2]))
    with pytest.raises(ParameterError, match="outside"):
        mixup(x, torch.tensor([0, 1, 5]), num_classes=3)
    with pytest.raises(ParameterError, match="alpha"):
        mixup(x, torch.tensor([0, 1, 2]), num_classes=3, alpha=0.0)
    with pytest.raises(ParameterError, match="rows"):
        mixup(x, torch.tensor([0, 1]), num_classes=3)


# ------------------------------------------------------------------ speed and pitch


def tone_batch(freqs_hz, lengths, sr=8000):
    total = max(lengths)
    t = torch.arange(total, dtype=torch.float64) / sr
    x = torch.stack([torch.sin(2 * math.pi * f * t) for f in freqs_hz]).float()
    mask = prefix_mask(lengths, total)
    return x * mask, mask


def peak_hz(x, sr=8000):
    spectrum = torch.fft.rfft(x.double() * torch.hann_window(x.shape[-1], dtype=torch.float64))
    return float(spectrum.abs().argmax()) * sr / x.shape[-1]


def test_speed_perturb_batch_changes_each_length_and_frequency_by_its_factor():
    x, mask = tone_batch([400.0, 500.0, 300.0], [4000, 2000, 3000])
    factors = torch.tensor([1.1, 0.9, 1.0])
    out, new_mask = speed_perturb_batch(x, sample_rate=8000, mask=mask, factors=factors)
    expected = new_mask.sum(-1).tolist()
    # soxr's output length: T / s to within one sample
    assert all(abs(n - length / s) <= 1 for n, length, s in zip(expected, [4000, 2000, 3000], factors.tolist()))
    assert expected[2] == 3000
    assert out.shape == new_mask.shape == (3, max(expected))
    assert torch.equal(new_mask, prefix_mask(expected, out.shape[-1]))
    assert bool((out[~new_mask] == 0).all())  # padding stays zero
    for i, (f, s) in enumerate(zip([400.0, 500.0, 300.0], factors.tolist())):
        # resolution of the peak: sr / length <= 4 Hz
        assert abs(peak_hz(out[i, : expected[i]]) - f * s) <= 8000 / expected[i] + 1e-9
    assert torch.allclose(out[2, :3000], x[2, :3000], atol=1e-5)  # factor 1 = the input


def test_speed_perturb_batch_draws_factors_in_range_and_follows_the_seed():
    x, mask = tone_batch([400.0] * 8, [3000] * 8)
    a, ma = speed_perturb_batch(x, sample_rate=8000, mask=mask, min_factor=0.9, max_factor=1.1, generator=gen(0))
    b, mb = speed_perturb_batch(x, sample_rate=8000, mask=mask, min_factor=0.9, max_factor=1.1, generator=gen(0))
    assert torch.equal(a, b) and torch.equal(ma, mb)
    lengths = ma.sum(-1)
    assert bool((lengths >= 3000 / 1.1 - 1).all()) and bool((lengths <= 3000 / 0.9 + 1).all())
    assert len(set(lengths.tolist())) > 1
    with pytest.raises(ParameterError, match="min_factor"):
        speed_perturb_batch(x, sample_rate=8000, min_factor=1.2, max_factor=1.1)
    with pytest.raises(ParameterError, match="batch"):
        speed_perturb_batch(x[0], sample_rate=8000)


def test_pitch_shift_batch_keeps_lengths_mask_and_padding_and_moves_the_pitch():
    x, mask = tone_batch([400.0, 300.0], [6000, 4000])
    out = pitch_shift_batch(x, sample_rate=8000, mask=mask, min_semitones=2.0, max_semitones=2.0)
    assert out.shape == x.shape
    assert bool((out[~mask] == 0).all())
    ratio = 2 ** (2 / 12)
    for i, (f, length) in enumerate(zip([400.0, 300.0], [6000, 4000])):
        assert abs(peak_hz(out[i, 1000 : length - 1000]) - f * ratio) <= 2 * 8000 / (length - 2000)


def test_speed_perturb_module_acts_in_training_only():
    x, mask = tone_batch([400.0, 500.0], [3000, 2000])
    module = SpeedPerturb(sample_rate=8000, seed=3).eval()
    assert module(x, mask) == (x, mask)
    module.train()
    out, new_mask = module(x, mask)
    expected, expected_mask = speed_perturb_batch(x, sample_rate=8000, mask=mask, generator=gen(3))
    assert torch.equal(out, expected) and torch.equal(new_mask, expected_mask)


# ------------------------------------------------------------------ modules


def test_modules_augment_in_training_only_and_follow_their_seed():
    x = torch.randn(2, 400, generator=gen(0))
    spec = torch.rand(2, 20, 50) + 1
    for module, inp, fn in (
        (SpecAugment(seed=1), spec, lambda: spec_augment(spec, generator=gen(1))),
        (AddNoise(snr_db=5.0, seed=1), x, lambda: add_noise(x, snr_db=5.0, generator=gen(1))),
        (RandomGain(seed=1), x, lambda: random_gain(x, generator=gen(1))),
        (TimeShift(max_shift=30, seed=1), x, lambda: time_shift(x, max_shift=30, generator=gen(1))),
    ):
        module.eval()
        assert module(inp) is inp
        module.train()
        assert torch.equal(module(inp), fn())
