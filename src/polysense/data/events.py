"""Timed events (onset, offset, label) and the annotation manifest that lists them.

An :class:`Event` is one occurrence of a sound in a recording: ``onset_s`` and ``offset_s`` in
seconds from the start of the file, a ``label``, a ``score`` (1 for annotations, the detector's
confidence for detections) and optionally the ``speaker``.

Annotation manifest (CSV, UTF-8, header row), one row per event::

    file,onset,offset,label[,split]
    rec1.wav,1.20,1.61,seven,train
    rec1.wav,3.05,3.50,two,train

``file`` is relative to the manifest's folder (or absolute); ``split`` (train / val / test) is
optional and must be the same on every row of a file (files without it go to ``test``: annotations
of recordings to evaluate on). A file with no event is given one row with empty onset, offset and
label (it still counts: a detector must find nothing there). :func:`read_annotations` refuses, naming
the row: a missing column or file, an onset or offset that is not a number, an onset at or after its
offset, an event outside the file (negative onset, offset past the file's end), two events of one
label that overlap in one file, and a label outside ``classes`` when they are given.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from polysense.audio import info
from polysense.data.manifest import read_csv_lines
from polysense.errors import ManifestError, ParameterError

__all__ = ["AnnotatedFile", "Event", "events_to_csv", "read_annotations"]

_REQUIRED = ("file", "onset", "offset", "label")
_SPLITS = ("train", "val", "test")
#: slack on "offset past the file's end" (one sample at 8 kHz is 0.125 ms; annotations round to ms)
END_TOLERANCE_S = 1e-3


@dataclass(frozen=True)
class Event:
    """One event: ``onset_s`` < ``offset_s`` seconds, ``label``, ``score`` in [0, 1], optional ``speaker``."""

    onset_s: float
    offset_s: float
    label: str
    score: float = 1.0
    speaker: str | None = None

    @property
    def duration_s(self) -> float:
        return self.offset_s - self.onset_s

    def as_dict(self) -> dict[str, object]:
        """``{"onset": s, "offset": s, "label": ..., "score": ...}`` (+ ``speaker`` when known)."""
        out: dict[str, object] = {"onset": round(self.onset_s, 4), "offset": round(self.offset_s, 4),
                                  "label": self.label, "score": round(float(self.score), 4)}
        if self.speaker is not None:
            out["speaker"] = self.speaker
        return out


@dataclass
class AnnotatedFile:
    """One annotated recording: its path, split and events (sorted by onset)."""

    path: Path
    split: str
    events: list[Event] = field(default_factory=list)


def events_to_csv(events: Iterable[Event]) -> str:
    """The events as CSV text with the annotation columns (``onset,offset,label,score``, and ``speaker``
    when any event has one)."""
    events = list(events)
    speakers = any(e.speaker is not None for e in events)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["onset", "offset", "label", "score"] + (["speaker"] if speakers else []))
    for e in events:
        row = [f"{e.onset_s:.4f}", f"{e.offset_s:.4f}", e.label, f"{e.score:.4f}"]
        writer.writerow(row + ([e.speaker or ""] if speakers else []))
    return buffer.getvalue()


def _number(path: Path, line: int, column: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ManifestError(f"{path}: row {line}: {column}={text!r} is not a number of seconds; give e.g. 1.25")
    return value


def read_annotations(path: str | os.PathLike, *, classes: Sequence[str] | None = None,
                     check_duration: bool = True) -> list[AnnotatedFile]:
    """The annotated files of a manifest (see the module docstring), in order of first appearance.

    ``classes`` (when given) is the label set: any other label is refused naming its row.
    ``check_duration`` reads each file's header to refuse events past its end.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: annotation manifest not found; give a CSV with columns file,onset,offset,label")
    try:
        header, lines = read_csv_lines(path)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ManifestError(f"{path}: unreadable annotation manifest ({error}); give a UTF-8 CSV") from None
    if header is None:
        raise ManifestError(f"{path}: empty annotation manifest; give a header file,onset,offset,label and one row per event")
    missing = [c for c in _REQUIRED if c not in header]
    if missing:
        raise ManifestError(f"{path}: missing column(s) {missing} (header {list(header)}); "
                            f"the header must name {', '.join(_REQUIRED)} (and optionally split)")
    index = {name: header.index(name) for name in header}
    known = None if classes is None else set(classes)
    files: dict[Path, AnnotatedFile] = {}
    durations: dict[Path, float] = {}
    for line, values in lines:
        if len(values) != len(header):
            raise ManifestError(f"{path}: row {line} has {len(values)} values for {len(header)} columns; "
                                "give one value per column (quote values holding commas)")
        cell = {name: values[i].strip() for name, i in index.items()}
        if not cell["file"]:
            raise ManifestError(f"{path}: row {line}: empty file; give the recording's path")
        audio = Path(cell["file"]) if os.path.isabs(cell["file"]) else path.parent / cell["file"]
        split = cell.get("split") or "test"
        if split not in _SPLITS:
            raise ManifestError(f"{path}: row {line}: split={split!r} is invalid; choose train, val or test")
        entry = files.get(audio)
        if entry is None:
            if not audio.is_file():
                raise ManifestError(f"{path}: row {line}: audio file {str(audio)!r} not found; fix the path "
                                    "(relative paths are from the manifest's folder)")
            if check_duration:
                durations[audio] = info(audio).duration_s
            entry = files[audio] = AnnotatedFile(path=audio, split=split)
        elif entry.split != split:
            raise ManifestError(f"{path}: row {line}: split={split!r} but earlier rows of {cell['file']!r} say "
                                f"{entry.split!r}; give every row of a file the same split")
        if not (cell["onset"] or cell["offset"] or cell["label"]):
            continue  # a file without events
        onset = _number(path, line, "onset", cell["onset"])
        offset = _number(path, line, "offset", cell["offset"])
        label = cell["label"]
        if not label:
            raise ManifestError(f"{path}: row {line}: empty label; give the event's class")
        if onset >= offset:
            raise ManifestError(f"{path}: row {line}: onset {onset:g} s is not before offset {offset:g} s; "
                                "swap them or fix the times")
        if onset < 0:
            raise ManifestError(f"{path}: row {line}: onset {onset:g} s is before the start of the file; give onset >= 0")
        if check_duration and offset > durations[audio] + END_TOLERANCE_S:
            raise ManifestError(f"{path}: row {line}: offset {offset:g} s is past the end of {cell['file']!r} "
                                f"({durations[audio]:.3f} s); fix the time or the file")
        if known is not None and label not in known:
            raise ManifestError(f"{path}: row {line}: unknown label {label!r}; the classes are "
                                f"{', '.join(sorted(known))} (add it to the config's classes, or fix the row)")
        for other in entry.events:
            if other.label == label and onset < other.offset_s and other.onset_s < offset:
                raise ManifestError(f"{path}: row {line}: event {label!r} {onset:g}-{offset:g} s overlaps the "
                                    f"{label!r} event {other.onset_s:g}-{other.offset_s:g} s of the same file; "
                                    "merge them into one row")
        entry.events.append(Event(onset, offset, label))
    if not files:
        raise ManifestError(f"{path}: no rows; give one row per event (file,onset,offset,label)")
    for entry in files.values():
        entry.events.sort(key=lambda e: (e.onset_s, e.offset_s))
    return list(files.values())


def check_events(events: Sequence[Event], *, what: str = "events") -> None:
    """Refuse an event whose onset is not before its offset (detections and references alike)."""
    for k, e in enumerate(events):
        if not (math.isfinite(e.onset_s) and math.isfinite(e.offset_s)) or e.onset_s >= e.offset_s:
            raise ParameterError(f"{what}[{k}] has onset {e.onset_s} s and offset {e.offset_s} s: "
                                 "an event needs onset < offset")
