"""``av-digits``: audio-visual digits, FSDD speech paired by class with real handwritten digit images.

Following AV-MNIST (Vielzeuf et al., 2018, as packaged in MultiBench), each sample pairs a spoken
digit (the Free Spoken Digit Dataset, :mod:`polysense.data.fsdd`) with an image of the same digit
(the 1,797 8×8 handwritten digits bundled with scikit-learn, :func:`sklearn.datasets.load_digits`;
no download), and both modalities are degraded on purpose so that neither alone is enough:

Images lose a set share of their energy by PCA projection
    Let ``X`` be the ``(1797, 64)`` image matrix scaled to [0, 1] (pixel / 16), ``μ`` its mean
    image and ``X - μ = U S Vᵀ`` the SVD of the centred images, with component energies
    ``λ_i = S_i²`` in decreasing order (the energy of a set of images is ``Σ ||x - μ||²``, the
    total PCA variance times N). For ``image_energy_loss = ℓ`` the kept energy is
    ``E = (1 - ℓ) · Σ_i λ_i``: the leading ``k`` components are kept whole, where ``k`` is the
    largest count with ``λ_1 + … + λ_k <= E``, and component ``k+1`` is kept scaled by
    ``α = sqrt((E - λ_1 - … - λ_k) / λ_{k+1})``, so that

        x' = μ + Σ_{i<=k} ((x - μ)·v_i) v_i + α ((x - μ)·v_{k+1}) v_{k+1}

    and ``Σ ||x' - μ||² = E`` exactly: over the whole image set the measured energy loss is
    ``ℓ`` (to floating-point precision; per split pool it is close but not exact). The PCA is a
    fixed degradation fitted once on all images, not a learned part of any model.
Audio is mixed with noise at a set SNR
    White Gaussian noise, drawn from a generator seeded by ``(seed, recording name)``, is added by
    :func:`polysense.data.augment.add_noise` so that ``10·log10(P(speech) / P(noise)) = snr_db``
    exactly, powers being mean squares over the whole recording.

Pairing and splits: the audio comes from an FSDD-style recordings folder (its splits are
speaker-independent: ``test_speakers``/``val_speakers``, as in
:func:`~polysense.data.fsdd.fsdd_manifest`) or from a manifest of spoken digits (a path or a
:class:`~polysense.data.manifest.Manifest` with ``audio`` and ``label`` 0-9, e.g. one written by
``polysense data fsdd``; its ``split`` column is used, or, without one, the rows' ``group`` is
the speaker held out by ``test_speakers``/``val_speakers``). The images are divided into disjoint pools, one
per split, stratified by digit, in proportion to the splits' audio counts
(:func:`polysense.data.splits.split_indices` with ``seed``); within a split and digit the
recordings (shuffled by ``seed``) take the pool's images (shuffled by ``seed``) in turn, reusing
images only when the pool has fewer than the recordings. The same arguments give the same pairs.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from polysense import audio as audio_io
from polysense._checks import check_positive_int
from polysense.data.augment import add_noise
from polysense.data.dataset import IMAGENET_MEAN, IMAGENET_STD, image_normalization, normalize_image
from polysense.data.fsdd import DIGIT_WORDS, NATIVE_SAMPLE_RATE, fsdd_manifest, speaker_list
from polysense.data.manifest import SPLITS, Manifest, check_split_name, read_manifest
from polysense.data.splits import split_indices
from polysense.errors import ParameterError

__all__ = ["AVDigits", "PCADegradation", "digits_manifest", "load_digit_images", "pca_degrade"]

PathLike = str | os.PathLike


@dataclass(frozen=True)
class PCADegradation:
    """The fitted degradation of :func:`pca_degrade` (see the module docstring for the formula).

    ``mean`` (D,), ``components`` (D, D) rows = principal directions in decreasing energy,
    ``energies`` (D,) = ``λ_i``, ``kept`` = k (components kept whole), ``alpha`` (weight of
    component k+1), ``energy_loss`` = ℓ requested.
    """

    mean: np.ndarray
    components: np.ndarray
    energies: np.ndarray
    kept: int
    alpha: float
    energy_loss: float

    @property
    def weights(self) -> np.ndarray:
        """Per-component weight: 1 for the first ``kept``, ``alpha`` for the next, 0 after."""
        w = np.zeros(len(self.energies))
        w[: self.kept] = 1.0
        if self.kept < len(w):
            w[self.kept] = self.alpha
        return w

    def apply(self, images: np.ndarray) -> np.ndarray:
        """Degrade ``images`` ``(N, D)`` (rows, same scale as the fit)."""
        coefficients = (np.asarray(images, dtype=np.float64) - self.mean) @ self.components.T
        return self.mean + (coefficients * self.weights) @ self.components


def pca_degrade(images: np.ndarray, energy_loss: float) -> tuple[np.ndarray, PCADegradation]:
    """Remove the share ``energy_loss`` of the centred energy of ``images`` ``(N, D)`` by PCA projection.

    Returns the degraded images and the fitted :class:`PCADegradation`. ``energy_loss`` in [0, 1]:
    0 returns the images unchanged (up to rounding), 1 returns the mean image for every row.
    """
    loss = float(energy_loss)
    if not (math.isfinite(loss) and 0.0 <= loss <= 1.0):
        raise ParameterError(f"image_energy_loss={energy_loss!r} is invalid: expected a share of energy in [0, 1]")
    x = np.asarray(images, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ParameterError(f"images has shape {x.shape}: expected (N, D) with N >= 2 flattened images")
    mean = x.mean(axis=0)
    # The right singular vectors and energies S_i² of X - μ are the eigenvectors and eigenvalues
    # of the (D, D) Gram matrix (X - μ)ᵀ(X - μ): a complete basis of the D-dim space without the
    # (N, N) U of a full SVD (5.7 s for the 1797 x 64 digits on the test machine).
    centred = x - mean
    eigenvalues, eigenvectors = np.linalg.eigh(centred.T @ centred)
    order = np.argsort(eigenvalues)[::-1]
    energies = np.clip(eigenvalues[order], 0.0, None)
    vt = eigenvectors[:, order].T
    cumulative = np.concatenate([[0.0], np.cumsum(energies)])
    target = (1.0 - loss) * cumulative[-1]
    kept = int(np.searchsorted(cumulative, target, side="right")) - 1  # largest k with cum[k] <= target
    kept = min(kept, len(energies))
    alpha = 0.0
    if kept < len(energies) and energies[kept] > 0:
        alpha = math.sqrt(max(target - cumulative[kept], 0.0) / energies[kept])
    fit = PCADegradation(mean=mean, components=vt, energies=energies, kept=kept, alpha=alpha, energy_loss=loss)
    return fit.apply(x), fit


def load_digit_images() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled handwritten digits: ``(1797, 64)`` float64 in [0, 1] and labels (1797,)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.data.astype(np.float64) / 16.0, digits.target.astype(np.int64)


def digits_manifest(
    source: PathLike | Manifest,
    *,
    test_speakers: Sequence[str] | str = ("theo",),
    val_speakers: Sequence[str] | str = (),
    speakers_csv: PathLike | None | bool = True,
) -> Manifest:
    """The spoken-digit rows AVDigits pairs: an FSDD-style folder (:func:`fsdd_manifest`), a
    manifest file (CSV/JSONL) or a :class:`Manifest`; every row needs ``audio``, a ``label`` in
    0-9 and a ``split`` (or a ``group``, the speaker, when the manifest has no split column)."""
    if isinstance(source, Manifest):
        manifest = source
    else:
        path = Path(source)
        if path.is_dir():
            return fsdd_manifest(path, test_speakers=test_speakers, val_speakers=val_speakers,
                                 speakers_csv=speakers_csv)
        if not path.is_file():
            raise ParameterError(
                f"{path}: not found. Pass an FSDD recordings folder, a manifest file (CSV/JSONL) or a Manifest"
            )
        manifest = read_manifest(path)
    if manifest.classes is not None and manifest.classes != DIGIT_WORDS:
        manifest = manifest.with_classes(DIGIT_WORDS)  # digit names (zero .. nine) to the digits' ids
    for row in manifest.rows:
        if row.audio is None:
            raise manifest.error(row, "no audio", "give every row an audio file")
        if row.label is None or not 0 <= int(row.label) <= 9:
            raise manifest.error(row, f"label {row.label!r} is not a digit 0-9", "label each row with its digit")
    if not manifest.has_splits or any(r.split is None for r in manifest.rows):
        test, val = speaker_list("test_speakers", test_speakers), speaker_list("val_speakers", val_speakers)
        for row in manifest.rows:
            if row.split is None and not row.group:
                raise manifest.error(row, "no split and no group (speaker)",
                                     "give the manifest a split column, or a group column naming the speaker")
        manifest = manifest.with_splits([
            r.split or ("test" if r.group in test else "val" if r.group in val else "train") for r in manifest.rows
        ])
    return manifest


def _item_seed(seed: int, recording: str) -> int:
    """A noise seed from the dataset seed and the recording's name (independent of row order)."""
    digest = int.from_bytes(hashlib.sha256(recording.encode()).digest()[:8], "little")
    return int(np.random.SeedSequence([seed, digest]).generate_state(1)[0])


class AVDigits(torch.utils.data.Dataset):
    """Audio-visual digits (see the module docstring).

    Parameters
    ----------
    source: the FSDD recordings folder (``{digit}_{speaker}_{index}.wav``), or a manifest of
        spoken digits (a CSV/JSONL path or a :class:`~polysense.data.manifest.Manifest`; see
        :func:`digits_manifest`).
    split: ``train``, ``val``, ``test`` or None (every sample).
    test_speakers, val_speakers, speakers_csv: the speaker-independent split, as in
        :func:`~polysense.data.fsdd.fsdd_manifest` (for a manifest without a ``split`` column,
        the speakers are its ``group`` values).
    image_energy_loss: share of the images' energy removed by PCA (AV-MNIST used 0.75).
    snr_db: speech-to-noise ratio of the audio in dB (None: clean audio).
    seed: image pools, pairing and noise all follow it.
    sample_rate: audio is resampled to it on load (FSDD is 8 kHz).
    image_size: the 8×8 image is upsampled (bilinear) to this side; 8 keeps it as is.
    image_mean, image_std: normalisation ``(x - mean) / std`` of the [0, 1] grey image repeated
        on three channels, as :class:`~polysense.data.dataset.ManifestDataset` does.
    include_text: add the FSDD caption as ``text`` (it names the digit, so it gives the label away).

    Items: ``id`` (``"<recording>+img<k>"``), ``audio`` (float32 ``(time,)``), ``sample_rate``,
    ``image`` (float32 ``(3, image_size, image_size)``), ``label`` (the digit), ``group`` (speaker),
    and ``text`` when asked.
    """

    def __init__(
        self,
        source: PathLike | Manifest,
        *,
        split: str | None = None,
        test_speakers: Sequence[str] | str = ("theo",),
        val_speakers: Sequence[str] | str = (),
        speakers_csv: PathLike | None | bool = True,
        image_energy_loss: float = 0.75,
        snr_db: float | None = 0.0,
        seed: int = 0,
        sample_rate: int = NATIVE_SAMPLE_RATE,
        image_size: int = 8,
        image_mean: Sequence[float] = IMAGENET_MEAN,
        image_std: Sequence[float] = IMAGENET_STD,
        include_text: bool = False,
    ) -> None:
        check_split_name(split)
        if snr_db is not None and not math.isfinite(float(snr_db)):
            raise ParameterError(f"snr_db={snr_db!r} is invalid: expected a finite number of dB, or None for clean audio")
        self.seed = check_positive_int("seed", seed, minimum=0)
        self.snr_db = None if snr_db is None else float(snr_db)
        self.sample_rate = check_positive_int("sample_rate", sample_rate, what="Hz")
        self.image_size = check_positive_int("image_size", image_size, what="pixels")
        self.include_text = bool(include_text)
        self._mean, self._std = image_normalization(image_mean, image_std)

        manifest = digits_manifest(source, test_speakers=test_speakers, val_speakers=val_speakers,
                                   speakers_csv=speakers_csv)
        clean, self.image_labels = load_digit_images()
        self.images, self.degradation = pca_degrade(clean, image_energy_loss)

        # Disjoint image pools, one per split, in proportion to the splits' audio counts.
        names = [s for s in SPLITS if any(r.split == s for r in manifest.rows)]
        counts = [sum(r.split == s for r in manifest.rows) for s in names]
        self.image_pools: dict[str, list[int]] = split_indices(
            self.image_labels.tolist(), fractions=counts, seed=self.seed, stratify=True, names=names
        )
        rng = np.random.default_rng([self.seed, 1])
        pairs: dict[int, int] = {}
        for name in names:
            pool = np.asarray(self.image_pools[name])
            for digit in range(10):
                rows = [i for i, r in enumerate(manifest.rows) if r.split == name and r.label == digit]
                images = pool[self.image_labels[pool] == digit]
                if rows and images.size == 0:
                    raise ParameterError(f"the {name} image pool has no image of digit {digit}: use a larger split")
                rows = [rows[j] for j in rng.permutation(len(rows))]
                images = images[rng.permutation(images.size)]
                for j, i in enumerate(rows):
                    pairs[i] = int(images[j % images.size])
        keep = [i for i, r in enumerate(manifest.rows) if split is None or r.split == split]
        if not keep:
            raise ParameterError(f"split={split!r} has no recordings with these speakers: choose one of {', '.join(names)}")
        self.manifest = manifest.select(keep)
        self.pairs: list[int] = [pairs[i] for i in keep]  # image index of each item
        self.split = split

    def __len__(self) -> int:
        return len(self.manifest)

    @property
    def labels(self) -> list[int]:
        return [int(r.label) for r in self.manifest.rows]

    @property
    def groups(self) -> list[str]:
        return [str(r.group) for r in self.manifest.rows]

    def clean_audio(self, item: int) -> torch.Tensor:
        """The recording of ``item`` before noise (float32, at ``sample_rate``)."""
        waveform, _ = audio_io.load(self.manifest.rows[item].audio, sample_rate=self.sample_rate, mono=True)
        return waveform

    def image_tensor(self, image_index: int) -> torch.Tensor:
        """Degraded image ``image_index`` as float32 ``(3, image_size, image_size)``, normalised."""
        x = torch.from_numpy(self.images[image_index].reshape(1, 1, 8, 8)).to(torch.float32)
        if self.image_size != 8:
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False)
        return normalize_image(x[0].expand(3, -1, -1), mean=self._mean, std=self._std)

    def __getitem__(self, item: int) -> dict[str, Any]:
        if not -len(self) <= item < len(self):
            raise IndexError(f"index {item} is out of range for a dataset of {len(self)} samples")
        row = self.manifest.rows[item]
        waveform = self.clean_audio(item)
        if self.snr_db is not None:
            generator = torch.Generator().manual_seed(_item_seed(self.seed, row.id))
            waveform = add_noise(waveform, snr_db=self.snr_db, generator=generator)
        image_index = self.pairs[item]
        sample: dict[str, Any] = {
            "id": f"{row.id}+img{image_index}",
            "audio": waveform,
            "sample_rate": self.sample_rate,
            "image": self.image_tensor(image_index),
            "label": int(row.label),
            "group": str(row.group),
        }
        if self.include_text:
            sample["text"] = row.text
        return sample
