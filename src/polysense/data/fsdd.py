"""``fsdd``: the Free Spoken Digit Dataset from a folder of ``{digit}_{speaker}_{index}.wav`` files.

:func:`fsdd_manifest` turns the folder into a :class:`~polysense.data.manifest.Manifest`: one row
per recording with ``label`` = the digit, ``group`` = the speaker, a caption from the digit and the
speaker's metadata (``speakers.csv``: ``speaker,gender,accent,language``), e.g.
``"the digit seven spoken by theo, a male speaker with a USA/neutral accent"``, and a
speaker-independent ``split``: the speakers named in ``test_speakers`` form ``test``, those in
``val_speakers`` form ``val``, all others ``train``, so no voice is heard in two splits.

:func:`fsdd_dataset` wraps it in a :class:`~polysense.data.dataset.ManifestDataset`;
:func:`polysense.data.manifest.write_manifest` saves it as CSV/JSONL.

The recordings: mono, 8 kHz, 16-bit WAV (Jackson et al., FSDD, CC BY-SA 4.0).
"""

from __future__ import annotations

import csv
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polysense.data.dataset import ManifestDataset
from polysense.data.manifest import Manifest, Row, read_csv_lines
from polysense.errors import ManifestError, ParameterError

__all__ = [
    "DIGIT_WORDS",
    "FSDDFile",
    "SpeakerInfo",
    "fsdd_caption",
    "fsdd_dataset",
    "fsdd_manifest",
    "parse_fsdd_name",
    "read_speakers",
    "speaker_list",
]

PathLike = str | os.PathLike
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
NATIVE_SAMPLE_RATE = 8000
_NAME_RE = re.compile(r"^(\d)_([A-Za-z][A-Za-z0-9-]*)_(\d+)\.wav$")
_SPEAKER_COLUMNS = ("speaker", "gender", "accent")


@dataclass(frozen=True)
class FSDDFile:
    """One recording: its path and what its name says."""

    path: Path
    digit: int
    speaker: str
    index: int

    @property
    def id(self) -> str:
        return self.path.stem


@dataclass(frozen=True)
class SpeakerInfo:
    """A row of ``speakers.csv``."""

    speaker: str
    gender: str
    accent: str
    language: str = ""


def parse_fsdd_name(path: PathLike) -> FSDDFile:
    """Split ``{digit}_{speaker}_{index}.wav`` (e.g. ``7_jackson_32.wav``) into its parts.

    Raises :class:`ManifestError` naming the file when the name does not follow the pattern.
    """
    path = Path(path)
    match = _NAME_RE.match(path.name)
    if match is None:
        raise ManifestError(
            f"{path}: file name {path.name!r} is not an FSDD recording name {{digit}}_{{speaker}}_{{index}}.wav "
            "(a digit 0-9, a speaker name of letters, a take number, e.g. 7_jackson_32.wav). "
            "Fix: rename the file or move it out of the recordings folder"
        )
    return FSDDFile(path=path, digit=int(match[1]), speaker=match[2], index=int(match[3]))


def read_speakers(path: PathLike) -> dict[str, SpeakerInfo]:
    """Read ``speakers.csv`` (``speaker,gender,accent[,language]``) into ``{speaker: SpeakerInfo}``."""
    path = Path(path)
    try:
        columns, lines = read_csv_lines(path)
    except FileNotFoundError:
        raise ManifestError(f"{path}: speakers file not found. Fix: pass speakers_csv=None to go without speaker metadata") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ManifestError(f"{path}: cannot read the speakers CSV ({exc}). Fix: save it as UTF-8 CSV") from None
    header = columns or ()
    missing = [c for c in _SPEAKER_COLUMNS if c not in header]
    if missing:
        raise ManifestError(
            f"{path}: missing column(s) {', '.join(missing)}. "
            f"Fix: give speakers.csv the header {','.join(_SPEAKER_COLUMNS)},language"
        )
    speakers: dict[str, SpeakerInfo] = {}
    for number, (line, row) in enumerate(lines, start=1):
        values = {k: v.strip() for k, v in zip(header, row)}
        if not values.get("speaker"):
            raise ManifestError(f"{path}: row {number} (line {line}): empty speaker. "
                                "Fix: name the speaker or remove the row")
        speakers[values["speaker"]] = SpeakerInfo(
            values["speaker"], values.get("gender", ""), values.get("accent", ""), values.get("language", "")
        )
    return speakers


def fsdd_caption(digit: int, speaker: str, info: SpeakerInfo | None = None) -> str:
    """``"the digit seven spoken by theo, a male speaker with a USA/neutral accent"``.

    Without ``info`` (no metadata): ``"the digit seven spoken by theo"``; empty fields are left out.
    """
    text = f"the digit {DIGIT_WORDS[digit]} spoken by {speaker}"
    if info is None or not (info.gender or info.accent):
        return text
    who = f"a {info.gender} speaker" if info.gender else "a speaker"
    accent = f" with a {info.accent} accent" if info.accent else ""
    return f"{text}, {who}{accent}"


def _find_speakers_csv(folder: Path) -> Path | None:
    for candidate in (folder / "speakers.csv", folder.parent / "speakers.csv"):
        if candidate.is_file():
            return candidate
    return None


def speaker_list(name: str, value: Sequence[str] | str) -> tuple[str, ...]:
    """Speaker names given as one name or a list, checked (``name`` is the argument's, for errors)."""
    if isinstance(value, str):
        value = (value,)
    speakers = tuple(value)
    if not all(isinstance(s, str) and s for s in speakers):
        raise ParameterError(f"{name}={value!r} is invalid: expected speaker names, e.g. ('theo',)")
    return speakers


def fsdd_manifest(
    folder: PathLike,
    *,
    test_speakers: Sequence[str] | str = ("theo",),
    val_speakers: Sequence[str] | str = (),
    speakers_csv: PathLike | None | bool = True,
) -> Manifest:
    """Build the manifest of an FSDD recordings folder.

    Parameters
    ----------
    folder: the folder of ``{digit}_{speaker}_{index}.wav`` files (every ``.wav`` in it must follow
        the pattern; other files are ignored).
    test_speakers, val_speakers: the held-out speakers of the ``test`` and ``val`` splits; every
        other speaker is ``train``. They must be disjoint, present in the folder, and leave at least
        one training speaker. ``test_speakers=()`` gives a manifest with only train (and val) rows.
    speakers_csv: ``True`` (default) uses ``speakers.csv`` in the folder or beside it when there is
        one, a path uses that file, ``None`` or ``False`` goes without metadata (captions name only
        digit and speaker). A speaker of the folder that the file does not list gets captions
        without metadata, with a warning naming it (any FSDD-style collection works).

    Rows are sorted by (speaker, digit, index) and have ``id`` = the file stem, ``audio``,
    ``text``, ``label`` (the digit), ``split``, ``group`` (the speaker) and the metadata
    ``meta:speaker``, ``meta:index``, ``meta:gender``, ``meta:accent``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ManifestError(f"{folder}: FSDD recordings folder not found. Fix: pass the folder of "
                            "{digit}_{speaker}_{index}.wav files (e.g. free-spoken-digit-dataset/recordings)")
    files = [parse_fsdd_name(p) for p in sorted(folder.glob("*.wav"))]
    if not files:
        raise ManifestError(f"{folder}: no .wav files. Fix: pass the folder that holds the FSDD recordings")
    test = speaker_list("test_speakers", test_speakers)
    val = speaker_list("val_speakers", val_speakers)
    present = sorted({f.speaker for f in files})
    for name, chosen in (("test_speakers", test), ("val_speakers", val)):
        absent = [s for s in chosen if s not in present]
        if absent:
            raise ParameterError(f"{name}={chosen!r}: speaker(s) {absent} have no recordings in {folder}; "
                                 f"choose among {', '.join(present)}")
    if set(test) & set(val):
        raise ParameterError(f"speaker(s) {sorted(set(test) & set(val))} are in both test_speakers and val_speakers: "
                             "a speaker-independent split holds each speaker out once")
    train = [s for s in present if s not in test and s not in val]
    if not train:
        raise ParameterError(f"test_speakers={test!r} and val_speakers={val!r} leave no training speaker "
                             f"(present: {', '.join(present)}): hold out fewer speakers")

    info: dict[str, SpeakerInfo] = {}
    source: Path | None = None
    if speakers_csv is True:
        found = _find_speakers_csv(folder)
        info = read_speakers(found) if found is not None else {}
        source = found
    elif speakers_csv not in (None, False):
        source = Path(speakers_csv)
        info = read_speakers(source)
    if info:
        unlisted = [s for s in present if s not in info]
        if unlisted:
            warnings.warn(
                f"{source}: speaker(s) {', '.join(unlisted)} of {folder} are not listed: their captions name only "
                "the digit and the speaker. Add a row speaker,gender,accent,language for each to describe them",
                UserWarning,
                stacklevel=2,
            )

    files.sort(key=lambda f: (f.speaker, f.digit, f.index))
    rows = []
    for number, f in enumerate(files, start=1):
        spk = info.get(f.speaker)
        meta: dict[str, Any] = {"speaker": f.speaker, "index": f.index}
        if spk is not None:
            meta.update(gender=spk.gender, accent=spk.accent)
        elif info:
            meta.update(gender="", accent="")  # every row has the metadata columns
        split = "test" if f.speaker in test else "val" if f.speaker in val else "train"
        rows.append(Row(number=number, id=f.id, audio=f.path.resolve(), text=fsdd_caption(f.digit, f.speaker, spk),
                        label=f.digit, split=split, group=f.speaker, meta=meta))
    meta_columns = ("meta:speaker", "meta:index", *(("meta:gender", "meta:accent") if info else ()))
    columns = ("id", "audio", "text", "label", "split", "group", *meta_columns)
    # label ids are the digits; their names (what a written manifest holds) those of the built-in datasets
    return Manifest(path=folder, root=folder.resolve(), columns=columns, rows=tuple(rows), classes=DIGIT_WORDS)


def fsdd_dataset(
    folder: PathLike,
    *,
    split: str | None = None,
    sample_rate: int = NATIVE_SAMPLE_RATE,
    test_speakers: Sequence[str] | str = ("theo",),
    val_speakers: Sequence[str] | str = (),
    speakers_csv: PathLike | None | bool = True,
    **dataset_kwargs: Any,
):
    """A :class:`~polysense.data.dataset.ManifestDataset` over :func:`fsdd_manifest`'s rows of ``split``
    (all rows when None); ``dataset_kwargs`` go to the dataset (``features``, ``cache``, ...)."""
    manifest = fsdd_manifest(folder, test_speakers=test_speakers, val_speakers=val_speakers, speakers_csv=speakers_csv)
    return ManifestDataset(manifest, split=split, sample_rate=sample_rate, **dataset_kwargs)
