"""The synthetic tri-modal dataset: determinism, the A/D path, attributes that show in the data,
a fusion task that neither modality solves alone, speed, and the on-disk round trip."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from polysense.data.dataset import IMAGENET_MEAN, IMAGENET_STD, ManifestDataset
from polysense.data.manifest import read_manifest
from polysense.data.synthetic import (
    ATTRIBUTES,
    TASKS,
    SyntheticConfig,
    SyntheticTriModal,
    generate_sample,
    write_synthetic,
)
from polysense.errors import ParameterError

MEAN = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
STD = torch.tensor(IMAGENET_STD).view(3, 1, 1)


def pixels(image: torch.Tensor) -> torch.Tensor:
    """Undo the normalisation: (3, H, W) in 0..255."""
    return ((image * STD + MEAN) * 255).round()


def same_sample(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    return all(torch.equal(a[k], b[k]) if isinstance(a[k], torch.Tensor) else a[k] == b[k] for k in a)


@pytest.fixture(scope="module")
def clean():
    """Noise-free samples (no background noise, no pixel noise) for measuring attributes."""
    return SyntheticTriModal(300, snr_db=None, image_noise=0.0, seed=3)


def test_same_seed_gives_identical_samples_in_any_order():
    a = SyntheticTriModal(40, seed=7)
    b = SyntheticTriModal(40, seed=7)
    forward = [a[i] for i in range(40)]
    backward = [b[i] for i in reversed(range(40))][::-1]
    assert all(same_sample(x, y) for x, y in zip(forward, backward))
    other = SyntheticTriModal(40, seed=8)
    assert sum(same_sample(forward[i], other[i]) for i in range(40)) == 0
    # a subset view keeps the samples' identity
    sub = SyntheticTriModal(40, seed=7, indices=[5, 30])
    assert same_sample(sub[1], forward[30])


def test_sample_dict_follows_the_interface():
    ds = SyntheticTriModal(5, sample_rate=8000, image_size=24, task="image")
    s = ds[0]
    assert set(s) == {"id", "audio", "sample_rate", "image", "text", "label", "labels", "group"}
    assert s["audio"].dtype == torch.float32 and s["audio"].shape == (8000,)
    assert s["sample_rate"] == 8000
    assert s["image"].dtype == torch.float32 and s["image"].shape == (3, 24, 24)
    assert isinstance(s["text"], str) and s["id"] == "synthetic-00000"
    assert set(s["labels"]) == set(TASKS)
    assert s["label"] == s["labels"]["image"]
    assert s["group"].startswith("site")
    assert len(ds) == 5 and ds.classes == TASKS["image"]
    with pytest.raises(IndexError):
        ds[5]


def test_variable_length_clips_fit_the_event():
    ds = SyntheticTriModal(30, clip_duration_s=None, sample_rate=8000)
    for i in range(30):
        n = ds[i]["audio"].numel()
        event = ds.attributes(i)["event_duration_s"]
        assert event + 0.1 <= n / 8000 <= event + 0.3 + 1e-3


@pytest.mark.parametrize("bits", [4, 8, 16])
def test_audio_is_quantised_to_the_bit_depth(bits):
    ds = SyntheticTriModal(10, bit_depth=bits, sample_rate=8000)
    for i in range(10):
        codes = ds[i]["audio"].double() * 2 ** (bits - 1)
        assert torch.equal(codes, codes.round()), "samples lie on the 2^(1-bits) grid"
        assert codes.min() >= -(2 ** (bits - 1)) and codes.max() <= 2 ** (bits - 1) - 1
    # coarse quantisation hears fewer distinct levels than fine quantisation
    levels = lambda b: len(torch.unique(SyntheticTriModal(1, bit_depth=b, snr_db=None)[0]["audio"]))  # noqa: E731
    assert levels(4) <= 16 < levels(16)


def test_loudness_sets_the_peak_level(clean):
    for i in range(60):
        attrs = clean.attributes(i)
        peak_db = 20 * math.log10(float(clean[i]["audio"].abs().max()))
        assert abs(peak_db - attrs["peak_dbfs"]) < 0.1  # the event's peak, up to 16-bit rounding
        assert (peak_db < -19) == (attrs["loudness"] == "quiet")


def dominant_hz(x: torch.Tensor, sample_rate: int) -> float:
    spectrum = torch.fft.rfft(x.double() * torch.hann_window(x.numel(), dtype=torch.float64)).abs()
    return float(spectrum.argmax()) * sample_rate / x.numel()


def event_span(x: torch.Tensor) -> torch.Tensor:
    idx = torch.nonzero(x.abs() > 0).flatten()
    return x[idx[0] : idx[-1] + 1]


def test_pitch_and_direction_are_audible(clean):
    checked = Counter()
    for i in range(len(clean)):
        attrs = clean.attributes(i)
        event = event_span(clean[i]["audio"])
        if attrs["kind"] in ("tone", "harmonic") and attrs["direction"] == "steady":
            assert abs(dominant_hz(event, 16000) - attrs["f0_hz"]) < 16000 / event.numel() + 2
            checked["pitch"] += 1
        if attrs["kind"] == "chirp":
            third = event.numel() // 3
            start, end = dominant_hz(event[:third], 16000), dominant_hz(event[-third:], 16000)
            assert (end > start) == (attrs["direction"] == "rising")
            checked["direction"] += 1
        low, high = (150, 250 * math.sqrt(2)), (700 / math.sqrt(2), 1200 * math.sqrt(2) * 1.3)
        band = low if attrs["pitch"] == "low" else high
        if attrs["kind"] != "harmonic":  # a harmonic stack's strongest partial need not be the fundamental
            assert band[0] * 0.75 <= dominant_hz(event, 16000) <= band[1]
            checked["band"] += 1
    assert checked["pitch"] > 5 and checked["direction"] > 5 and checked["band"] > 100


def test_duration_attribute_sets_the_event_length(clean):
    checked = 0
    for i in range(80):
        attrs = clean.attributes(i)
        if attrs["kind"] == "clicks":  # silent between clicks: the span runs from first to last click
            continue
        n = event_span(clean[i]["audio"]).numel()
        assert abs(n / 16000 - attrs["event_duration_s"]) < 0.01  # quiet ramp ends round to zero
        assert (n / 16000 < 0.4) == (attrs["duration"] == "short")
        checked += 1
    assert checked > 40


def test_image_colour_shape_and_size_show_in_the_pixels(clean):
    rgb = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (50, 80, 220), "yellow": (230, 200, 40)}
    areas = {(shape, size): [] for shape in ATTRIBUTES["shape"] for size in ("small", "large")}
    for i in range(120):
        attrs = clean.attributes(i)
        img = pixels(clean[i]["image"])
        background = img[:, 0, 0]
        difference = (img - background[:, None, None]).abs().sum(0)
        foreground = difference > 60
        area = float(foreground.float().mean())
        areas[attrs["shape"], attrs["size"]].append(area)
        inner = difference >= 0.95 * difference.max()  # pixels wholly inside the shape (edges are blended)
        colour = img[:, inner].mean(1)
        assert float((colour - torch.tensor(rgb[attrs["colour"]])).abs().max()) <= 16  # ±15 jitter + rounding
        if attrs["shape"] == "square":  # a square fills its bounding box, a triangle about half of it
            rows, cols = torch.nonzero(foreground, as_tuple=True)
            box = (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
            assert float(foreground.sum()) / float(box) > 0.9
    for shape in ATTRIBUTES["shape"]:  # per shape, every small one is smaller than every large one
        assert max(areas[shape, "small"]) < min(areas[shape, "large"])


def test_captions_name_every_attribute(clean):
    nouns = {"tone": "tone", "chirp": "chirp", "harmonic": "harmonic hum", "noise": "noise burst", "clicks": "click train"}
    for i in range(50):
        attrs, text = clean.attributes(i), clean[i]["text"]
        for name in ("pitch", "loudness", "shape", "colour", "size"):
            assert attrs[name] in text.split()
        assert nouns[attrs["kind"]] in text
        assert {"rising": "rises", "falling": "falls", "steady": "holds steady"}[attrs["direction"]] in text
    assert SyntheticTriModal(1, seed=0)[0]["text"].startswith("a ")


def test_labels_follow_the_attributes_and_are_balanced():
    ds = SyntheticTriModal(2000)
    attrs = [ds.attributes(i) for i in range(len(ds))]
    for task in ("audio", "image", "both", "pitch", "colour"):
        labels = ds.targets(task)
        counts = Counter(labels)
        assert set(counts) == set(range(len(TASKS[task])))
        assert min(counts.values()) > 0.7 * len(ds) / len(TASKS[task])
    both = ds.targets("both")
    for a, y in zip(attrs, both):
        assert y == int(a["pitch"] == "high") ^ int(a["size"] == "large")
    for name, values in ATTRIBUTES.items():
        assert {a[name] for a in attrs} == set(values)
    assert Counter(ds.groups).keys() == {f"site{k}" for k in range(8)}


def audio_pitch_feature(x: torch.Tensor) -> float:
    """Spectral centroid of the clip in log-Hz: separates low from high events."""
    spectrum = torch.fft.rfft(x.double()).abs() ** 2
    freqs = torch.fft.rfftfreq(x.numel(), 1 / 16000, dtype=torch.float64)
    return math.log(float((spectrum * freqs).sum() / spectrum.sum()))


def image_size_feature(image: torch.Tensor) -> float:
    img = pixels(image)
    background = img.flatten(1).median(dim=1).values
    return float(((img - background[:, None, None]).abs().sum(0) > 60).float().mean())


def test_the_both_task_needs_both_modalities():
    """A classifier seeing one modality is at chance on "both"; seeing both, it solves it.

    Features are measured from the data (the audio's spectral centroid, the picture's foreground
    area); each alone predicts its own attribute well, but "both" = pitch XOR size.
    """
    ds = SyntheticTriModal(600, seed=11)
    a = np.array([[audio_pitch_feature(ds[i]["audio"])] for i in range(len(ds))])
    v = np.array([[image_size_feature(ds[i]["image"])] for i in range(len(ds))])
    y = np.array(ds.targets("both"))

    def accuracy(features, labels):
        model = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=15))
        return cross_val_score(model, features, labels, cv=5).mean()

    assert accuracy(a, ds.targets("pitch")) > 0.95  # the features carry their attributes
    assert accuracy(v, ds.targets("size")) > 0.95
    assert accuracy(a, y) < 0.6  # chance is 0.5
    assert accuracy(v, y) < 0.6
    assert accuracy(np.hstack([a, v]), y) > 0.9


def test_generation_restores_the_callers_thread_setting():
    # Generation runs its small ops on one thread (see synthetic.py); the caller's setting must
    # survive. Speed itself is measured in benchmarks/synthetic.py, never asserted here.
    torch.set_num_threads(2)
    try:
        ds = SyntheticTriModal(4)
        for i in range(len(ds)):
            ds[i]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)


def test_splits_are_group_aware_and_stratified():
    ds = SyntheticTriModal(800)
    parts = ds.split_indices(fractions=(0.7, 0.15, 0.15), seed=0)
    assert set(parts) == {"train", "val", "test"}
    assert sorted(i for idx in parts.values() for i in idx) == list(range(800))
    sites = {name: {ds.groups[i] for i in idx} for name, idx in parts.items()}
    assert not (sites["train"] & sites["val"]) and not (sites["train"] & sites["test"]) and not (sites["val"] & sites["test"])
    assert parts == ds.split_indices(fractions=(0.7, 0.15, 0.15), seed=0)


def test_write_synthetic_round_trips_through_the_manifest_reader(tmp_path):
    kwargs = dict(num_samples=60, sample_rate=8000, bit_depth=8, clip_duration_s=None, image_size=16, seed=2)
    path = write_synthetic(tmp_path / "syn", task="audio", **kwargs)
    manifest = read_manifest(path)
    assert manifest.columns[:7] == ("id", "audio", "image", "text", "label", "split", "group")
    assert set(manifest.label_tasks) == set(TASKS)
    assert {r.split for r in manifest.rows} == {"train", "val", "test"}
    assert manifest.rows[0].meta["kind"] in ATTRIBUTES["kind"]
    from_files = ManifestDataset(manifest, sample_rate=8000, image_size=16)
    in_memory = SyntheticTriModal(**{k: v for k, v in kwargs.items() if k != "num_samples"},
                                  num_samples=60, task="audio")
    for i in range(60):
        assert same_sample(from_files[i], in_memory[i]), f"sample {i} differs after the round trip"


def test_config_errors_say_what_to_change():
    with pytest.raises(ParameterError, match="sample_rate=2000"):
        SyntheticConfig(sample_rate=2000)
    with pytest.raises(ParameterError, match="bit_depth=32"):
        SyntheticConfig(bit_depth=32)
    with pytest.raises(ParameterError, match="clip_duration_s=0.5"):
        SyntheticConfig(clip_duration_s=0.5)
    with pytest.raises(ParameterError, match="task='colours'"):
        SyntheticTriModal(4, task="colours")
    with pytest.raises(ParameterError, match="indices"):
        SyntheticTriModal(4, indices=[4])
    with pytest.raises(ParameterError, match=r"image_std=\(1, 0, 1\) are invalid"):
        SyntheticTriModal(4, image_std=(1, 0, 1))


def test_generate_sample_is_a_pure_function_of_config_and_index():
    config = SyntheticConfig(num_samples=10, seed=4)
    a, b = generate_sample(config, 3), generate_sample(config, 3)
    assert torch.equal(a["audio"], b["audio"]) and np.array_equal(a["pixels"], b["pixels"]) and a["text"] == b["text"]
    assert a["pixels"].dtype == np.uint8 and a["pixels"].shape == (32, 32, 3)


def test_batches_through_collate_with_masks_and_every_task():
    from polysense.data.collate import collate

    ds = SyntheticTriModal(8, clip_duration_s=None, sample_rate=8000, task="both")
    loader = torch.utils.data.DataLoader(ds, batch_size=4, collate_fn=collate)
    batch = next(iter(loader))
    lengths = [ds[i]["audio"].numel() for i in range(4)]
    assert batch["audio"].shape == (4, max(lengths))
    assert batch["audio_mask"].sum(1).tolist() == lengths
    assert batch["image"].shape == (4, 3, 32, 32)
    assert batch["label"].tolist() == ds.targets("both")[:4]
    assert set(batch["labels"]) == set(TASKS) and batch["labels"]["audio"].shape == (4,)
