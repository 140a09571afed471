"""``fsdd_speakers``: who is speaking, with verification on speakers never heard in training.

Training speakers (FSDD's, minus the test speakers, plus ``synthetic_voices`` espeak-ng voices) are
the classes: item ``label`` is the speaker's index among them (sorted names). ``val`` holds the last
``val_fraction`` of each real training speaker's utterances (closed-set identification: the epoch
is chosen on it). ``test`` holds every utterance of ``test_speakers`` with ``label = -1`` (unknown to
the model) and ``group`` = the speaker: verification trials are built among them (EER, minDCF in
``polysense evaluate``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch.utils.data import Dataset

from polysense.data.registry import DataSplits, register_dataset
from polysense.enhance.mixtures import Utterance, load_utterances, synthetic_utterances
from polysense.errors import ParameterError

__all__ = ["SpeakerItems", "fsdd_speaker_splits"]


class SpeakerItems(Dataset):
    """Utterances with the index of their speaker among ``classes`` (−1 when not among them)."""

    def __init__(self, utterances: Sequence[Utterance], *, classes: Sequence[str], sample_rate: int) -> None:
        self.utterances = list(utterances)
        self.index = {name: k for k, name in enumerate(classes)}
        self.sample_rate = int(sample_rate)

    def __len__(self) -> int:
        return len(self.utterances)

    def __getitem__(self, i: int) -> dict[str, Any]:
        u = self.utterances[i]
        return {"id": u.id, "audio": u.audio, "sample_rate": self.sample_rate, "label": self.index.get(u.speaker, -1),
                "group": u.speaker}


@register_dataset("fsdd_speakers")
def fsdd_speaker_splits(*, seed: int, fsdd_folder: str | None = None, manifest: str | None = None,
                        test_speakers: Sequence[str] | str = ("theo", "jackson"), val_fraction: float = 0.1,
                        sample_rate: int = 8000, synthetic_voices: int = 0, voice_seed: int = 0,
                        tts_cache: str | None = None, max_per_speaker: int | None = None) -> DataSplits:
    """Speaker classes for training, unseen speakers for verification (see the module docstring)."""
    parts = load_utterances(sample_rate=sample_rate, fsdd_folder=fsdd_folder, manifest=manifest,
                            test_speakers=test_speakers, val_speakers=(), val_fraction=val_fraction,
                            max_per_speaker=max_per_speaker)
    train = parts["train"] + synthetic_utterances(synthetic_voices, sample_rate=sample_rate, voice_seed=voice_seed,
                                                  tts_cache=tts_cache)
    classes = tuple(sorted({u.speaker for u in train}))
    if not classes:
        raise ParameterError("no training speakers: leave at least one speaker out of test_speakers")
    if len({u.speaker for u in parts["test"]}) < 2:
        raise ParameterError(f"test_speakers={list(test_speakers)} gives {len({u.speaker for u in parts['test']})} "
                             "speaker(s) with recordings: verification trials need at least two test speakers")

    def make(utts: list[Utterance]) -> SpeakerItems | None:
        return SpeakerItems(utts, classes=classes, sample_rate=sample_rate) if utts else None

    return DataSplits(train=make(train), val=make(parts["val"]), test=make(parts["test"]), sample_rate=int(sample_rate),
                      classes=classes, modalities=("audio",),
                      description=f"FSDD speakers ({len(classes)} training speakers incl. {synthetic_voices} espeak-ng "
                                  f"voices), unseen test speakers {sorted({u.speaker for u in parts['test']})}")
