"""``fsdd_speakers``: who is speaking, with verification on speakers never heard in training.

Training speakers (FSDD's, minus the test speakers, plus ``synthetic_voices`` espeak-ng voices) are
the classes: item ``label`` is the speaker's index among them (sorted names). ``val`` holds the last
``val_fraction`` of each real training speaker's utterances (closed-set identification: the epoch
is chosen on it). ``test`` holds every utterance of ``test_speakers`` with ``label = -1`` (unknown to
the model) and ``group`` = the speaker: verification trials are built among them (EER, minDCF in
``polysense evaluate``).

``val_voices`` > 0 holds that many of the espeak-ng voices out of training instead: ``val`` is then
their utterances, unknown to the model (``label = -1``), and validation reports the verification
EER among them (``val/eer``): an epoch chosen on voices the model never heard, as the test asks of
it, rather than on closed-set accuracy, which reaches 1.0 within an epoch or two and then says
nothing about new voices.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch.utils.data import Dataset

from polysense._checks import check_positive_int
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
                        tts_cache: str | None = None, max_per_speaker: int | None = None,
                        val_voices: int = 0) -> DataSplits:
    """Speaker classes for training, unseen speakers for verification (see the module docstring)."""
    val_voices = check_positive_int("val_voices", val_voices, minimum=0)
    if val_voices and (val_voices < 2 or val_voices >= synthetic_voices):
        raise ParameterError(f"val_voices={val_voices} with synthetic_voices={synthetic_voices}: hold out at least 2 "
                             "voices (verification needs two speakers) and fewer than synthetic_voices, or set val_voices=0 "
                             "(the epoch is then chosen on held-out utterances of the training speakers)")
    parts = load_utterances(sample_rate=sample_rate, fsdd_folder=fsdd_folder, manifest=manifest,
                            test_speakers=test_speakers, val_speakers=(),
                            val_fraction=0.0 if val_voices else val_fraction, max_per_speaker=max_per_speaker)
    voices = synthetic_utterances(synthetic_voices, sample_rate=sample_rate, voice_seed=voice_seed, tts_cache=tts_cache)
    names = list(dict.fromkeys(u.speaker for u in voices))
    held = set(names[len(names) - val_voices:]) if val_voices else set()  # the last voices: the rest stay the same
    train = parts["train"] + [u for u in voices if u.speaker not in held]
    if held:
        parts["val"] = [u for u in voices if u.speaker in held]
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
                      description=f"FSDD speakers ({len(classes)} training speakers incl. {synthetic_voices - val_voices} "
                                  f"espeak-ng voices), unseen test speakers {sorted({u.speaker for u in parts['test']})}"
                                  + (f", {val_voices} unseen espeak-ng voices for validation" if val_voices else ""))
