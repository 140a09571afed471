"""On-the-fly mixtures that keep their clean parts: ``fsdd_mixtures`` (denoising) and ``fsdd_pairs``
(two-speaker separation), registered as datasets.

Item ``i`` of a split is a pure function of ``(seed, split, i)``: the same arguments give the same
mixture in any order, so metrics are exact and runs reproducible; nothing is downloaded.

Denoising item (:class:`NoisyMixtures`): an utterance, placed at a random offset in a segment of
``segment_s`` seconds (cropped at a random start when longer; ``segment_s=None`` keeps the
utterance's own length), plus noise of a type drawn from ``noise_types`` at an SNR drawn uniformly
from ``snr_db`` (a number, or ``[low, high]`` dB). The SNR is ``10·log10(P_s / P_n)`` with ``P_s``
the power of the utterance's own samples (not its padding) and ``P_n`` the noise's over the
segment. Keys: ``noisy``, ``clean``, ``target`` (``clean``, or with ``n2n=True`` the clean signal
plus an independent noise draw of the same type and SNR: the Noise2Noise target), ``noise``
(its type), ``snr_db``, ``speaker``, ``id``, ``speech_span`` (start, stop of the utterance's samples).

Separation item (:class:`SpeakerPairs`): two utterances of different speakers of the split, each at a
random offset, the second ``level_db`` dB below the first (a number or ``[low, high]``); keys
``mixture``, ``sources`` (2, T), ``level_db``, ``id``. With ``same_speaker_p > 0`` that share of
training pairs are two utterances of one speaker: with few training speakers this keeps a separator
from learning "which voice is which speaker" instead of separating.

Speaker-independent splits: ``test_speakers`` form ``test``; ``val_speakers`` form ``val``, or,
when none are given, the last ``val_fraction`` of each training speaker's utterances (by recording
index) do. Babble for a split is made of utterances of the training speakers and that split's own,
never the clean utterance's speaker, so a test speaker's voice never reaches training.
Mixtures are scaled together (clean parts too) when their peak would pass 0.99.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from polysense._checks import check_positive_float, check_positive_int, check_unit_interval
from polysense.audio import load
from polysense.data.builtin import _folder
from polysense.data.espeak import default_tts_cache, generate_espeak_digits
from polysense.data.fsdd import fsdd_manifest
from polysense.data.manifest import read_manifest
from polysense.data.registry import DataSplits, register_dataset
from polysense.enhance.noise import NOISE_TYPES, make_noise, scale_to_snr
from polysense.errors import ParameterError

__all__ = ["NoisyMixtures", "SpeakerPairs", "Utterance", "collate_mixtures", "fsdd_mixture_splits",
           "fsdd_pair_splits", "load_utterances", "synthetic_utterances"]

_SPLIT_CODE = {"train": 0, "val": 1, "test": 2}
_PEAK = 0.99
#: the shortest segment a mixture may have: one 256-sample analysis frame at 8 kHz (32 ms).
MIN_SEGMENT_SAMPLES = 256


@dataclass(frozen=True)
class Utterance:
    """One clean recording in memory."""

    id: str
    speaker: str
    audio: torch.Tensor  # (time,) float32


def _range(name: str, value: float | Sequence[float]) -> tuple[float, float]:
    if isinstance(value, (int, float)):
        return float(value), float(value)
    values = list(value)
    if len(values) != 2 or not all(np.isfinite(v) for v in values) or values[0] > values[1]:
        raise ParameterError(f"{name}={value!r} is invalid: give a number or [low, high] with low <= high (dB)")
    return float(values[0]), float(values[1])


def _segment_samples(segment_s: float | None, sample_rate: int) -> int | None:
    if segment_s is None:
        return None
    n = int(round(check_positive_float("segment_s", segment_s, what="seconds") * sample_rate))
    if n < MIN_SEGMENT_SAMPLES:
        raise ParameterError(f"segment_s={segment_s} gives {n} samples at {sample_rate} Hz: a mixture needs at least "
                             f"{MIN_SEGMENT_SAMPLES} samples (one analysis frame); give segment_s >= "
                             f"{MIN_SEGMENT_SAMPLES / sample_rate:g}")
    return n


def _fit(audio: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, int, int]:
    """(segment of n samples, start, stop of the speech in it): random offset or random crop."""
    if audio.size >= n:
        start = int(rng.integers(0, audio.size - n + 1))
        return audio[start : start + n].copy(), 0, n
    out = np.zeros(n)
    start = int(rng.integers(0, n - audio.size + 1))
    out[start : start + audio.size] = audio
    return out, start, start + audio.size


def _limit_peak(*signals: torch.Tensor) -> tuple[torch.Tensor, ...]:
    peak = float(signals[0].abs().max())
    if peak > _PEAK:
        return tuple(s * (_PEAK / peak) for s in signals)
    return signals


class _UtteranceItems(Dataset):
    """Items made from utterances, ``repeats`` passes over them; item ``i`` is a pure function of
    ``(seed, split, i)`` (see the module docstring)."""

    def __init__(self, utterances: Sequence[Utterance], *, sample_rate: int, split: str, seed: int,
                 segment_s: float | None, repeats: int) -> None:
        self.utterances = list(utterances)
        self.sample_rate = int(sample_rate)
        self.split = split
        self.seed = int(seed)
        self.segment = _segment_samples(segment_s, self.sample_rate)
        self.repeats = int(repeats)

    def __len__(self) -> int:
        return len(self.utterances) * self.repeats

    def _item(self, index: int, *stream: int) -> tuple[Utterance, np.random.Generator]:
        """Item ``index``'s utterance and its random generator (``stream`` separates item kinds)."""
        if not 0 <= index < len(self):
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, _SPLIT_CODE.get(self.split, 3), index, *stream])
        return self.utterances[index % len(self.utterances)], rng


class NoisyMixtures(_UtteranceItems):
    """Clean utterances + noise at an SNR, made per item (see the module docstring)."""

    def __init__(self, utterances: Sequence[Utterance], *, sample_rate: int, split: str = "train", seed: int = 0,
                 noise_types: Sequence[str] = NOISE_TYPES, snr_db: float | Sequence[float] = (-5.0, 5.0),
                 segment_s: float | None = 1.0, n2n: bool = False, repeats: int = 1,
                 babble_pool: Sequence[Utterance] = ()) -> None:
        if not utterances:
            raise ParameterError(f"the {split} split has no utterances: check the speakers and the manifest")
        types = [noise_types] if isinstance(noise_types, str) else list(noise_types)
        for t in types:
            if t not in NOISE_TYPES:
                raise ParameterError(f"noise_types contains {t!r}: choose among {', '.join(NOISE_TYPES)}")
        if not types:
            raise ParameterError(f"noise_types is empty: choose among {', '.join(NOISE_TYPES)}")
        super().__init__(utterances, sample_rate=sample_rate, split=split, seed=seed, segment_s=segment_s,
                         repeats=repeats)
        self.noise_types = tuple(types)
        self.snr_db = _range("snr_db", snr_db)
        self.n2n = bool(n2n)
        self.babble_pool = list(babble_pool)

    def __getitem__(self, index: int) -> dict[str, Any]:
        utt, rng = self._item(index)
        audio = utt.audio.double().numpy()
        if self.segment is None:
            clean, lo, hi = audio.copy(), 0, audio.size
        else:
            clean, lo, hi = _fit(audio, self.segment, rng)
        speech_power = float(np.mean(clean[lo:hi] ** 2))
        if speech_power <= 0:
            raise ParameterError(f"utterance {utt.id!r} is silent in its segment: remove it from the manifest")
        kind = self.noise_types[int(rng.integers(0, len(self.noise_types)))]
        snr = float(rng.uniform(*self.snr_db)) if self.snr_db[0] < self.snr_db[1] else self.snr_db[0]
        pool = [u.audio for u in self.babble_pool if u.speaker != utt.speaker]
        clean_t = torch.from_numpy(clean)

        def draw() -> torch.Tensor:
            noise = make_noise(kind, clean.size, sample_rate=self.sample_rate, rng=rng, babble_pool=pool)
            return scale_to_snr(clean_t, noise, snr_db=snr, speech_power=speech_power)

        noisy = clean_t + draw()
        target = clean_t + draw() if self.n2n else clean_t
        noisy, clean_t, target = _limit_peak(noisy, clean_t, target)
        return {"noisy": noisy.float(), "clean": clean_t.float(), "target": target.float(), "noise": kind,
                "snr_db": snr, "speaker": utt.speaker, "id": f"{utt.id}+{kind}@{snr:.1f}dB#{index}",
                "speech_span": (lo, hi), "sample_rate": self.sample_rate}


class SpeakerPairs(_UtteranceItems):
    """Two utterances of different speakers, the second ``level_db`` below the first."""

    def __init__(self, utterances: Sequence[Utterance], *, sample_rate: int, split: str = "train", seed: int = 0,
                 level_db: float | Sequence[float] = (0.0, 5.0), segment_s: float | None = 1.0,
                 repeats: int = 1, same_speaker_p: float = 0.0) -> None:
        speakers = sorted({u.speaker for u in utterances})
        self.same_speaker_p = check_unit_interval("same_speaker_p", same_speaker_p,
                                                  what="the share of pairs of one speaker's two utterances")
        if len(speakers) < 2 and self.same_speaker_p < 1:
            raise ParameterError(f"the {split} split has speaker(s) {speakers}: two-speaker mixtures need at least "
                                 f"two speakers in each split; hold out two test speakers (test_speakers=[a, b])")
        super().__init__(utterances, sample_rate=sample_rate, split=split, seed=seed, segment_s=segment_s,
                         repeats=repeats)
        self.level_db = _range("level_db", level_db)

    def __getitem__(self, index: int) -> dict[str, Any]:
        first, rng = self._item(index, 1)
        same = self.same_speaker_p > 0 and rng.uniform() < self.same_speaker_p
        others = [u for u in self.utterances if (u.speaker == first.speaker) == same and u.id != first.id]
        second = others[int(rng.integers(0, len(others)))]
        a, b = first.audio.double().numpy(), second.audio.double().numpy()
        n = self.segment if self.segment is not None else max(a.size, b.size)
        s1, lo1, hi1 = _fit(a, n, rng)
        s2, lo2, hi2 = _fit(b, n, rng)
        p1, p2 = np.mean(s1[lo1:hi1] ** 2), np.mean(s2[lo2:hi2] ** 2)
        if p1 <= 0 or p2 <= 0:
            raise ParameterError(f"utterance {first.id!r} or {second.id!r} is silent in its segment: remove it")
        level = float(rng.uniform(*self.level_db)) if self.level_db[0] < self.level_db[1] else self.level_db[0]
        s2 = s2 * np.sqrt(p1 / (p2 * 10 ** (level / 10)))
        src = torch.from_numpy(np.stack([s1, s2]))
        mixture = src.sum(0)
        mixture, src = _limit_peak(mixture, src)
        return {"mixture": mixture.float(), "sources": src.float(), "level_db": level,
                "id": f"{first.id}+{second.id}@{level:.1f}dB#{index}", "sample_rate": self.sample_rate}


def collate_mixtures(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack mixture items, zero-padding signals to the longest; ``length`` (B,) holds the true lengths."""
    if not items:
        raise ParameterError("collate_mixtures got an empty batch")
    signal_key = "noisy" if "noisy" in items[0] else "mixture"
    lengths = torch.tensor([it[signal_key].shape[-1] for it in items])
    longest = int(lengths.max())
    batch: dict[str, Any] = {"length": lengths, "sample_rate": int(items[0]["sample_rate"])}
    for key, value in items[0].items():
        if key == "sample_rate":
            continue
        if isinstance(value, torch.Tensor):
            batch[key] = torch.stack([torch.nn.functional.pad(it[key], (0, longest - it[key].shape[-1])) for it in items])
        elif isinstance(value, float):
            batch[key] = torch.tensor([it[key] for it in items])
        else:
            batch[key] = [it[key] for it in items]
    batch["audio_mask"] = torch.arange(longest)[None, :] < lengths[:, None]
    return batch


# ----------------------------------------------------------------------------------------------
# loading and the registered builders


def load_utterances(*, sample_rate: int = 8000, fsdd_folder: str | None = None, manifest: str | None = None,
                    test_speakers: Sequence[str] | str = ("theo",), val_speakers: Sequence[str] | str = (),
                    val_fraction: float = 0.1, max_per_speaker: int | None = None) -> dict[str, list[Utterance]]:
    """The clean utterances of each split, in memory at ``sample_rate``.

    From a manifest with ``split`` and ``group`` (speaker) columns, or the FSDD folder split by
    speaker. Without a val speaker, the last ``val_fraction`` of each training speaker's utterances
    (in manifest order) form ``val``. ``max_per_speaker`` keeps the first ones of each speaker (tests).
    """
    check_unit_interval("val_fraction", val_fraction, what="a share of each training speaker's utterances",
                        include_one=False)
    if manifest is not None:
        table = read_manifest(manifest)
        if not table.has_splits or "group" not in table.columns:
            raise ParameterError(f"manifest {manifest!r} needs 'split' and 'group' (speaker) columns for "
                                 "speaker-independent mixtures")
    else:
        table = fsdd_manifest(_folder(fsdd_folder), test_speakers=test_speakers, val_speakers=val_speakers)
    by_split: dict[str, dict[str, list[Any]]] = {"train": {}, "val": {}, "test": {}}
    for row in table.rows:
        by_split.setdefault(row.split, {}).setdefault(str(row.group), []).append(row)
    out: dict[str, list[Utterance]] = {"train": [], "val": [], "test": []}
    for split, speakers in by_split.items():
        for speaker, rows in speakers.items():
            if max_per_speaker is not None:
                rows = rows[: int(max_per_speaker)]
            n_val = int(round(len(rows) * val_fraction)) if (split == "train" and not by_split["val"]) else 0
            for k, row in enumerate(rows):
                audio, _ = load(row.audio, sample_rate=sample_rate)
                target = "val" if k >= len(rows) - n_val else split
                out.setdefault(target, []).append(Utterance(id=row.id, speaker=speaker, audio=audio.float()))
    return out


def synthetic_utterances(num_voices: int, *, sample_rate: int = 8000, voice_seed: int = 0,
                         tts_cache: str | None = None) -> list[Utterance]:
    """The ten digit words in ``num_voices`` espeak-ng voices (:mod:`polysense.data.espeak`, cached),
    one speaker per voice: extra training speakers, never part of validation or test."""
    num_voices = check_positive_int("synthetic_voices", num_voices, minimum=0)
    if not num_voices:
        return []
    folder = Path(tts_cache) if tts_cache else default_tts_cache()
    out = []
    for path in generate_espeak_digits(folder, num_voices=num_voices, seed=voice_seed, sample_rate=sample_rate):
        audio, _ = load(path, sample_rate=sample_rate)
        out.append(Utterance(id=path.stem, speaker=path.stem.split("_")[1], audio=audio.float()))
    return out


def _voices(count: int) -> str:
    return f" (+ {count} espeak-ng voices in training)" if count else ""


def _splits_or_none(make, parts: dict[str, list[Utterance]]) -> dict[str, Dataset | None]:
    return {s: (make(s, parts[s]) if parts.get(s) else None) for s in ("train", "val", "test")}


@register_dataset("fsdd_mixtures")
def fsdd_mixture_splits(*, seed: int, fsdd_folder: str | None = None, manifest: str | None = None,
                        test_speakers: Sequence[str] | str = ("theo",), val_speakers: Sequence[str] | str = (),
                        val_fraction: float = 0.1, sample_rate: int = 8000,
                        noise_types: Sequence[str] = NOISE_TYPES, snr_db: float | Sequence[float] = (-5.0, 5.0),
                        test_snr_db: float | Sequence[float] | None = None, segment_s: float | None = 1.0,
                        n2n: bool = False, repeats: int = 1, max_per_speaker: int | None = None,
                        synthetic_voices: int = 0, voice_seed: int = 0, tts_cache: str | None = None) -> DataSplits:
    """Noisy speech with its clean part (see :class:`NoisyMixtures`); val/test keep whole utterances
    (``segment_s=None``) and clean targets; ``test_snr_db`` defaults to ``snr_db``.
    ``synthetic_voices`` espeak-ng voices join the training speakers (:func:`synthetic_utterances`)."""
    parts = load_utterances(sample_rate=sample_rate, fsdd_folder=fsdd_folder, manifest=manifest,
                            test_speakers=test_speakers, val_speakers=val_speakers, val_fraction=val_fraction,
                            max_per_speaker=max_per_speaker)
    parts["train"] = parts["train"] + synthetic_utterances(synthetic_voices, sample_rate=sample_rate,
                                                           voice_seed=voice_seed, tts_cache=tts_cache)

    def make(split: str, utts: list[Utterance]) -> NoisyMixtures:
        pool = parts["train"] + (utts if split != "train" else [])
        train = split == "train"
        return NoisyMixtures(utts, sample_rate=sample_rate, split=split, seed=seed, noise_types=noise_types,
                             snr_db=snr_db if (train or test_snr_db is None) else test_snr_db,
                             segment_s=segment_s if train else None, n2n=n2n and train,
                             repeats=repeats if train else 1, babble_pool=pool)

    sets = _splits_or_none(make, parts)
    return DataSplits(train=sets["train"], val=sets["val"], test=sets["test"], sample_rate=int(sample_rate),
                      collate=collate_mixtures, modalities=("audio",),
                      description=f"FSDD{_voices(synthetic_voices)} + {'/'.join(noise_types)} noise at {snr_db} dB SNR"
                                  f"{' (Noise2Noise targets)' if n2n else ''}, {sample_rate} Hz")


@register_dataset("fsdd_pairs")
def fsdd_pair_splits(*, seed: int, fsdd_folder: str | None = None, manifest: str | None = None,
                     test_speakers: Sequence[str] | str = ("theo", "yweweler"),
                     val_speakers: Sequence[str] | str = (), val_fraction: float = 0.1, sample_rate: int = 8000,
                     level_db: float | Sequence[float] = (0.0, 5.0), segment_s: float | None = 1.0,
                     repeats: int = 1, same_speaker_p: float = 0.0, max_per_speaker: int | None = None,
                     synthetic_voices: int = 0, voice_seed: int = 0, tts_cache: str | None = None) -> DataSplits:
    """Two-speaker mixtures with their sources (see :class:`SpeakerPairs`); val/test keep whole utterances.
    ``synthetic_voices`` espeak-ng voices join the training speakers (:func:`synthetic_utterances`)."""
    parts = load_utterances(sample_rate=sample_rate, fsdd_folder=fsdd_folder, manifest=manifest,
                            test_speakers=test_speakers, val_speakers=val_speakers, val_fraction=val_fraction,
                            max_per_speaker=max_per_speaker)
    parts["train"] = parts["train"] + synthetic_utterances(synthetic_voices, sample_rate=sample_rate,
                                                           voice_seed=voice_seed, tts_cache=tts_cache)

    def make(split: str, utts: list[Utterance]) -> SpeakerPairs:
        train = split == "train"
        return SpeakerPairs(utts, sample_rate=sample_rate, split=split, seed=seed, level_db=level_db,
                            segment_s=segment_s if train else None, repeats=repeats if train else 1,
                            same_speaker_p=same_speaker_p if train else 0.0)

    sets = _splits_or_none(make, parts)
    return DataSplits(train=sets["train"], val=sets["val"], test=sets["test"], sample_rate=int(sample_rate),
                      collate=collate_mixtures, modalities=("audio",),
                      description=f"FSDD{_voices(synthetic_voices)} two-speaker mixtures, level difference {level_db} dB, "
                                  f"{sample_rate} Hz")
