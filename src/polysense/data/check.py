"""Checking a manifest end to end: every row, every file, every split, without stopping early.

:func:`check_manifest` parses the manifest, opens and fully decodes each audio file and image,
and collects every problem it finds into a :class:`CheckReport`:

- errors (the manifest is not usable until they are fixed): structural problems (columns, types,
  ids, paths outside the folder), missing / unreadable / empty / corrupt / truncated files, the same
  file content in two splits, groups in more than one split, a val/test label never seen in train;
- warnings: mixed sample rates or channel counts (the dataset resamples and mixes to mono), the same
  file content twice in one split, no split column (splits will be made from a seed);
- statistics: sample rates, channel counts, image sizes and the class balance per split.

The report's :attr:`CheckReport.usable` is ``True`` only when there are no errors.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from polysense import audio as audio_io
from polysense.data.cache import file_sha256
from polysense.data.manifest import FILE_MODALITIES, SPLITS, Manifest, Problem, Row, parse_manifest
from polysense.errors import AudioError, ManifestError
from polysense.image import ImageError, load_image

__all__ = ["CheckReport", "check_manifest"]

_BLOCK = 1 << 16


@dataclass
class CheckReport:
    """Everything :func:`check_manifest` found. ``usable`` is ``True`` when there are no errors."""

    path: Path
    rows: int = 0
    columns: tuple[str, ...] = ()
    problems: list[Problem] = field(default_factory=list)
    sample_rates: Counter = field(default_factory=Counter)
    channels: Counter = field(default_factory=Counter)
    image_sizes: Counter = field(default_factory=Counter)
    audio_seconds: float = 0.0
    class_balance: dict[str, Counter] = field(default_factory=dict)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def usable(self) -> bool:
        return not self.errors

    @property
    def bad_rows(self) -> list[int]:
        """Row numbers with at least one error."""
        return sorted({p.row for p in self.errors if p.row is not None})

    def to_dict(self) -> dict:
        """A JSON-ready summary."""
        return {
            "manifest": str(self.path),
            "usable": self.usable,
            "rows": self.rows,
            "columns": list(self.columns),
            "errors": [_problem_dict(p) for p in self.errors],
            "warnings": [_problem_dict(p) for p in self.warnings],
            "sample_rates": {str(k): v for k, v in sorted(self.sample_rates.items())},
            "channels": {str(k): v for k, v in sorted(self.channels.items())},
            "image_sizes": {f"{w}x{h}": v for (w, h), v in sorted(self.image_sizes.items())},
            "audio_seconds": self.audio_seconds,
            "class_balance": {s: {str(k): v for k, v in sorted(c.items())} for s, c in self.class_balance.items()},
        }

    def __str__(self) -> str:
        head = f"{self.path}: {self.rows} rows, {len(self.errors)} error(s), {len(self.warnings)} warning(s): "
        head += "usable" if self.usable else "NOT usable"
        return "\n".join([head, *(f"  {p.severity}: {p}" for p in self.problems)])


def check_manifest(path: str | os.PathLike, *, allow_outside: bool = False, decode: bool = True) -> CheckReport:
    """Check a manifest and every file it names; never raises for a problem in the data.

    ``decode=False`` reads only file headers (faster; corrupt data past the header goes unseen).
    """
    manifest, problems = parse_manifest(path, allow_outside=allow_outside)
    report = CheckReport(path=Path(path), problems=list(problems))
    if manifest is None:
        return report
    report.columns = manifest.columns
    report.rows = len({r.number for r in manifest} | {p.row for p in problems if p.row is not None})

    hashes: dict[str, dict[str, list[Row]]] = {m: defaultdict(list) for m in FILE_MODALITIES}
    for row in manifest:
        for modality in FILE_MODALITIES:
            file = getattr(row, modality)
            if file is None:
                continue
            shown = file.relative_to(manifest.root) if file.is_relative_to(manifest.root) else file
            digest = _check_file(manifest, row, modality, file, shown, report, decode)
            if digest is not None:
                hashes[modality][digest].append(row)

    _check_duplicate_files(hashes, report)
    _check_sample_formats(report)
    _check_splits(manifest, report)
    report.problems.sort(key=lambda p: (p.row is not None, p.row or 0, p.severity != "error"))
    return report


# ----------------------------------------------------------------------------------------------


def _problem(row: Row, message: str, fix: str, *, column: str, file: Path | str | None = None, severity: str = "error") -> Problem:
    return Problem(message, fix, severity=severity, row=row.number, line=row.line, id=row.id, column=column,
                   file=None if file is None else str(file))


def _cause(exc: Exception, file: Path) -> str:
    text = str(exc)
    prefix = f"{file}: "
    return text[len(prefix):] if text.startswith(prefix) else text


def _check_file(manifest: Manifest, row: Row, modality: str, file: Path, shown: Path, report: CheckReport,
                decode: bool) -> str | None:
    """Open (and for audio with ``decode``, fully read) one file; record its format or its problem.
    Returns the file's content hash, or None when it has a problem. Never raises for a bad file."""
    try:
        file = manifest.open_path(row, file)
        if modality == "audio":
            info = audio_io.info(file)
            if decode:
                for _ in audio_io.blocks(file, block_size=_BLOCK, mono=False):
                    pass
            report.sample_rates[info.sample_rate] += 1
            report.channels[info.channels] += 1
            report.audio_seconds += info.duration_s
        else:
            image = load_image(file)
            report.image_sizes[(image.shape[2], image.shape[1])] += 1
        return file_sha256(file)
    except ManifestError as exc:
        report.problems.append(_problem(row, f"{modality} {shown}: {_cause(exc, f'{manifest.path}: {row.where}')}",
                                        "restore the file or remove the row", column=modality, file=file))
    except (AudioError, ImageError) as exc:
        report.problems.append(_problem(row, f"{modality} {shown}: {_cause(exc, file)}",
                                        f"replace or re-export the {modality} file, or remove the row",
                                        column=modality, file=file))
    except OSError as exc:
        report.problems.append(_problem(row, f"{modality} {shown}: unreadable ({exc.strerror or exc})",
                                        "check the file's permissions", column=modality, file=file))
    except (ValueError, RuntimeError, MemoryError) as exc:  # whatever a decoder raises: a problem of this row
        report.problems.append(_problem(row, f"{modality} {shown}: cannot be read ({type(exc).__name__}: {exc})",
                                        f"replace or re-export the {modality} file, or remove the row",
                                        column=modality, file=file))
    return None


def _check_duplicate_files(hashes: dict[str, dict[str, list[Row]]], report: CheckReport) -> None:
    for modality, by_hash in hashes.items():
        for rows in by_hash.values():
            if len(rows) < 2:
                continue
            first = rows[0]
            splits = {r.split for r in rows}
            for r in rows[1:]:
                same_file = getattr(r, modality) == getattr(first, modality)
                what = "the same file as" if same_file else "a file with the same content as"
                if len(splits) > 1:
                    report.problems.append(_problem(
                        r, f"{modality} is {what} row {first.number} ({getattr(first, modality).name}), "
                           f"across splits {sorted(s or '-' for s in splits)}: the model would be tested on training data",
                        "remove the duplicate or keep both rows in one split", column=modality, file=getattr(r, modality)))
                else:
                    report.problems.append(_problem(
                        r, f"{modality} is {what} row {first.number} ({getattr(first, modality).name})",
                        "remove the duplicate row unless the repetition is intended", column=modality,
                        file=getattr(r, modality), severity="warning"))


def _check_sample_formats(report: CheckReport) -> None:
    if len(report.sample_rates) > 1:
        rates = ", ".join(f"{r} Hz ({n})" for r, n in sorted(report.sample_rates.items()))
        report.problems.append(Problem(f"mixed sample rates: {rates}",
                                       "fine for training (audio is resampled on load); check it is intended",
                                       severity="warning", column="audio"))
    if len(report.channels) > 1:
        chans = ", ".join(f"{c} ch ({n})" for c, n in sorted(report.channels.items()))
        report.problems.append(Problem(f"mixed channel counts: {chans}",
                                       "fine for training (audio is mixed to mono on load); check it is intended",
                                       severity="warning", column="audio"))


def _check_splits(manifest: Manifest, report: CheckReport) -> None:
    has_label = "label" in manifest.columns
    by_split: dict[str, list[Row]] = defaultdict(list)
    for row in manifest:
        by_split[row.split or "all"].append(row)
    order = [s for s in (*SPLITS, "all") if s in by_split]
    if has_label:
        report.class_balance = {s: Counter(r.label for r in by_split[s]) for s in order}
    if not manifest.has_splits:
        report.problems.append(Problem("no split column", "splits will be made from a seed (stratified, group-aware); "
                                       "add a split column to fix them", severity="warning", column="split"))
        return
    if "train" not in by_split:
        report.problems.append(Problem("no row has split=train", "assign rows to train", column="split"))
    elif has_label:
        seen = {r.label for r in by_split["train"]}
        for name in order:
            if name == "train":
                continue
            unseen = [r for r in by_split[name] if r.label not in seen]
            for r in unseen:
                report.problems.append(_problem(r, f"label {r.label} in split {name!r} never occurs in 'train'",
                                                "move some rows of this class to train, or remove the class from "
                                                f"{name!r}", column="label"))
    if "group" in manifest.columns:
        where: dict[str, dict[str, Row]] = defaultdict(dict)
        for name in order:
            for r in by_split[name]:
                where[r.group].setdefault(name, r)
        for group, first in where.items():
            if len(first) > 1:
                splits = list(first)
                rows = ", ".join(f"{s}: row {first[s].number}" for s in splits)
                report.problems.append(_problem(first[splits[1]], f"group {group!r} appears in splits {splits} ({rows})",
                                                "keep every group in one split (splits made from a seed are group-aware)",
                                                column="group"))
    # Warn when a split has classes missing relative to train (imbalance worth knowing about).
    if has_label and "train" in by_split:
        classes = set(report.class_balance["train"])
        for name in order:
            missing = classes - set(report.class_balance[name])
            if name != "train" and missing:
                report.problems.append(Problem(f"split {name!r} has no rows of class(es) {sorted(missing)}, so its "
                                               "per-class metrics are undefined for them",
                                               f"add rows of those classes to {name!r} if per-class results matter",
                                               severity="warning", column="label"))


def _problem_dict(p: Problem) -> dict:
    return {k: v for k, v in {"row": p.row, "line": p.line, "id": p.id, "column": p.column, "file": p.file,
                               "message": p.message, "fix": p.fix}.items() if v is not None}

