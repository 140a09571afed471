"""``synthetic``: a deterministic tri-modal dataset (audio event, picture, caption) needing no files.

Each sample ``i`` is a pure function of ``(seed, i)`` and the configuration: the same arguments
give bit-identical samples in any order, on any machine, with no global random state touched.

Audio
-----
One sound event in a clip of ``clip_duration_s`` seconds (or, with ``clip_duration_s=None``, a clip
of variable length: the event plus 0.05–0.15 s of lead and tail). The event follows a frequency
trajectory ``f(t)``: constant (``steady``) or an exponential sweep over one octave centred on the
fundamental ``f0`` (``rising``: ``f0/√2 → f0·√2``; ``falling``: the reverse). Kinds:

=========  ====================================================================  ==========================
kind       carrier                                                               directions
=========  ====================================================================  ==========================
tone       one sinusoid at ``f(t)``                                              steady
chirp      one sinusoid at ``f(t)``                                              rising, falling
harmonic   partials ``k·f(t)``, ``k = 1..6``, amplitude ``1/k``                  rising, falling, steady
noise      24 partials at random frequencies in ``f(t)·2^[-1/3, 1/3]`` with      rising, falling, steady
           random phases (a third-octave noise band following ``f(t)``)
clicks     a sinusoid at ``f(t)`` gated by Hann pulses three periods of ``f0``    rising, falling, steady
           long, 10–16 per second
=========  ====================================================================  ==========================

``pitch`` sets ``f0``: ``low`` ∈ [150, 250] Hz, ``high`` ∈ [700, 1200] Hz (so every partial of a low
event stays below 355 Hz·k and every high fundamental above 495 Hz). ``duration``: ``short`` ∈
[0.15, 0.3] s, ``long`` ∈ [0.5, 0.8] s, with 10 ms raised-cosine onset and offset ramps.
``loudness``: the event's peak is ``quiet`` ∈ [-26, -20] dBFS or ``loud`` ∈ [-8, -3] dBFS.

The A/D path of the front end: the continuous-time event is sampled at ``sample_rate`` by
:func:`polysense.signal.sampling.sinusoid` / :func:`~polysense.signal.sampling.chirp`; partials
whose highest frequency would exceed 0.45·``sample_rate`` are dropped (the anti-aliasing filter in
front of the converter), background noise of the sample's recording *site* is added at ``snr_db``
below the event (power ratio over the event's span; ``snr_db=None``: no noise), and the sum is
quantised to ``bit_depth`` bits by :func:`polysense.signal.quantization.quantize_bits` (full scale 1).
Each site (``group`` ``"site0"`` …) has its own noise colour (a one-pole low-pass of white noise) and
image background, so group-aware splits have something to keep apart.

Image
-----
A ``image_size``×``image_size`` RGB picture (4× supersampled, anti-aliased) of one ``shape``
(square, circle, triangle, cross) in one ``colour`` (red, green, blue, yellow; ±15 levels of jitter
per channel) and ``size`` (``small``: half-extent 13–20 % of the side, ``large``: 30–40 %), at a
random position on the site's grey background, plus Gaussian pixel noise of ``image_noise``
(fraction of full scale). It is rendered as 8-bit RGB, so the PNG written by :func:`write_synthetic`
holds exactly the same pixels.

Caption and labels
------------------
A caption states every attribute, e.g. ``"a small red square while a quiet low tone holds steady
briefly"`` (three templates), so text alone predicts every task. Label tasks (:data:`TASKS`):

* ``"audio"``: the kind (5 classes); ``"image"``: the shape (4 classes);
* ``"both"``: ``(pitch == "high") XOR (size == "large")`` (2 classes). All attributes are drawn
  independently and uniformly (direction: uniform over the kind's allowed directions), so the label
  is independent of the audio alone and of the image alone: a classifier seeing one modality is
  at chance (50 %), one seeing both can be perfect;
* the single attributes ``pitch``, ``direction``, ``duration``, ``loudness``, ``colour``, ``size``.

Speed (2 shared CPU cores, measured): 2,000 samples (1 s at 16 kHz, 32×32 images) take about 2.4 s
of CPU time in memory (2.3–5 s wall under load) and about 7 s of CPU time written to disk by
:func:`write_synthetic`; ``tests/data/test_synthetic.py`` holds the 30 s bound. The audio is
synthesised on one intra-op thread (see :func:`_one_thread`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.signal
import torch
from PIL import Image

from polysense._checks import check_choice, check_positive_float, check_positive_int, check_sample_rate
from polysense.audio import save
from polysense.data.dataset import IMAGENET_MEAN, IMAGENET_STD, image_normalization, normalize_image
from polysense.data.manifest import COLUMNS, Manifest, Row, write_manifest
from polysense.data.splits import split_indices
from polysense.errors import ParameterError
from polysense.signal.quantization import quantize_bits
from polysense.signal.sampling import chirp, sinusoid
from polysense.signal.windows import get_window

__all__ = [
    "ATTRIBUTES",
    "TASKS",
    "SyntheticConfig",
    "SyntheticTriModal",
    "generate_sample",
    "sample_attributes",
    "write_sound_folder",
    "write_synthetic",
]

# ------------------------------------------------------------------------------------------
# attribute vocabulary
# ------------------------------------------------------------------------------------------

KINDS = ("tone", "chirp", "harmonic", "noise", "clicks")
PITCHES = ("low", "high")
DIRECTIONS = ("rising", "falling", "steady")
DURATIONS = ("short", "long")
LOUDNESSES = ("quiet", "loud")
SHAPES = ("square", "circle", "triangle", "cross")
COLOURS = ("red", "green", "blue", "yellow")
SIZES = ("small", "large")

ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "kind": KINDS,
    "pitch": PITCHES,
    "direction": DIRECTIONS,
    "duration": DURATIONS,
    "loudness": LOUDNESSES,
    "shape": SHAPES,
    "colour": COLOURS,
    "size": SIZES,
}

BOTH_CLASSES = ("low+small or high+large", "low+large or high+small")

#: task name -> class names (label ``k`` is ``TASKS[task][k]``)
TASKS: dict[str, tuple[str, ...]] = {
    "audio": KINDS,
    "image": SHAPES,
    "both": BOTH_CLASSES,
    "pitch": PITCHES,
    "direction": DIRECTIONS,
    "duration": DURATIONS,
    "loudness": LOUDNESSES,
    "colour": COLOURS,
    "size": SIZES,
}

_ALLOWED_DIRECTIONS = {
    "tone": ("steady",),
    "chirp": ("rising", "falling"),
    "harmonic": DIRECTIONS,
    "noise": DIRECTIONS,
    "clicks": DIRECTIONS,
}
_PITCH_HZ = {"low": (150.0, 250.0), "high": (700.0, 1200.0)}
_DURATION_S = {"short": (0.15, 0.3), "long": (0.5, 0.8)}
_PEAK_DBFS = {"quiet": (-26.0, -20.0), "loud": (-8.0, -3.0)}
_SIZE_FRACTION = {"small": (0.13, 0.20), "large": (0.30, 0.40)}
_RGB = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (50, 80, 220), "yellow": (230, 200, 40)}
_NOUNS = {"tone": "tone", "chirp": "chirp", "harmonic": "harmonic hum", "noise": "noise burst", "clicks": "click train"}
_VERBS = {"rising": "rises", "falling": "falls", "steady": "holds steady"}
_DURATION_WORDS = {"short": "briefly", "long": "for a long while"}
_TEMPLATES = (
    "a {size} {colour} {shape} while a {loudness} {pitch} {noun} {verb} {duration}",
    "a {loudness} {pitch} {noun} {verb} {duration} beside a {size} {colour} {shape}",
    "a {size} {colour} {shape} as a {loudness} {pitch} {noun} {verb} {duration}",
)
_SWEEP = math.sqrt(2.0)  # a sweep spans f0/√2 .. f0·√2 (one octave)
_HARMONICS = 6
_NOISE_PARTIALS = 24
_RAMP_S = 0.010
_CLICK_PERIODS = 3  # a click lasts three periods of f0, so its pitch is heard
_MIN_SAMPLE_RATE = 4000  # the highest fundamental, 1200·√2 ≈ 1697 Hz, must stay below 0.45·sr
_ANTI_ALIAS = 0.45  # partials above this share of the sample rate are dropped before sampling
_SUPERSAMPLE = 4
_NOT_META = ("group", "template")  # attributes the manifest holds elsewhere or that only pick wording


# ------------------------------------------------------------------------------------------
# configuration
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyntheticConfig:
    """Every setting of the generator; two equal configs generate identical samples.

    ``num_samples``: dataset size; ``sample_rate`` (Hz, >= 4000) and ``bit_depth`` (2–24): the A/D
    converter; ``clip_duration_s``: clip length (>= 0.9 s), or None for variable-length clips;
    ``image_size``: side of the square picture in pixels (>= 8); ``snr_db``: event-to-background
    noise ratio in dB (None: no background noise); ``image_noise``: std of Gaussian pixel noise
    as a fraction of full scale; ``num_groups``: recording sites; ``seed``: the seed.
    """

    num_samples: int = 2000
    sample_rate: int = 16000
    bit_depth: int = 16
    clip_duration_s: float | None = 1.0
    image_size: int = 32
    snr_db: float | None = 30.0
    image_noise: float = 0.02
    num_groups: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        check_positive_int("num_samples", self.num_samples)
        sr = check_sample_rate(self.sample_rate)
        if sr != int(sr) or sr < _MIN_SAMPLE_RATE:
            raise ParameterError(
                f"sample_rate={self.sample_rate!r} is invalid: expected an integer >= {_MIN_SAMPLE_RATE} Hz "
                f"(the highest synthetic fundamental, {1200 * _SWEEP:.0f} Hz, must stay below "
                f"{_ANTI_ALIAS}·sample_rate)"
            )
        bits = check_positive_int("bit_depth", self.bit_depth, minimum=2, what="bits per sample")
        if bits > 24:
            raise ParameterError(f"bit_depth={bits} is invalid: expected 2..24 bits (24-bit PCM is the deepest written)")
        if self.clip_duration_s is not None:
            d = check_positive_float("clip_duration_s", self.clip_duration_s, what="seconds")
            if d < 0.9:
                raise ParameterError(
                    f"clip_duration_s={d} is too short: expected >= 0.9 s (long events last up to 0.8 s), "
                    "or None for clips that fit each event"
                )
        check_positive_int("image_size", self.image_size, minimum=8, what="pixels")
        if self.snr_db is not None and not math.isfinite(float(self.snr_db)):
            raise ParameterError(f"snr_db={self.snr_db!r} is invalid: expected a finite number of dB or None")
        check_positive_float("image_noise", self.image_noise, allow_zero=True, what="fraction of full scale")
        check_positive_int("num_groups", self.num_groups)
        check_positive_int("seed", self.seed, minimum=0)


# ------------------------------------------------------------------------------------------
# attributes
# ------------------------------------------------------------------------------------------


def _rng(config: SyntheticConfig, index: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, index, stream])


def sample_attributes(config: SyntheticConfig, index: int) -> dict[str, Any]:
    """The attributes of sample ``index`` (names and the continuous parameters drawn for it).

    Drawn from their own random stream, so labels are known without synthesising any audio.
    """
    rng = _rng(config, index, 0)
    kind = KINDS[rng.integers(len(KINDS))]
    allowed = _ALLOWED_DIRECTIONS[kind]
    attrs: dict[str, Any] = {
        "kind": kind,
        "pitch": PITCHES[rng.integers(2)],
        "direction": allowed[rng.integers(len(allowed))],
        "duration": DURATIONS[rng.integers(2)],
        "loudness": LOUDNESSES[rng.integers(2)],
        "shape": SHAPES[rng.integers(len(SHAPES))],
        "colour": COLOURS[rng.integers(len(COLOURS))],
        "size": SIZES[rng.integers(2)],
        "group": f"site{rng.integers(config.num_groups)}",
    }
    attrs["f0_hz"] = float(rng.uniform(*_PITCH_HZ[attrs["pitch"]]))
    attrs["event_duration_s"] = float(rng.uniform(*_DURATION_S[attrs["duration"]]))
    attrs["peak_dbfs"] = float(rng.uniform(*_PEAK_DBFS[attrs["loudness"]]))
    attrs["template"] = int(rng.integers(len(_TEMPLATES)))
    return attrs


def task_labels(attrs: dict[str, Any]) -> dict[str, int]:
    """The label of every task in :data:`TASKS` for one sample's attributes."""
    labels = {
        "audio": KINDS.index(attrs["kind"]),
        "image": SHAPES.index(attrs["shape"]),
        "both": int(attrs["pitch"] == "high") ^ int(attrs["size"] == "large"),
    }
    for name in ("pitch", "direction", "duration", "loudness", "colour", "size"):
        labels[name] = ATTRIBUTES[name].index(attrs[name])
    return labels


def caption(attrs: dict[str, Any]) -> str:
    """The caption of one sample: every attribute in words, in one of three templates."""
    return _TEMPLATES[attrs["template"]].format(
        size=attrs["size"],
        colour=attrs["colour"],
        shape=attrs["shape"],
        loudness=attrs["loudness"],
        pitch=attrs["pitch"],
        noun=_NOUNS[attrs["kind"]],
        verb=_VERBS[attrs["direction"]],
        duration=_DURATION_WORDS[attrs["duration"]],
    )


# ------------------------------------------------------------------------------------------
# audio
# ------------------------------------------------------------------------------------------


def _partials(kind: str, f0: float, sr: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(frequency multipliers of f(t), amplitudes, phases in cycles) of the event's partials."""
    if kind == "harmonic":
        mult = np.arange(1, _HARMONICS + 1, dtype=np.float64)
        amp = 1.0 / mult
    elif kind == "noise":
        mult = 2.0 ** rng.uniform(-1 / 3, 1 / 3, _NOISE_PARTIALS)
        amp = np.ones(_NOISE_PARTIALS)
    else:
        mult, amp = np.ones(1), np.ones(1)
    phase = rng.uniform(0.0, 1.0, mult.size)
    keep = mult * f0 * _SWEEP < _ANTI_ALIAS * sr  # highest frequency any sweep reaches
    keep[0] = True  # the fundamental always fits (sample_rate >= 4000 is checked)
    return mult[keep], amp[keep], phase[keep]


def _event(attrs: dict[str, Any], sr: int, rng: np.random.Generator) -> torch.Tensor:
    """The sampled event (float64, unit peak), before loudness, noise and quantisation."""
    n = max(int(round(attrs["event_duration_s"] * sr)), 1)
    f0 = attrs["f0_hz"]
    mult, amp, phase = _partials(attrs["kind"], f0, sr, rng)
    if attrs["direction"] == "steady":
        x = sinusoid(freq_hz=torch.from_numpy(mult * f0), sample_rate=sr, num_samples=n,
                     amplitude=torch.from_numpy(amp), phase=torch.from_numpy(phase))
    else:
        lo, hi = f0 / _SWEEP, f0 * _SWEEP
        start, end = (lo, hi) if attrs["direction"] == "rising" else (hi, lo)
        x = torch.zeros(n, dtype=torch.float64)
        for m, a, p in zip(mult, amp, phase):
            x += chirp(f0_hz=m * start, f1_hz=m * end, sample_rate=sr, num_samples=n,
                       method="exponential", amplitude=float(a), phase=float(p))
    env = torch.ones(n, dtype=torch.float64)
    if attrs["kind"] == "clicks":
        rate = rng.uniform(10.0, 16.0)
        width = max(int(round(_CLICK_PERIODS * sr / f0)), 3)
        pulse = get_window("hann", width, periodic=False)
        env = torch.zeros(n, dtype=torch.float64)
        first = rng.uniform(0.0, 1.0 / rate)
        for t in np.arange(first, n / sr, 1.0 / rate):
            s = int(t * sr)
            seg = env[s : s + width]
            seg += pulse[: seg.numel()]
    ramp = min(int(round(_RAMP_S * sr)), n // 2)
    if ramp > 0:
        r = get_window("hann", 2 * ramp)[:ramp]  # rising half: 0.5 - 0.5·cos(π·k / ramp)
        env[:ramp] *= r
        env[n - ramp :] *= r.flip(0)
    x = x * env
    peak = x.abs().max()
    return x / peak if peak > 0 else x


def _site(config: SyntheticConfig, group: str) -> tuple[float, int]:
    """(noise low-pass coefficient, image background grey level) of a recording site."""
    k = int(group.removeprefix("site"))
    rng = np.random.default_rng([config.seed, k, 2**31])
    return float(rng.uniform(0.0, 0.9)), int(rng.integers(30, 110))


def _audio(config: SyntheticConfig, attrs: dict[str, Any], rng: np.random.Generator) -> torch.Tensor:
    sr = int(config.sample_rate)
    event = _event(attrs, sr, rng) * 10 ** (attrs["peak_dbfs"] / 20)
    n_event = event.numel()
    if config.clip_duration_s is None:
        lead = int(round(rng.uniform(0.05, 0.15) * sr))
        total = n_event + lead + int(round(rng.uniform(0.05, 0.15) * sr))
    else:
        total = int(round(config.clip_duration_s * sr))
        lead = int(rng.integers(0, total - n_event + 1))
    clip = torch.zeros(total, dtype=torch.float64)
    clip[lead : lead + n_event] = event
    if config.snr_db is not None:
        coeff, _ = _site(config, attrs["group"])
        white = rng.standard_normal(total + 64)
        # one-pole low-pass y[t] = (1-c)·w[t] + c·y[t-1]; the first 64 samples let it settle
        coloured = scipy.signal.lfilter([1.0 - coeff], [1.0, -coeff], white)[64:]
        noise = torch.from_numpy(np.ascontiguousarray(coloured))
        p_event = event.square().mean()
        p_noise = noise.square().mean()
        clip += noise * torch.sqrt(p_event / (p_noise * 10 ** (float(config.snr_db) / 10)))
    return quantize_bits(clip, int(config.bit_depth)).to(torch.float32)


# ------------------------------------------------------------------------------------------
# image
# ------------------------------------------------------------------------------------------


def _shape_mask(shape: str, x: np.ndarray, y: np.ndarray, r: float) -> np.ndarray:
    """Inside-test of a shape of half-extent ``r`` centred at the origin (y grows downwards)."""
    if shape == "square":
        return (np.abs(x) <= 0.85 * r) & (np.abs(y) <= 0.85 * r)
    if shape == "circle":
        return x * x + y * y <= r * r
    if shape == "triangle":  # apex up at (0, -r), base at y = r/2
        return (y <= 0.5 * r) & (np.abs(x) <= (y + r) / math.sqrt(3.0))
    w = 0.3 * r  # cross
    return ((np.abs(x) <= r) & (np.abs(y) <= w)) | ((np.abs(x) <= w) & (np.abs(y) <= r))


def _image(config: SyntheticConfig, attrs: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    """The picture as uint8 ``(H, W, 3)``."""
    size = config.image_size
    r = rng.uniform(*_SIZE_FRACTION[attrs["size"]]) * size
    cx, cy = rng.uniform(r + 0.5, size - r - 0.5, 2)
    hi = size * _SUPERSAMPLE
    coords = (np.arange(hi) + 0.5) / _SUPERSAMPLE
    inside = _shape_mask(attrs["shape"], coords[None, :] - cx, coords[:, None] - cy, r)
    cover = inside.reshape(size, _SUPERSAMPLE, size, _SUPERSAMPLE).mean(axis=(1, 3))[..., None]
    _, grey = _site(config, attrs["group"])
    colour = np.clip(np.array(_RGB[attrs["colour"]], dtype=np.float64) + rng.uniform(-15, 15, 3), 0, 255)
    img = cover * colour + (1.0 - cover) * grey
    if config.image_noise > 0:
        img = img + rng.normal(0.0, 255.0 * config.image_noise, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def image_to_tensor(
    pixels: np.ndarray, *, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> torch.Tensor:
    """uint8 ``(H, W, 3)`` -> float32 ``(3, H, W)`` normalised as ``(x / 255 - mean) / std``.

    The normalisation of :class:`~polysense.data.dataset.ManifestDataset`, so a sample read back from
    :func:`write_synthetic`'s PNG is the same tensor.
    """
    x = torch.from_numpy(pixels).permute(2, 0, 1).to(torch.float32).div_(255.0)
    return normalize_image(x, mean=mean, std=std)


# ------------------------------------------------------------------------------------------
# samples and the dataset
# ------------------------------------------------------------------------------------------


def _sample_id(index: int) -> str:
    return f"synthetic-{index:05d}"


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch on one intra-op thread, then restore the setting.

    A sample's tensors are small (about 10^4 samples): splitting their operations over threads
    gains nothing, and when other processes keep the cores busy, waiting for the second thread
    made generation ten times slower in measurements on 2 shared cores.
    """
    threads = torch.get_num_threads()
    if threads != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if threads != 1:
            torch.set_num_threads(threads)


def generate_sample(config: SyntheticConfig, index: int) -> dict[str, Any]:
    """Sample ``index`` of ``config`` as raw parts: attributes, audio tensor, uint8 image, caption."""
    attrs = sample_attributes(config, index)
    rng = _rng(config, index, 1)
    with _one_thread():
        audio = _audio(config, attrs, rng)
    pixels = _image(config, attrs, rng)
    return {"attributes": attrs, "audio": audio, "pixels": pixels, "text": caption(attrs)}


class SyntheticTriModal(torch.utils.data.Dataset):
    """The synthetic tri-modal dataset as a map-style torch Dataset.

    ``dataset[i]`` is the sample dict of the data layer: ``id`` (``"synthetic-00042"``), ``audio``
    (float32 ``(time,)``), ``sample_rate``, ``image`` (float32 ``(3, H, W)``, normalised with
    ``image_mean``/``image_std`` as :class:`~polysense.data.dataset.ManifestDataset` does), ``text``,
    ``label`` (of ``task``), ``labels`` (every task of :data:`TASKS`) and ``group`` (the site).
    Samples are synthesised on access (no storage); ``indices`` restricts the dataset to a subset
    (e.g. one split from :meth:`split_indices`) while keeping each sample's identity.

    Arguments are those of :class:`SyntheticConfig` plus ``task`` (which task ``label`` holds).
    """

    def __init__(
        self,
        num_samples: int = 2000,
        *,
        sample_rate: int = 16000,
        bit_depth: int = 16,
        clip_duration_s: float | None = 1.0,
        image_size: int = 32,
        snr_db: float | None = 30.0,
        image_noise: float = 0.02,
        num_groups: int = 8,
        seed: int = 0,
        task: str = "both",
        indices: Sequence[int] | None = None,
        image_mean: Sequence[float] = IMAGENET_MEAN,
        image_std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        self.config = SyntheticConfig(
            num_samples=num_samples, sample_rate=sample_rate, bit_depth=bit_depth,
            clip_duration_s=clip_duration_s, image_size=image_size, snr_db=snr_db,
            image_noise=image_noise, num_groups=num_groups, seed=seed,
        )
        self.task = check_choice("task", task, TASKS)
        image_normalization(image_mean, image_std)  # checked here, not on the first item
        self.image_mean, self.image_std = tuple(image_mean), tuple(image_std)
        if indices is None:
            self.indices = list(range(num_samples))
        else:
            self.indices = [int(i) for i in indices]
            bad = [i for i in self.indices if not 0 <= i < num_samples]
            if bad:
                raise ParameterError(f"indices {bad[:5]} are outside [0, {num_samples}): pick sample indices of this dataset")
        self._attributes = [sample_attributes(self.config, i) for i in self.indices]

    @classmethod
    def from_config(cls, config: SyntheticConfig, *, task: str = "both", indices=None) -> SyntheticTriModal:
        return cls(**asdict(config), task=task, indices=indices)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int) -> dict[str, Any]:
        if not -len(self) <= item < len(self):
            raise IndexError(f"index {item} is out of range for a dataset of {len(self)} samples")
        index = self.indices[item]
        raw = generate_sample(self.config, index)
        labels = task_labels(raw["attributes"])
        return {
            "id": _sample_id(index),
            "audio": raw["audio"],
            "sample_rate": int(self.config.sample_rate),
            "image": image_to_tensor(raw["pixels"], mean=self.image_mean, std=self.image_std),
            "text": raw["text"],
            "label": labels[self.task],
            "labels": labels,
            "group": raw["attributes"]["group"],
        }

    def attributes(self, item: int) -> dict[str, Any]:
        """Every attribute of sample ``item`` (names, f0, durations, ...), without synthesising it."""
        return dict(self._attributes[item])

    def targets(self, task: str | None = None) -> list[int]:
        """The label of every sample for ``task`` (default: the dataset's task)."""
        task = check_choice("task", task or self.task, TASKS)
        return [task_labels(a)[task] for a in self._attributes]

    @property
    def groups(self) -> list[str]:
        return [a["group"] for a in self._attributes]

    @property
    def classes(self) -> tuple[str, ...]:
        """Class names of the dataset's task (label ``k`` is ``classes[k]``)."""
        return TASKS[self.task]

    def split_indices(self, *, fractions=(0.8, 0.1, 0.1), seed: int | None = None) -> dict[str, list[int]]:
        """Group-aware (no site in two splits), label-stratified positions per split (``train``,
        ``val``, ``test`` for three fractions), from :func:`polysense.data.splits.split_indices`."""
        seed = self.config.seed if seed is None else seed
        return split_indices(self.targets(), self.groups, fractions=fractions, seed=seed, stratify=True)


# ------------------------------------------------------------------------------------------
# writing to disk
# ------------------------------------------------------------------------------------------


def write_synthetic(
    folder: str | Path,
    *,
    task: str = "both",
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    **settings: Any,
) -> Path:
    """Write the dataset as files and return the manifest's path (``folder/manifest.csv``).

    Layout: ``audio/<id>.wav`` (16- or 24-bit PCM: every level of the ``bit_depth`` grid is stored
    exactly, so the samples survive the round trip bit for bit), ``images/<id>.png`` (the same 8-bit
    pixels) and ``manifest.csv`` with the columns ``id, audio, image, text, label, split, group``
    (paths relative to ``folder``; ``label`` of ``task``; ``split`` from
    :meth:`SyntheticTriModal.split_indices` with ``fractions``), ``label:<task>`` for every task of
    :data:`TASKS` and ``meta:<attribute>`` for every attribute. Read it with
    :class:`~polysense.data.dataset.ManifestDataset` (``sample_rate`` and ``image_size`` as here)
    to get the samples of :class:`SyntheticTriModal` back.

    ``settings`` are the fields of :class:`SyntheticConfig` (``num_samples``, ``sample_rate``,
    ``bit_depth``, ``clip_duration_s``, ``image_size``, ``snr_db``, ``image_noise``,
    ``num_groups``, ``seed``), with the same defaults.
    """
    config = SyntheticConfig(**settings)
    dataset = SyntheticTriModal.from_config(config, task=task)
    folder = Path(folder)
    (folder / "audio").mkdir(parents=True, exist_ok=True)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    split_of = {i: name for name, idx in dataset.split_indices(fractions=fractions).items() for i in idx}
    # Every level of a b-bit grid (step 2^(1-b)) is stored exactly by 16-bit PCM when b <= 16.
    subtype = "PCM_16" if config.bit_depth <= 16 else "PCM_24"
    rows = []
    for i in range(config.num_samples):
        raw = generate_sample(config, i)
        sid = _sample_id(i)
        audio_path, image_path = folder / "audio" / f"{sid}.wav", folder / "images" / f"{sid}.png"
        save(audio_path, raw["audio"], int(config.sample_rate), subtype=subtype)
        Image.fromarray(raw["pixels"], mode="RGB").save(image_path)
        attrs = raw["attributes"]
        labels = task_labels(attrs)
        rows.append(Row(
            number=i + 1, id=sid, audio=audio_path.resolve(), image=image_path.resolve(), text=raw["text"],
            label=labels[task], labels=labels, split=split_of[i], group=attrs["group"],
            meta={k: v for k, v in attrs.items() if k not in _NOT_META},
        ))
    columns = (*COLUMNS, *(f"label:{t}" for t in TASKS), *(f"meta:{k}" for k in rows[0].meta))
    path = folder / "manifest.csv"
    return write_manifest(path, Manifest(path=path, root=folder.resolve(), columns=columns, rows=tuple(rows)))


def write_sound_folder(folder: str | Path, *, num_files: int = 200, classes: Sequence[str] = KINDS[:3],
                       **settings: Any) -> Path:
    """A user's folder of sounds, made of the synthetic clips: ``folder/<kind>/<site>_<n>.wav`` with
    a caption in ``<site>_<n>.txt`` beside each, the kind (``tone``, ``chirp``, ...) as the class
    and the recording site as the group: what ``polysense data folder`` reads (the README's "Your
    own sounds" path, its test and its benchmark). Clips are drawn until each of ``classes`` has
    ``num_files / len(classes)`` (rounded up); ``settings`` as in :func:`write_synthetic`.
    """
    unknown = [c for c in classes if c not in KINDS]
    if unknown or not classes:
        raise ParameterError(f"classes={list(classes)!r}: choose among {', '.join(KINDS)}")
    check_positive_int("num_files", num_files)
    per_class = -(-num_files // len(classes))
    config = SyntheticConfig(num_samples=per_class * len(KINDS) * 8, **settings)
    folder = Path(folder)
    counts = dict.fromkeys(classes, 0)
    index = 0
    while min(counts.values()) < per_class and sum(counts.values()) < num_files:
        attrs = sample_attributes(config, index)
        kind = attrs["kind"]
        if kind in counts and counts[kind] < per_class:
            raw = generate_sample(config, index)
            path = folder / kind / f"{attrs['group']}_{counts[kind]:03d}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            save(path, raw["audio"], int(config.sample_rate), subtype="PCM_16")
            path.with_suffix(".txt").write_text(raw["text"] + "\n", encoding="utf-8")
            counts[kind] += 1
        index += 1
        if index >= config.num_samples:
            raise ParameterError(f"could not draw {per_class} clips of each of {list(classes)}: ask for fewer files")
    return folder
