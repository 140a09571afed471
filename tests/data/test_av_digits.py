"""av-digits: the PCA energy loss and the audio SNR as measured, deterministic class-matched pairing,
speaker-independent splits with disjoint image pools."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from polysense.data.av_digits import AVDigits, load_digit_images, pca_degrade
from polysense.errors import ParameterError
from tests.data.test_fsdd import make_fake_fsdd


def energy_loss(clean: np.ndarray, degraded: np.ndarray, mean: np.ndarray) -> float:
    return 1.0 - float(((degraded - mean) ** 2).sum() / ((clean - mean) ** 2).sum())


def measured_snr_db(clean: torch.Tensor, noisy: torch.Tensor) -> float:
    noise = noisy.double() - clean.double()
    return 10 * math.log10(float(clean.double().square().mean() / noise.square().mean()))


@pytest.fixture(scope="module")
def digits():
    return load_digit_images()


@pytest.fixture
def fake(tmp_path):
    return make_fake_fsdd(tmp_path / "fsdd", speakers=("ada", "bo", "cy"), takes=3)


@pytest.mark.parametrize("share", [0.0, 0.1, 0.5, 0.75, 0.9, 1.0])
def test_pca_removes_exactly_the_requested_share_of_energy(digits, share):
    images, _ = digits
    degraded, fit = pca_degrade(images, share)
    assert degraded.shape == images.shape
    assert abs(energy_loss(images, degraded, images.mean(0)) - share) < 1e-9
    assert np.allclose(fit.apply(images), degraded)
    weights = fit.weights
    assert np.all(weights[: fit.kept] == 1) and np.all(weights[fit.kept + 1 :] == 0) and 0 <= fit.alpha < 1


def test_pca_extremes_and_component_order(digits):
    images, _ = digits
    same, _ = pca_degrade(images, 0.0)
    assert np.allclose(same, images, atol=1e-10)
    mean_only, _ = pca_degrade(images, 1.0)
    assert np.allclose(mean_only, images.mean(0))
    _, fit = pca_degrade(images, 0.75)
    assert np.all(np.diff(fit.energies) <= 1e-9)  # leading components carry the most energy
    # the kept whole components hold at most (1 - share) of the energy, one more would hold more
    share_kept = fit.energies[: fit.kept].sum() / fit.energies.sum()
    assert share_kept <= 0.25 < share_kept + fit.energies[fit.kept] / fit.energies.sum()


def test_pca_share_errors(digits):
    images, _ = digits
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ParameterError, match="image_energy_loss"):
            pca_degrade(images, bad)


def test_degraded_images_are_harder_to_classify(digits):
    """The point of the degradation: a linear classifier on the pixels loses accuracy."""
    images, labels = digits
    degraded, _ = pca_degrade(images, 0.75)
    train, test = slice(0, 1200), slice(1200, None)

    def accuracy(x):
        return LogisticRegression(max_iter=3000).fit(x[train], labels[train]).score(x[test], labels[test])

    clean_acc, degraded_acc = accuracy(images), accuracy(degraded)
    assert clean_acc > 0.9
    assert degraded_acc < clean_acc - 0.15


@pytest.mark.parametrize("snr", [0.0, 10.0, -5.0])
def test_audio_snr_is_as_set(fake, snr):
    ds = AVDigits(fake, snr_db=snr, test_speakers=("cy",))
    for item in (0, 17, 50, len(ds) - 1):
        assert abs(measured_snr_db(ds.clean_audio(item), ds[item]["audio"]) - snr) < 0.1


def test_samples_pair_audio_and_image_of_the_same_digit(fake, digits):
    _, image_labels = digits
    ds = AVDigits(fake, test_speakers=("cy",), image_size=16)
    assert len(ds) == 90
    for item in range(len(ds)):
        assert image_labels[ds.pairs[item]] == ds.labels[item]
    sample = ds[3]
    assert set(sample) == {"id", "audio", "sample_rate", "image", "label", "group"}
    assert sample["image"].shape == (3, 16, 16) and sample["image"].dtype == torch.float32
    assert sample["audio"].dtype == torch.float32 and sample["sample_rate"] == 8000
    assert sample["id"] == f"{ds.manifest.rows[3].id}+img{ds.pairs[3]}"
    assert "text" in AVDigits(fake, test_speakers=("cy",), include_text=True)[0]


def test_pairing_and_noise_are_deterministic_from_the_seed(fake):
    a = AVDigits(fake, test_speakers=("cy",), seed=1)
    b = AVDigits(fake, test_speakers=("cy",), seed=1)
    c = AVDigits(fake, test_speakers=("cy",), seed=2)
    assert a.pairs == b.pairs and a.image_pools == b.image_pools
    assert torch.equal(a[5]["audio"], b[5]["audio"]) and torch.equal(a[5]["image"], b[5]["image"])
    assert a.pairs != c.pairs
    assert not torch.equal(a[5]["audio"], c[5]["audio"])
    # one split's view holds the same samples as the whole dataset
    test = AVDigits(fake, test_speakers=("cy",), seed=1, split="test")
    whole = {a[i]["id"]: a[i] for i in range(len(a))}
    for i in range(len(test)):
        s = test[i]
        assert torch.equal(s["audio"], whole[s["id"]]["audio"])


def test_splits_are_speaker_independent_with_disjoint_image_pools(fake, digits):
    _, image_labels = digits
    ds = AVDigits(fake, test_speakers=("cy",), val_speakers=("bo",))
    pools = {name: set(idx) for name, idx in ds.image_pools.items()}
    assert set(pools) == {"train", "val", "test"}
    assert not (pools["train"] & pools["val"]) and not (pools["train"] & pools["test"]) and not (pools["val"] & pools["test"])
    for split, speaker in (("train", "ada"), ("val", "bo"), ("test", "cy")):
        part = AVDigits(fake, test_speakers=("cy",), val_speakers=("bo",), split=split)
        assert set(part.groups) == {speaker}
        assert set(part.pairs) <= pools[split], f"{split} images come from the {split} pool only"
        assert Counter(image_labels[i] for i in pools[split]).keys() == set(range(10))
    # pools follow the audio split sizes (one speaker each here: about a third of the images each)
    assert all(abs(len(p) / len(image_labels) - 1 / 3) < 0.01 for p in pools.values())


def test_every_pool_loses_about_the_set_share(fake, digits):
    images, _ = digits
    ds = AVDigits(fake, test_speakers=("cy",), image_energy_loss=0.6)
    for name, idx in ds.image_pools.items():
        loss = energy_loss(images[idx], ds.images[idx], images.mean(0))
        assert abs(loss - 0.6) < 0.05, f"{name}: {loss:.3f}"


def test_av_digits_argument_errors(fake):
    with pytest.raises(ParameterError, match="split='valid'"):
        AVDigits(fake, split="valid")
    with pytest.raises(ParameterError, match="snr_db"):
        AVDigits(fake, snr_db=float("inf"))
    with pytest.raises(ParameterError, match=r"image_mean=\(0, 0\) .* are invalid"):
        AVDigits(fake, image_mean=(0, 0))
    with pytest.raises(ParameterError, match="split='val'"):
        AVDigits(fake, test_speakers="cy", split="val")  # no val speakers were named


@pytest.mark.fsdd
def test_real_av_digits(fsdd_dir):
    ds = AVDigits(fsdd_dir, test_speakers=("theo",), snr_db=0.0, image_energy_loss=0.75)
    assert len(ds) == 2000
    assert Counter(ds.groups) == {"jackson": 500, "nicolas": 500, "theo": 500, "yweweler": 500}
    for item in (0, 999, 1999):
        assert abs(measured_snr_db(ds.clean_audio(item), ds[item]["audio"]) - 0.0) < 0.1
    test = AVDigits(fsdd_dir, test_speakers=("theo",), split="test")
    assert set(test.groups) == {"theo"} and set(test.pairs) <= set(test.image_pools["test"])
    assert not set(test.image_pools["test"]) & set(test.image_pools["train"])


def test_a_manifest_gives_the_same_dataset_as_its_folder(fake, tmp_path):
    """AVDigits accepts a manifest (object or written file) instead of a folder: same pairs, same items."""
    from polysense.data.fsdd import fsdd_manifest
    from polysense.data.manifest import write_manifest

    folder = AVDigits(fake, test_speakers=("cy",), val_speakers=("bo",), seed=3)
    manifest = fsdd_manifest(fake, test_speakers=("cy",), val_speakers=("bo",))
    path = write_manifest(tmp_path / "digits.csv", manifest)
    for source in (manifest, path):
        other = AVDigits(source, seed=3)
        assert other.pairs == folder.pairs and other.image_pools == folder.image_pools
        assert other[4]["id"] == folder[4]["id"] and torch.equal(other[4]["audio"], folder[4]["audio"])
    # without a split column the group is the speaker held out by test_speakers/val_speakers
    from dataclasses import replace

    unsplit = replace(manifest, columns=tuple(c for c in manifest.columns if c != "split"),
                      rows=tuple(replace(r, split=None) for r in manifest.rows))
    again = AVDigits(unsplit, test_speakers=("cy",), val_speakers=("bo",), seed=3)
    assert again.pairs == folder.pairs and set(AVDigits(unsplit, test_speakers="cy", split="test").groups) == {"cy"}


def test_a_manifest_without_digits_is_refused(fake, tmp_path):
    from dataclasses import replace

    from polysense.data.fsdd import fsdd_manifest
    from polysense.errors import ManifestError

    manifest = fsdd_manifest(fake, test_speakers=("cy",))
    bad = replace(manifest, rows=(replace(manifest.rows[0], label=12), *manifest.rows[1:]))
    with pytest.raises(ManifestError, match="not a digit 0-9"):
        AVDigits(bad)
    with pytest.raises(ParameterError, match="not found"):
        AVDigits(tmp_path / "nothing.csv")
