"""``fsdd_scenes``: long recordings assembled from spoken digits, with exact event times.

Scene ``i`` of a split is a pure function of ``(seed, split, i)`` (as the mixtures datasets): the
same arguments give the same recording and the same events in any order, nothing is downloaded.

How a scene of ``scene_s`` seconds is made:

1. each utterance (FSDD, and espeak-ng voices in training) is trimmed to its word: the first to the
   last 10 ms frame whose level is within ``trim_db`` dB of its loudest frame
   (:func:`polysense.signal.activity.frame_energy_db`), and scaled to RMS 0.05 (−26 dBFS);
2. words are laid one after another from t = 0: a silence drawn uniformly from ``gap_s``, then a
   word drawn from the split (from ``speakers_per_scene`` speakers of the split when set) at a
   level drawn uniformly from ``level_db`` (dB on its RMS), until the next word would not fit;
   words never overlap, so every event is one word, onset to offset exact to the sample;
3. noise of a type drawn from ``noise_types`` (:mod:`polysense.enhance.noise`, made in 10-s pieces of
   unit power) is added at an SNR drawn from ``snr_db``, the speech power being the mean power over the words' own samples
   (``snr_db=None``: no noise). Babble is made of other speakers of the split and of training.

Labels (``labels``): ``"digits"`` (the ten digit words), ``"speech"`` (one class: voice activity)
or ``"speaker"`` (who speaks). An item is ``{"id", "audio" (T,), "sample_rate", "events": [(onset_s,
offset_s, class index), ...], "speakers": [speaker per event], "group": split}``; the default
collate pads the audio and lists the events. :meth:`Scenes.scene` gives the same as
:class:`~polysense.data.events.Event`\\ s.

With ``annotations`` (an annotation manifest, :func:`polysense.data.events.read_annotations`) the
items are the annotated recordings instead, split by the manifest's ``split`` column.

With ``items="words"`` an item is one event instead, cut from its scene (or annotated recording) as
the second stage of detection cuts it (± ``pad_s``, after a seeded boundary jitter of up to
``jitter_s``): ``{"id", "audio" (T,), "sample_rate", "label", "group" (the speaker)}``, the items of
a clip classifier (:class:`SceneWords`), to train ``polysense detect --classify``'s classifier on
words in noise as the detector hands them over (config ``fsdd-digits-whisper-scenes``).

Speaker-independent splits as :func:`polysense.enhance.mixtures.load_utterances`: ``test_speakers``
form ``test``, ``val_speakers`` ``val``; the others (and the espeak-ng voices) ``train``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from polysense._checks import check_choice, check_positive_float, check_positive_int
from polysense.audio import load
from polysense.data.builtin import InMemory
from polysense.data.events import AnnotatedFile, Event, read_annotations
from polysense.data.fsdd import DIGIT_WORDS
from polysense.data.registry import DataSplits, register_dataset
from polysense.detect.segments import event_waveforms
from polysense.enhance.mixtures import Utterance, _range, load_utterances, synthetic_utterances
from polysense.enhance.noise import NOISE_TYPES, make_noise, scale_to_snr
from polysense.errors import ParameterError
from polysense.signal.activity import frame_energy_db

__all__ = ["ITEMS", "LABELS", "AnnotatedScenes", "SceneWords", "Scenes", "fsdd_scene_splits", "trim_word"]

LABELS = ("digits", "speech", "speaker")
ITEMS = ("scenes", "words")
_SPLIT_CODE = {"train": 0, "val": 1, "test": 2}
_WORD_RMS = 0.05
_PEAK = 0.99
#: noise is made in pieces of this many seconds (each of unit power): the generators' cost grows
#: faster than linearly with length (bursts are placed one by one over the whole segment)
_NOISE_CHUNK_S = 10.0
#: noise types of a scene by default: babble is speech, which a voice activity detector should find
SCENE_NOISES = ("white", "pink", "brown", "hum", "clicks", "bursts")


def trim_word(audio: torch.Tensor, *, sample_rate: int, trim_db: float = 35.0) -> torch.Tensor:
    """``audio`` from the first to the last 10 ms frame within ``trim_db`` dB of its loudest frame."""
    hop = max(1, int(round(0.01 * sample_rate)))
    if audio.shape[-1] < hop:
        return audio
    level = frame_energy_db(audio.double(), frame_length=hop, hop_length=hop)
    loud = torch.nonzero(level >= level.max() - trim_db).flatten()
    return audio[int(loud[0]) * hop: (int(loud[-1]) + 1) * hop]


def _digit(utterance: Utterance) -> str:
    head = utterance.id.split("_")[0]
    if not head.isdigit() or not 0 <= int(head) <= 9:
        raise ParameterError(f"utterance {utterance.id!r} does not start with its digit ({{digit}}_{{speaker}}_...): "
                             "labels='digits' needs FSDD-style names")
    return DIGIT_WORDS[int(head)]


class Scenes(Dataset):
    """Long recordings made of words at random times and levels, with noise (see the module docstring)."""

    def __init__(self, utterances: Sequence[Utterance], *, sample_rate: int, classes: Sequence[str],
                 labels: str = "digits", split: str = "train", seed: int = 0, num_scenes: int = 100,
                 scene_s: float = 10.0, gap_s: float | Sequence[float] = (0.1, 1.5),
                 level_db: float | Sequence[float] = (-6.0, 6.0), noise_types: Sequence[str] = SCENE_NOISES,
                 snr_db: float | Sequence[float] | None = (0.0, 20.0), speakers_per_scene: int | None = None,
                 trim_db: float = 35.0, babble_pool: Sequence[Utterance] = ()) -> None:
        if not utterances:
            raise ParameterError(f"the {split} split has no utterances: check the speakers and the manifest")
        self.sample_rate = check_positive_int("sample_rate", sample_rate)
        self.labels = check_choice("labels", labels, LABELS)
        self.classes = tuple(classes)
        self.split, self.seed = split, int(seed)
        self.num_scenes = check_positive_int("num_scenes", num_scenes)
        self.scene_samples = int(round(check_positive_float("scene_s", scene_s, what="seconds") * self.sample_rate))
        self.gap_s = _range("gap_s", gap_s)
        if self.gap_s[0] < 0:
            raise ParameterError(f"gap_s={gap_s!r} is invalid: silences between words are >= 0 s")
        self.level_db = _range("level_db", level_db)
        types = [noise_types] if isinstance(noise_types, str) else list(noise_types)
        for t in types:
            check_choice("noise_types", t, NOISE_TYPES)
        if snr_db is not None and not types:
            raise ParameterError(f"noise_types is empty: choose among {', '.join(NOISE_TYPES)} or give snr_db: null")
        self.noise_types = tuple(types)
        self.snr_db = None if snr_db is None else _range("snr_db", snr_db)
        self.words = []
        for u in utterances:
            word = trim_word(u.audio.double(), sample_rate=self.sample_rate, trim_db=trim_db)
            rms = float(word.square().mean().sqrt())
            if rms > 0 and word.shape[-1] < self.scene_samples:
                self.words.append((u, (word * (_WORD_RMS / rms)).numpy(), self._label(u)))
        if not self.words:
            raise ParameterError(f"no utterance of the {split} split fits in scene_s={scene_s} s: raise scene_s")
        self.speakers = sorted({u.speaker for u, _, _ in self.words})
        if speakers_per_scene is not None:
            speakers_per_scene = check_positive_int("speakers_per_scene", speakers_per_scene)
            if speakers_per_scene > len(self.speakers):
                raise ParameterError(f"speakers_per_scene={speakers_per_scene} but the {split} split has "
                                     f"{len(self.speakers)} speaker(s) {self.speakers}: lower it or hold out more speakers")
        self.speakers_per_scene = speakers_per_scene
        self.babble_pool = [u.audio for u in babble_pool]

    def _label(self, u: Utterance) -> str:
        if self.labels == "digits":
            return _digit(u)
        return "speech" if self.labels == "speech" else u.speaker

    def __len__(self) -> int:
        return self.num_scenes

    def _layout(self, index: int) -> tuple[np.random.Generator, np.ndarray, list[Event]]:
        """Scene ``index``'s words laid out: the generator (which then draws the noise), the speech
        (T,) float64 and the events."""
        if not 0 <= index < len(self):
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, _SPLIT_CODE.get(self.split, 3), index, 19])
        n = self.scene_samples
        words = self.words
        if self.speakers_per_scene is not None:
            chosen = set(rng.choice(self.speakers, size=self.speakers_per_scene, replace=False).tolist())
            words = [w for w in words if w[0].speaker in chosen]
        speech = np.zeros(n)
        events: list[Event] = []
        cursor = 0
        while True:
            cursor += int(round(rng.uniform(*self.gap_s) * self.sample_rate))
            utt, word, label = words[int(rng.integers(0, len(words)))]
            if cursor + word.size > n:
                break
            gain = 10 ** (rng.uniform(*self.level_db) / 20)
            speech[cursor: cursor + word.size] = gain * word
            events.append(Event(cursor / self.sample_rate, (cursor + word.size) / self.sample_rate, label,
                                speaker=utt.speaker))
            cursor += word.size
        return rng, speech, events

    def events(self, index: int) -> list[Event]:
        """Scene ``index``'s events (onset order), without making its noise (cheap)."""
        return self._layout(index)[2]

    def scene(self, index: int) -> tuple[torch.Tensor, list[Event]]:
        """Scene ``index``: its audio (T,) float32 and its events (onset order)."""
        rng, speech, events = self._layout(index)
        n = self.scene_samples
        mixture = torch.from_numpy(speech)
        if self.snr_db is not None and events:
            spans = np.concatenate([speech[round(e.onset_s * self.sample_rate): round(e.offset_s * self.sample_rate)]
                                    for e in events])
            kind = self.noise_types[int(rng.integers(0, len(self.noise_types)))]
            snr = float(rng.uniform(*self.snr_db))
            chunk = int(_NOISE_CHUNK_S * self.sample_rate)
            noise = torch.cat([make_noise(kind, min(chunk, n - start), sample_rate=self.sample_rate, rng=rng,
                                          babble_pool=self.babble_pool) for start in range(0, n, chunk)])
            mixture = mixture + scale_to_snr(mixture, noise, snr_db=snr, speech_power=float(np.mean(spans**2)))
        peak = float(mixture.abs().max())
        if peak > _PEAK:
            mixture = mixture * (_PEAK / peak)
        return mixture.float(), events

    def __getitem__(self, index: int) -> dict[str, Any]:
        audio, events = self.scene(index)
        return _item(f"{self.split}-scene{index}", audio, events, self.classes, self.sample_rate)


def _item(name: str, audio: torch.Tensor, events: Sequence[Event], classes: Sequence[str], sample_rate: int) -> dict[str, Any]:
    index = {c: k for k, c in enumerate(classes)}
    return {"id": name, "audio": audio, "sample_rate": int(sample_rate),
            "events": [(e.onset_s, e.offset_s, index[e.label]) for e in events],
            "speakers": [e.speaker for e in events], "group": name.split("-")[0]}


class AnnotatedScenes(Dataset):
    """Annotated recordings (an annotation manifest's files of one split) as scene items."""

    def __init__(self, files: Sequence[AnnotatedFile], *, sample_rate: int, classes: Sequence[str]) -> None:
        self.files = list(files)
        self.sample_rate = int(sample_rate)
        self.classes = tuple(classes)

    def __len__(self) -> int:
        return len(self.files)

    def events(self, index: int) -> list[Event]:
        return list(self.files[index].events)

    def scene(self, index: int) -> tuple[torch.Tensor, list[Event]]:
        entry = self.files[index]
        audio, _ = load(entry.path, sample_rate=self.sample_rate)
        return audio.float(), list(entry.events)

    def __getitem__(self, index: int) -> dict[str, Any]:
        audio, events = self.scene(index)
        return _item(f"{self.files[index].split}-{Path(self.files[index].path).stem}", audio, events, self.classes,
                     self.sample_rate)


class SceneWords(Dataset):
    """The events of scenes, one item each, cut as the second stage of detection hears them.

    Item ``k`` is event ``j`` of scene ``i`` (scenes in order, then events in onset order). Its onset
    and offset each move by a uniform draw from ``[−jitter_s, jitter_s]`` seconds (a detector's
    boundary errors: ``fsdd-vad``'s on jackson's 0 dB recordings have a standard deviation of about
    50 ms), drawn from a generator seeded by ``(seed, split, k)`` so that item ``k`` is always the same
    samples; then the samples ``[onset − pad_s, offset + pad_s)`` are cut from the scene by
    :func:`~polysense.detect.segments.event_waveforms`, the cut of ``polysense detect --classify``.

    An item is ``{"id", "audio" (T,), "sample_rate", "label" (class index of the event), "group"
    (the speaker)}``, as a clip dataset's (``fsdd``). ``keep`` holds every cut word of a scene once
    the scene is made (~50 MB for 2,500 words at 8 kHz), so each scene is synthesised once.
    """

    def __init__(self, scenes: Scenes | AnnotatedScenes, *, split: str, seed: int = 0, pad_s: float = 0.1,
                 jitter_s: float = 0.0, keep: bool = True) -> None:
        self.scenes = scenes
        self.split, self.seed, self.keep = split, int(seed), bool(keep)
        self.pad_s = check_positive_float("pad_s", pad_s, allow_zero=True, what="seconds")
        self.jitter_s = check_positive_float("jitter_s", jitter_s, allow_zero=True, what="seconds")
        self.index: list[tuple[int, int]] = []
        self.counts: list[int] = []  # events per scene: laying a scene out again only to count is not free
        shortest = math.inf
        for i in range(len(scenes)):
            events = scenes.events(i)
            self.index += [(i, j) for j in range(len(events))]
            self.counts.append(len(events))
            shortest = min([shortest, *(e.duration_s for e in events)])
        if not self.index:
            raise ParameterError(f"the {split} scenes hold no event: raise num_scenes or scene_s")
        # the cut [onset + δ1 − pad, offset + δ2 + pad) is empty once δ1 − δ2 ≥ duration + 2·pad
        if 2 * self.jitter_s >= shortest + 2 * self.pad_s:
            raise ParameterError(f"jitter_s={jitter_s!r} could leave nothing of the shortest word of the {split} split "
                                 f"({shortest:.3f} s) with pad_s={pad_s!r}: give jitter_s < "
                                 f"{shortest / 2 + self.pad_s:.3f} s")
        self._kept: dict[int, list[dict[str, Any]]] = {}

    def __len__(self) -> int:
        return len(self.index)

    def jittered(self, k: int, event: Event) -> Event:
        """Item ``k``'s event with its onset and offset moved by its own seeded draws (seconds)."""
        rng = np.random.default_rng([self.seed, _SPLIT_CODE.get(self.split, 3), k, 23])
        onset, offset = rng.uniform(-self.jitter_s, self.jitter_s, size=2)
        return replace(event, onset_s=event.onset_s + float(onset), offset_s=event.offset_s + float(offset))

    def _cut(self, scene: int, items: Sequence[int]) -> list[dict[str, Any]]:
        audio, events = self.scenes.scene(scene)
        chosen = [self.jittered(k, events[self.index[k][1]]) for k in items]
        pieces = event_waveforms(audio, chosen, sample_rate=self.scenes.sample_rate, pad_s=self.pad_s)
        label = {c: n for n, c in enumerate(self.scenes.classes)}
        return [{"id": f"{self.split}-scene{scene}-word{self.index[k][1]}", "audio": piece,
                 "sample_rate": int(self.scenes.sample_rate), "label": label[events[self.index[k][1]].label],
                 "group": events[self.index[k][1]].speaker or self.split}
                for k, piece in zip(items, pieces, strict=True)]

    def __getitem__(self, k: int) -> dict[str, Any]:
        if not 0 <= k < len(self):
            raise IndexError(k)
        scene = self.index[k][0]
        if not self.keep:
            return self._cut(scene, [k])[0]
        if scene not in self._kept:
            first = k - self.index[k][1]
            self._kept[scene] = self._cut(scene, range(first, first + self.counts[scene]))
        return self._kept[scene][self.index[k][1]]


def _classes(labels: str, speakers: Sequence[str]) -> tuple[str, ...]:
    if labels == "digits":
        return tuple(DIGIT_WORDS)
    return ("speech",) if labels == "speech" else tuple(sorted(speakers))


@register_dataset("fsdd_scenes")
def fsdd_scene_splits(*, seed: int, fsdd_folder: str | None = None, manifest: str | None = None,
                      annotations: str | None = None, classes: Sequence[str] | None = None,
                      labels: str = "digits", test_speakers: Sequence[str] | str = ("theo",),
                      val_speakers: Sequence[str] | str = ("jackson",), sample_rate: int = 8000,
                      num_scenes: int = 200, val_scenes: int = 20, test_scenes: int = 20, scene_s: float = 10.0,
                      test_scene_s: float | None = None, gap_s: float | Sequence[float] = (0.1, 1.5),
                      level_db: float | Sequence[float] = (-6.0, 6.0), noise_types: Sequence[str] = SCENE_NOISES,
                      snr_db: float | Sequence[float] | None = (0.0, 20.0),
                      test_snr_db: float | Sequence[float] | None = 0.0, speakers_per_scene: int | None = None,
                      max_per_speaker: int | None = None, synthetic_voices: int = 0, voice_seed: int = 0,
                      tts_cache: str | None = None, in_memory: bool = True, items: str = "scenes",
                      pad_s: float = 0.1, jitter_s: float = 0.0) -> DataSplits:
    """Scenes of spoken digits (see the module docstring); val and test scenes use ``test_snr_db``
    and ``test_scene_s`` (default ``scene_s``); ``annotations`` reads an annotation manifest instead.

    ``items="words"``: the items are the scenes' events instead, one each, cut with ``pad_s`` seconds
    on each side after a boundary jitter of up to ``jitter_s`` seconds (:class:`SceneWords`), to train
    the clip classifier of two-stage detection on what it hears there."""
    check_choice("labels", labels, LABELS)
    check_choice("items", items, ITEMS)

    def as_items(scenes: Dataset | None, split: str) -> Dataset | None:
        if scenes is None or items == "scenes":
            return InMemory(scenes) if scenes is not None and in_memory else scenes
        return SceneWords(scenes, split=split, seed=seed, pad_s=pad_s, jitter_s=jitter_s, keep=in_memory)

    if annotations is not None:
        files = read_annotations(annotations, classes=classes)
        names = tuple(classes) if classes else tuple(sorted({e.label for f in files for e in f.events}))
        parts = {s: [f for f in files if f.split == s] for s in ("train", "val", "test")}
        sets = {s: AnnotatedScenes(fs, sample_rate=sample_rate, classes=names) if fs else None for s, fs in parts.items()}
        if sets["train"] is None:
            sets["train"] = AnnotatedScenes([], sample_rate=sample_rate, classes=names)
        if items == "words":  # an empty train split (a manifest to evaluate on) stays empty
            sets = {s: as_items(d, s) if d is not None and len(d) else d for s, d in sets.items()}
        return DataSplits(train=sets["train"], val=sets["val"], test=sets["test"], sample_rate=int(sample_rate),
                          classes=names, modalities=("audio",), description=f"annotated recordings {annotations}")
    parts = load_utterances(sample_rate=sample_rate, fsdd_folder=fsdd_folder, manifest=manifest,
                            test_speakers=test_speakers, val_speakers=val_speakers, max_per_speaker=max_per_speaker)
    parts["train"] = parts["train"] + synthetic_utterances(synthetic_voices, sample_rate=sample_rate,
                                                           voice_seed=voice_seed, tts_cache=tts_cache)
    speakers = sorted({u.speaker for us in parts.values() for u in us})
    names = tuple(classes) if classes else _classes(labels, speakers)
    counts = {"train": num_scenes, "val": val_scenes, "test": test_scenes}

    def make(split: str) -> Dataset | None:
        utts = parts.get(split) or []
        if not utts or not counts[split]:
            return None
        train = split == "train"
        scenes = Scenes(utts, sample_rate=sample_rate, classes=names, labels=labels, split=split, seed=seed,
                        num_scenes=counts[split], scene_s=scene_s if train or test_scene_s is None else test_scene_s,
                        gap_s=gap_s, level_db=level_db, noise_types=noise_types,
                        snr_db=snr_db if train else test_snr_db, speakers_per_scene=speakers_per_scene,
                        babble_pool=parts["train"] + ([] if train else utts))
        return as_items(scenes, split)

    sets = {s: make(s) for s in ("train", "val", "test")}
    if sets["train"] is None:
        raise ParameterError("the train split has no utterances: check test_speakers / val_speakers")
    return DataSplits(train=sets["train"], val=sets["val"], test=sets["test"], sample_rate=int(sample_rate),
                      classes=names, modalities=("audio",),
                      description=f"fsdd_scenes ({labels}{', words' if items == 'words' else ''}): "
                                  f"{scene_s} s scenes of FSDD words"
                                  f"{f' + {synthetic_voices} espeak-ng voices' if synthetic_voices else ''}, "
                                  f"noise at {snr_db} dB SNR (test {test_snr_db} dB), {sample_rate} Hz")
