"""``fsdd_sequences``: connected digit strings (phone numbers, PINs) made from FSDD's isolated words.

The classic TIDIGITS task from the data polysense has. An utterance is 1 to 7 digits (``min_digits``,
``max_digits``), each a recording of that digit by **one** speaker (the utterance's speaker), joined
with random pauses (``pause_s``, a ``[low, high]`` range in seconds; a negative low end lets
neighbouring words overlap by up to that much), with random silence before and after
(``edge_s``), scaled to a random peak level (``level_db``, dB re full scale), and, with
probability ``noise_p``, noise of a type drawn from ``noise_types`` at an SNR drawn from
``snr_db`` (:func:`polysense.enhance.noise.make_noise`; babble is made of the training speakers'
words). Noise is added to training utterances only; validation and test stay clean.

Item ``i`` of a split is a pure function of ``(seed, split, i)`` (like the mixtures), so
every run and every order sees the same utterances; the data loaded once is the clean words
(:func:`~polysense.enhance.mixtures.load_utterances`, and the espeak-ng voices of
:func:`~polysense.enhance.mixtures.synthetic_utterances`, cached as files), and the builder keeps
each generated item in memory (:class:`~polysense.data.builtin.InMemory`).

Item keys (the data layer's sample dict, so :func:`~polysense.data.collate.collate` batches them):

=============  ======================================================================================
``id``         ``"{split}-{i:05d}"``
``audio``      float32 waveform ``(time,)`` at ``sample_rate``
``sample_rate`` int
``text``       the transcript: the digit **words**, space-separated (``"four one five five"``)
``group``      the speaker (an espeak-ng voice's name for synthetic training speakers)
``word_times`` the words' ``(start_s, end_s)`` in the utterance, in order (listed by collate)
=============  ======================================================================================

The transcript is words, not digits, because that is what a recogniser writes and what WER counts:
``"4 1 5 5"`` is ``digits_to_words("4155")``. A manifest of your own serves a sequence recogniser
the same way: its ``text`` column is read as the transcript (words separated by spaces, compared
after :func:`~polysense.metrics.transcription.normalize_text`), and the recogniser's unit table
(:mod:`polysense.models.ctc`) refuses a transcript with a word or character it cannot spell.

Speaker-independent splits as ``fsdd``: ``test_speakers`` form ``test``, ``val_speakers``
``val``, every other real speaker (and the espeak-ng voices, which are training speakers only)
``train``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from polysense._checks import check_choice, check_positive_int, check_unit_interval
from polysense.data.builtin import InMemory
from polysense.data.fsdd import DIGIT_WORDS
from polysense.data.registry import DataSplits, register_dataset
from polysense.enhance.mixtures import Utterance, load_utterances, synthetic_utterances
from polysense.enhance.noise import NOISE_TYPES, make_noise, scale_to_snr
from polysense.errors import ParameterError

__all__ = ["DigitSequences", "digits_to_words", "fsdd_sequence_splits"]

_SPLIT_CODE = {"train": 0, "val": 1, "test": 2}


def digits_to_words(digits: str) -> str:
    """``"4155"`` or ``"4 1 5 5"`` → ``"four one five five"``."""
    clean = "".join(str(digits).split())
    if not clean.isdigit():
        raise ParameterError(f"digits={digits!r} is invalid: expected a string of the digits 0-9, e.g. '4155'")
    return " ".join(DIGIT_WORDS[int(d)] for d in clean)


def _range(name: str, value: float | Sequence[float], *, lowest: float | None = None) -> tuple[float, float]:
    pair = (value, value) if isinstance(value, (int, float)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, float)) and np.isfinite(v) for v in pair) or pair[0] > pair[1]:
        raise ParameterError(f"{name}={value!r} is invalid: give a number or [low, high] with low <= high")
    if lowest is not None and pair[0] < lowest:
        raise ParameterError(f"{name}={value!r} is invalid: its low end must be at least {lowest}")
    return float(pair[0]), float(pair[1])


def _words_by_speaker(utterances: Sequence[Utterance]) -> dict[str, dict[int, list[torch.Tensor]]]:
    """speaker → digit → the takes of that word (the digit is the first part of an FSDD id)."""
    out: dict[str, dict[int, list[torch.Tensor]]] = {}
    for u in utterances:
        head = u.id.split("_", 1)[0]
        if not head.isdigit() or int(head) > 9:
            raise ParameterError(f"utterance {u.id!r} is not named {{digit}}_{{speaker}}_{{take}}: "
                                 "digit sequences are built from FSDD-style recordings")
        out.setdefault(u.speaker, {}).setdefault(int(head), []).append(u.audio)
    return out


class DigitSequences(Dataset):
    """Connected digit strings of one split (module docstring).

    Args:
        utterances: the split's isolated words (FSDD-style ids ``{digit}_{speaker}_{take}``).
        synthetic: extra speakers (espeak-ng voices) whose utterances make ``synthetic_share`` of the items.
        babble: words babble noise is made of (the training speakers' and this split's).
    """

    def __init__(self, utterances: Sequence[Utterance], *, split: str, num_utterances: int, seed: int,
                 sample_rate: int, min_digits: int = 1, max_digits: int = 7,
                 pause_s: float | Sequence[float] = (0.0, 0.35), edge_s: float | Sequence[float] = (0.05, 0.3),
                 level_db: float | Sequence[float] = (-20.0, -1.0), noise_p: float = 0.0,
                 noise_types: Sequence[str] = ("white", "pink", "babble"), snr_db: float | Sequence[float] = (10.0, 30.0),
                 synthetic: Sequence[Utterance] = (), synthetic_share: float = 0.5,
                 babble: Sequence[Utterance] = ()) -> None:
        self.split = check_choice("split", split, tuple(_SPLIT_CODE))
        self.num_utterances = check_positive_int("num_utterances", num_utterances)
        self.seed = int(seed)
        self.sample_rate = int(sample_rate)
        self.min_digits = check_positive_int("min_digits", min_digits)
        self.max_digits = check_positive_int("max_digits", max_digits)
        if self.min_digits > self.max_digits:
            raise ParameterError(f"min_digits={min_digits} > max_digits={max_digits}: give min_digits <= max_digits")
        self.pause_s = _range("pause_s", pause_s, lowest=-0.2)
        self.edge_s = _range("edge_s", edge_s, lowest=0.0)
        self.level_db = _range("level_db", level_db)
        if self.level_db[1] > 0:
            raise ParameterError(f"level_db={level_db!r} is invalid: peak levels are dB re full scale, at most 0")
        self.noise_p = check_unit_interval("noise_p", noise_p)
        self.noise_types = tuple(check_choice("noise_types[]", t, NOISE_TYPES) for t in noise_types)
        if self.noise_p > 0 and not self.noise_types:
            raise ParameterError("noise_p > 0 needs at least one of noise_types")
        self.snr_db = _range("snr_db", snr_db)
        self.real = _words_by_speaker(utterances)
        self.synthetic = _words_by_speaker(synthetic)
        self.synthetic_share = check_unit_interval("synthetic_share", synthetic_share) if self.synthetic else 0.0
        if not self.real and not self.synthetic:
            raise ParameterError(f"the {split} split has no recordings: give it speakers (test_speakers / val_speakers)")
        for pool in (self.real, self.synthetic):
            for speaker, words in pool.items():
                missing = [d for d in range(10) if d not in words]
                if missing:
                    raise ParameterError(f"speaker {speaker!r} has no recording of digit(s) {missing}: every speaker "
                                         "of a digit-sequence split needs all ten words")
        self.babble_pool = [u.audio for u in babble]
        self.speakers = sorted(self.real) + sorted(self.synthetic)

    def __len__(self) -> int:
        return self.num_utterances

    def _plan(self, index: int) -> tuple[np.random.Generator, dict[int, list[torch.Tensor]], str, np.ndarray]:
        """The item's generator (after the draws below), its speaker's words, the speaker and the digits."""
        if not 0 <= index < self.num_utterances:
            raise IndexError(index)
        rng = np.random.default_rng([self.seed, _SPLIT_CODE[self.split], index])
        use_synthetic = bool(self.synthetic) and (not self.real or rng.random() < self.synthetic_share)
        pool = self.synthetic if use_synthetic else self.real
        names = sorted(pool)
        speaker = names[int(rng.integers(len(names)))]
        digits = rng.integers(0, 10, size=int(rng.integers(self.min_digits, self.max_digits + 1)))
        return rng, pool[speaker], speaker, digits

    def transcript(self, index: int) -> str:
        """Item ``index``'s transcript, without making its audio."""
        return " ".join(DIGIT_WORDS[int(d)] for d in self._plan(index)[3])

    def transcripts(self) -> list[str]:
        """Every item's transcript (what a language model is trained on), without making audio."""
        return [self.transcript(i) for i in range(self.num_utterances)]

    def __getitem__(self, index: int) -> dict[str, Any]:
        rng, words, speaker, digits = self._plan(index)
        rate = self.sample_rate
        pieces, starts = [], []
        position = int(round(rng.uniform(*self.edge_s) * rate))
        for k, digit in enumerate(digits):
            takes = words[int(digit)]
            word = takes[int(rng.integers(len(takes)))]
            if k > 0:
                position = max(0, position + int(round(rng.uniform(*self.pause_s) * rate)))
            pieces.append(word)
            starts.append(position)
            position += word.shape[-1]
        total = max(s + p.shape[-1] for s, p in zip(starts, pieces)) + int(round(rng.uniform(*self.edge_s) * rate))
        audio = torch.zeros(total, dtype=torch.float64)
        for start, piece in zip(starts, pieces):
            audio[start : start + piece.shape[-1]] += piece.double()
        peak = float(audio.abs().max())
        if peak > 0:
            audio *= 10 ** (rng.uniform(*self.level_db) / 20) / peak
        if self.noise_p > 0 and rng.random() < self.noise_p:
            kind = self.noise_types[int(rng.integers(len(self.noise_types)))]
            noise = make_noise(kind, total, sample_rate=rate, rng=rng, babble_pool=self.babble_pool or None)
            speech = torch.cat([audio[s : s + p.shape[-1]] for s, p in zip(starts, pieces)])
            audio = audio + scale_to_snr(speech, noise, snr_db=float(rng.uniform(*self.snr_db)))
            peak = float(audio.abs().max())
            if peak > 0.99:
                audio *= 0.99 / peak
        times = [(round(s / rate, 4), round((s + p.shape[-1]) / rate, 4)) for s, p in zip(starts, pieces)]
        return {"id": f"{self.split}-{index:05d}", "audio": audio.float(), "sample_rate": rate,
                "text": " ".join(DIGIT_WORDS[int(d)] for d in digits), "group": speaker, "word_times": times}


@register_dataset("fsdd_sequences")
def fsdd_sequence_splits(
    *,
    seed: int,
    fsdd_folder: str | None = None,
    manifest: str | None = None,
    test_speakers: Sequence[str] | str = ("theo",),
    val_speakers: Sequence[str] | str = ("jackson",),
    sample_rate: int = 8000,
    num_train: int = 3000,
    num_val: int = 300,
    num_test: int = 500,
    min_digits: int = 1,
    max_digits: int = 7,
    pause_s: float | Sequence[float] = (0.0, 0.35),
    edge_s: float | Sequence[float] = (0.05, 0.3),
    level_db: float | Sequence[float] = (-20.0, -1.0),
    noise_p: float = 0.0,
    noise_types: Sequence[str] = ("white", "pink", "babble"),
    snr_db: float | Sequence[float] = (10.0, 30.0),
    synthetic_voices: int = 0,
    synthetic_share: float = 0.5,
    voice_seed: int = 0,
    tts_cache: str | None = None,
    max_per_speaker: int | None = None,
    in_memory: bool = True,
) -> DataSplits:
    """Connected digit strings split by speaker (module docstring); noise (``noise_p``) in training only.

    ``synthetic_voices`` espeak-ng voices (cached files, :mod:`polysense.data.espeak`) become training
    speakers making ``synthetic_share`` of the training utterances. ``max_per_speaker`` keeps the
    first recordings of each speaker (tests).
    """
    parts = load_utterances(sample_rate=sample_rate, fsdd_folder=fsdd_folder, manifest=manifest,
                            test_speakers=test_speakers, val_speakers=val_speakers, max_per_speaker=max_per_speaker)
    synthetic = synthetic_utterances(synthetic_voices, sample_rate=sample_rate, voice_seed=voice_seed,
                                     tts_cache=tts_cache)
    sizes = {"train": num_train, "val": num_val, "test": num_test}
    common = dict(seed=seed, sample_rate=sample_rate, min_digits=min_digits, max_digits=max_digits, pause_s=pause_s,
                  edge_s=edge_s, level_db=level_db)

    def make(split: str) -> Dataset | None:
        if not parts.get(split) and not (split == "train" and synthetic):
            return None
        train = split == "train"
        data = DigitSequences(parts[split], split=split, num_utterances=sizes[split], **common,
                              noise_p=noise_p if train else 0.0, noise_types=noise_types, snr_db=snr_db,
                              synthetic=synthetic if train else (), synthetic_share=synthetic_share,
                              babble=parts["train"] + ([] if train else parts[split]))
        return InMemory(data) if in_memory else data

    voices = f" + {synthetic_voices} espeak-ng voices in training" if synthetic_voices else ""
    train = make("train")
    texts = (train.dataset if isinstance(train, InMemory) else train).transcripts() if train is not None else None
    return DataSplits(train=train, val=make("val"), test=make("test"), sample_rate=int(sample_rate),
                      classes=None, train_texts=texts, modalities=("audio", "text"),
                      description=f"FSDD connected digit strings ({min_digits}-{max_digits} digits){voices}, "
                                  f"{sample_rate} Hz")
