"""``fsdd_takes``: FSDD split by take, every speaker in every split (for generators).

A generator conditioned on the digit and the speaker ("say 7 in theo's voice") must hear every
speaker in training, so this split holds out *takes* instead of speakers: the recordings whose
take number is in ``test_takes`` form ``test`` (FSDD's own convention: takes 0-4), those in
``val_takes`` form ``val``, all others ``train``. Items are fixed-length clips, so a batch is a
plain (B, T) tensor:

- ``audio``: the first ``clip_samples`` samples of the recording (zero-padded when shorter;
  1.4 % of FSDD's recordings are longer than 6080 samples at 8 kHz and lose their tail);
- ``label``: the digit (``target="digit"``, classes ``zero`` … ``nine``) or the speaker's index
  (``target="speaker"``, classes the sorted speaker names: a speaker classifier that judges
  voice-conditioned generators); ``speaker``: the speaker's index among ``speakers`` (sorted
  names); ``group``: the speaker's name.

The speakers are listed in ``DataSplits.extra["speakers"]`` (the trainer writes them to
``run.json``, where ``polysense generate`` reads which voices a run knows).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import Dataset

from polysense._checks import check_positive_int
from polysense.data.registry import DataSplits, register_dataset
from polysense.errors import ParameterError

__all__ = ["TakeClips", "fixed_length", "fsdd_take_splits"]


class TakeClips(Dataset):
    """Fixed-length clips in memory with their digit and speaker index (see the module docstring)."""

    def __init__(self, items: Sequence[tuple[str, torch.Tensor, int, int, str]], *, sample_rate: int) -> None:
        self.items = list(items)
        self.sample_rate = int(sample_rate)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        name, audio, digit, speaker, group = self.items[i]
        return {"id": name, "audio": audio, "sample_rate": self.sample_rate, "label": digit,
                "speaker": torch.tensor(speaker), "group": group}


def fixed_length(audio: torch.Tensor, samples: int) -> torch.Tensor:
    """The first ``samples`` samples of ``audio`` (time,), zero-padded at the end when shorter."""
    audio = audio[:samples]
    return torch.nn.functional.pad(audio, (0, samples - audio.shape[-1]))


@register_dataset("fsdd_takes")
def fsdd_take_splits(*, seed: int, fsdd_folder: str | None = None, sample_rate: int = 8000,
                     clip_samples: int = 6080, test_takes: Sequence[int] = (0, 1, 2, 3, 4),
                     val_takes: Sequence[int] = (5, 6, 7, 8, 9), target: str = "digit",
                     speakers: Sequence[str] | None = None) -> DataSplits:
    """FSDD by take with fixed-length clips (see the module docstring); ``seed`` is unused (the
    split is the take numbers). ``speakers``: only these speakers' recordings (default all), e.g. a
    fold's training speakers, so that a generator used as augmentation never hears the test speaker."""
    from polysense.audio import load
    from polysense.data.builtin import _folder
    from polysense.data.fsdd import DIGIT_WORDS, parse_fsdd_name

    from polysense._checks import check_choice

    check_choice("target", target, ("digit", "speaker"))
    clip_samples = check_positive_int("clip_samples", clip_samples, maximum=10 * int(sample_rate), what="samples")
    test, val = {int(t) for t in test_takes}, {int(t) for t in val_takes}
    if test & val:
        raise ParameterError(f"takes {sorted(test & val)} are in both test_takes and val_takes: give each take one split")
    folder = _folder(fsdd_folder)
    files = sorted((parse_fsdd_name(p) for p in folder.glob("*.wav")), key=lambda f: (f.speaker, f.digit, f.index))
    if speakers is not None:
        wanted = [speakers] if isinstance(speakers, str) else list(speakers)
        unknown = sorted(set(wanted) - {f.speaker for f in files})
        if unknown or not wanted:
            raise ParameterError(f"speakers={wanted}: {unknown or 'none given'} not among {folder}'s speakers "
                                 f"({', '.join(sorted({f.speaker for f in files}))}); name at least one of them")
        files = [f for f in files if f.speaker in wanted]
    speakers = tuple(sorted({f.speaker for f in files}))
    parts: dict[str, list[tuple[str, torch.Tensor, int, int, str]]] = {"train": [], "val": [], "test": []}
    for f in files:
        split = "test" if f.index in test else "val" if f.index in val else "train"
        audio, _ = load(f.path, sample_rate=sample_rate)
        label = f.digit if target == "digit" else speakers.index(f.speaker)
        parts[split].append((f.id, fixed_length(audio.float(), clip_samples), label, speakers.index(f.speaker),
                             f.speaker))
    if not parts["train"]:
        raise ParameterError(f"{folder}: test_takes={sorted(test)} and val_takes={sorted(val)} leave no training "
                             "take: hold out fewer takes")
    made = {k: TakeClips(v, sample_rate=sample_rate) if v else None for k, v in parts.items()}
    return DataSplits(train=made["train"], val=made["val"], test=made["test"], sample_rate=int(sample_rate),
                      classes=tuple(DIGIT_WORDS) if target == "digit" else speakers, modalities=("audio",),
                      extra={"speakers": list(speakers)},
                      description=f"FSDD by take ({len(speakers)} speakers in every split; test takes {sorted(test)}, "
                                  f"val takes {sorted(val)}), {clip_samples} samples at {sample_rate} Hz")
