"""Dataset manifests: one row per sample, in CSV or JSON Lines.

Columns (any subset; at least one modality column):

============== ==================================================================================
``id``          unique name of the sample; when the column is absent, rows are named ``row<N>``
``audio``       path to an audio file (WAV, FLAC, OGG, ...)
``image``       path to an image file (anything Pillow decodes)
``text``        a caption or transcript (a sequence recogniser, :mod:`polysense.models.ctc`, reads it as
                the spoken words separated by spaces)
``label``       the class: an integer class id >= 0 (``"3"`` and ``3.0`` are accepted), or a class
                name (``robin``). A manifest whose labels are all integers uses them as ids; as soon
                as one label is a name, every label is a name (``"3"`` is the name ``3``), the
                manifest's :attr:`Manifest.classes` are the names sorted, and a row's id is the index
                of its name there (:meth:`Manifest.with_classes` maps them to a model's classes)
``label:TASK``  an integer class id for a named task (e.g. ``label:audio``, ``label:both``); these go
                to ``Row.labels`` / the sample's ``"labels"`` dict
``split``       ``train``, ``val`` or ``test``
``group``       what a fair split keeps together (a speaker, a recording site)
``meta:NAME``   free-form metadata, kept in ``Row.meta`` and never interpreted
============== ==================================================================================

Any other column is refused (it is most likely a misspelt column or a modality polysense does not
read). An empty cell (CSV) or a missing key / ``null`` (JSONL) means "absent"; a row must have at
least one modality, and when the manifest has a label column every row needs a label.

Relative paths resolve against the manifest's folder. A path that ends up outside that folder (via
``..``, an absolute path elsewhere, or a symbolic link pointing out) is refused unless
``allow_outside=True``: a manifest is data, and data should not make a program read arbitrary files.

Rows are numbered from 1 in file order; errors name the manifest, the row (and for CSV the line)
and the sample id, and say how to fix it.

Every row is parsed on its own: whatever is wrong with one (a path with a NUL byte or a symbolic
link loop, a label of 5,000 digits, JSON nested 100,000 deep) becomes a problem of that row, never
an exception. A manifest larger than ``POLYSENSE_MAX_MANIFEST_BYTES`` or with more rows than
``POLYSENSE_MAX_MANIFEST_ROWS`` is refused (:mod:`polysense.limits`). Paths are checked again when
a file is opened (:meth:`Manifest.open_path`), so a file swapped for a symbolic link pointing out
after the manifest was read is refused too.
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from polysense import limits
from polysense.errors import ManifestError, ParameterError

__all__ = [
    "COLUMNS",
    "MODALITIES",
    "SPLITS",
    "Manifest",
    "Problem",
    "Row",
    "check_split_name",
    "parse_manifest",
    "read_manifest",
    "write_manifest",
]

MODALITIES = ("audio", "image", "text")
FILE_MODALITIES = ("audio", "image")
COLUMNS = ("id", *MODALITIES, "label", "split", "group")
SPLITS = ("train", "val", "test")
LABEL_PREFIX = "label:"
META_PREFIX = "meta:"
SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}

_INT_RE = re.compile(r"^[+-]?\d+$")
# The largest class id: a label must fit the int64 tensors of a batch with room to spare.
MAX_LABEL = 2**31 - 1
MAX_CLASS_NAME = 100
# a class name: a word-like string (it becomes a file name, a column and a JSON key in reports)
_CLASS_NAME_RE = re.compile(r"^[^\W_](?:[\w .+'-]{0,%d}[\w.+'-])?$" % (MAX_CLASS_NAME - 2))


def check_split_name(split: str | None) -> str | None:
    """``split`` if it is one of :data:`SPLITS` or None (every split), else a ParameterError."""
    if split is not None and split not in SPLITS:
        raise ParameterError(f"split={split!r} is not a split name: choose one of {', '.join(SPLITS)} or None")
    return split


@dataclass(frozen=True)
class Row:
    """One sample of a manifest. Paths are resolved (absolute); absent values are ``None``."""

    number: int
    id: str
    line: int | None = None
    audio: Path | None = None
    image: Path | None = None
    text: str | None = None
    label: int | None = None
    labels: dict[str, int] = field(default_factory=dict)
    split: str | None = None
    group: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        """``row 3 (line 4), id 'x'``: how messages point at this row."""
        line = f" (line {self.line})" if self.line is not None else ""
        return f"row {self.number}{line}, id {self.id!r}"


@dataclass(frozen=True)
class Problem:
    """Something wrong (``severity="error"``) or worth a look (``"warning"``) in a manifest."""

    message: str
    fix: str = ""
    severity: str = "error"
    row: int | None = None
    line: int | None = None
    id: str | None = None
    column: str | None = None
    file: str | None = None

    @property
    def where(self) -> str:
        if self.row is None:
            return "manifest"
        line = f" (line {self.line})" if self.line is not None else ""
        ident = f", id {self.id!r}" if self.id is not None else ""
        return f"row {self.row}{line}{ident}"

    def __str__(self) -> str:
        fix = f" Fix: {self.fix}" if self.fix else ""
        return f"{self.where}: {self.message}.{fix}"


@dataclass(frozen=True)
class Manifest:
    """A parsed manifest: its file, the folder paths resolve against, its columns and rows."""

    path: Path
    root: Path
    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    allow_outside: bool = False
    classes: tuple[str, ...] | None = None  # the class names of the label ids, when labels are names

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows)

    def __getitem__(self, index: int) -> Row:
        return self.rows[index]

    @property
    def modalities(self) -> tuple[str, ...]:
        """The modality columns this manifest has, in the order audio, image, text."""
        return tuple(m for m in MODALITIES if m in self.columns)

    @property
    def label_tasks(self) -> tuple[str, ...]:
        return tuple(c[len(LABEL_PREFIX):] for c in self.columns if c.startswith(LABEL_PREFIX))

    @property
    def has_splits(self) -> bool:
        return "split" in self.columns

    @property
    def labels(self) -> list[int | None]:
        return [r.label for r in self.rows]

    @property
    def groups(self) -> list[str | None]:
        return [r.group for r in self.rows]

    def class_names(self) -> tuple[str, ...] | None:
        """The name of every label id: :attr:`classes`, else ``"0" .. "K-1"`` for integer labels (K the
        largest id + 1, so an id absent from the rows still has its place), None without labels."""
        if self.classes is not None:
            return self.classes
        ids = [r.label for r in self.rows if r.label is not None]
        return tuple(str(i) for i in range(max(ids) + 1)) if ids else None

    def with_classes(self, classes: Sequence[str]) -> Manifest:
        """A copy whose label ids index ``classes`` (a trained model's class names).

        Name labels are mapped by name; an integer label ``k`` is the id ``k`` of ``classes`` (an
        integer is an id, whatever the names: a manifest of FSDD digits 0-9 fits a model whose
        classes are ``zero`` .. ``nine``). A name not in ``classes``, or an id past its end, is a
        :class:`ManifestError` naming the rows.
        """
        classes = tuple(str(c) for c in classes)
        index = {name: i for i, name in enumerate(classes)}
        rows, unknown = [], []
        for row in self.rows:
            if row.label is None:
                rows.append(row)
                continue
            if self.classes is not None:
                target = index.get(self.classes[row.label])
            else:
                target = row.label if row.label < len(classes) else None
            if target is None:
                unknown.append(row)
            rows.append(replace(row, label=target))
        if unknown:
            shown = ", ".join(f"{r.where} label {self._label_text(r)!r}" for r in unknown[:5])
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            raise ManifestError(
                f"{self.path}: {len(unknown)} row(s) have a label outside the classes {list(classes)}: {shown}{more}. "
                "Fix: label the rows with those class names (or their ids 0.."
                f"{len(classes) - 1}), or leave out the rows of other classes")
        return replace(self, rows=tuple(rows), classes=classes)

    def _label_text(self, row: Row) -> str:
        return self.classes[row.label] if self.classes is not None and row.label is not None else str(row.label)

    def select(self, indices: Iterable[int]) -> Manifest:
        """A manifest holding the rows at ``indices`` (row numbers are kept)."""
        return replace(self, rows=tuple(self.rows[i] for i in indices))

    def with_splits(self, assignment: Sequence[str]) -> Manifest:
        """A copy whose rows carry the split names in ``assignment`` (one per row)."""
        if len(assignment) != len(self.rows):
            raise ManifestError(f"{self.path}: {len(assignment)} split names given for {len(self.rows)} rows")
        columns = self.columns if "split" in self.columns else (*self.columns, "split")
        rows = tuple(replace(r, split=s) for r, s in zip(self.rows, assignment, strict=True))
        return replace(self, columns=columns, rows=rows)

    def open_path(self, row: Row, path: Path) -> Path:
        """``path`` (a file of ``row``) resolved again just before it is opened: unless the manifest
        allows paths outside its folder, a path that now leads outside (a file replaced by a symbolic
        link after the manifest was read) raises :class:`ManifestError`."""
        try:
            resolved = path.resolve()
        except (OSError, RuntimeError, ValueError) as exc:
            raise self.error(row, f"file {path} cannot be resolved ({_reason(exc)})", "fix the path or the link") from None
        if not self.allow_outside and not resolved.is_relative_to(self.root):
            raise self.error(
                row, f"file {path} now resolves to {resolved}, outside the manifest's folder {self.root} "
                "(it was replaced by a symbolic link after the manifest was read)",
                "restore the file, or pass allow_outside=True if you trust the link",
            )
        return resolved

    def error(self, row: Row | None, message: str, fix: str = "") -> ManifestError:
        """A ManifestError naming this manifest, the row and the fix."""
        where = f"{row.where}: " if row is not None else ""
        fix = f" Fix: {fix}" if fix else ""
        return ManifestError(f"{self.path}: {where}{message}.{fix}")


def read_manifest(path: str | os.PathLike, *, allow_outside: bool = False) -> Manifest:
    """Parse and validate a manifest; raise :class:`ManifestError` listing every problem found.

    This checks structure and values (columns, types, ids, paths), not the files themselves:
    :func:`polysense.data.check.check_manifest` also opens every file, and the dataset reports unreadable files when it
    loads them.
    """
    manifest, problems = parse_manifest(path, allow_outside=allow_outside)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        shown = "\n  ".join(str(p) for p in errors[:20])
        more = f"\n  ... and {len(errors) - 20} more (run `polysense data check {path}`)" if len(errors) > 20 else ""
        raise ManifestError(f"{path}: {len(errors)} problem(s):\n  {shown}{more}")
    assert manifest is not None
    return manifest


def write_manifest(path: str | os.PathLike, manifest: Manifest) -> Path:
    """Write ``manifest`` as CSV or JSONL (by ``path``'s extension); file paths relative to its folder.

    Returns the path written. Reading it back with :func:`read_manifest` gives the same rows.
    """
    path = Path(path)
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ManifestError(f"{path}: unknown manifest format {path.suffix!r}. Fix: name it .csv or .jsonl")
    folder = path.resolve().parent
    columns = list(manifest.columns)
    if "id" not in columns:
        columns.insert(0, "id")
    records = []
    for row in manifest.rows:
        record: dict[str, Any] = {}
        for column in columns:
            if column in FILE_MODALITIES:
                value = getattr(row, column)
                value = None if value is None else Path(os.path.relpath(value, folder)).as_posix()
            elif column == "label" and manifest.classes is not None and row.label is not None:
                value = manifest.classes[row.label]
            elif column.startswith(LABEL_PREFIX):
                value = row.labels.get(column[len(LABEL_PREFIX):])
            elif column.startswith(META_PREFIX):
                value = row.meta.get(column[len(META_PREFIX):])
            else:
                value = getattr(row, column)
            record[column] = value
        records.append(record)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        if kind == "csv":
            writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in records)
        else:
            for r in records:
                fh.write(json.dumps({k: v for k, v in r.items() if v is not None}) + "\n")
    os.replace(tmp, path)
    return path


def parse_manifest(path: str | os.PathLike, *, allow_outside: bool = False) -> tuple[Manifest | None, list[Problem]]:
    """Parse as much of a manifest as possible, collecting problems instead of stopping at the first.

    Returns the manifest of the rows that parsed (``None`` when the file itself is unusable) and
    the problems found. Never raises for a problem in the data.
    """
    try:
        path = Path(path)
        exists, regular = path.exists(), path.is_file()
        size = path.stat().st_size if regular else 0
    except (OSError, ValueError, TypeError) as exc:
        return None, [Problem(f"manifest path {str(path)!r} cannot be opened ({_reason(exc)})", "check the path")]
    problems: list[Problem] = []
    kind = SUFFIXES.get(path.suffix.lower())
    if not regular:
        what = "not found" if not exists else "not a regular file"
        return None, [Problem(f"manifest {what}", "check the path")]
    lim = limits.current()
    if size > lim.max_manifest_bytes:
        return None, [Problem(
            f"the manifest has {size:,} bytes, more than the limit of {limits.format_bytes(lim.max_manifest_bytes)}",
            f"split it into smaller manifests, or raise the limit with {limits.env_name('max_manifest_bytes')}")]
    if kind is None:
        return None, [
            Problem(
                f"unknown manifest format {path.suffix!r}",
                "use a .csv file with a header row, or a .jsonl file with one JSON object per line",
            )
        ]
    try:
        columns, records = _read_csv(path, problems) if kind == "csv" else _read_jsonl(path, problems)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return None, [Problem(f"cannot read the manifest ({exc})", "save it as UTF-8 text")]
    if len(records) > lim.max_manifest_rows:
        return None, [Problem(
            f"the manifest has {len(records):,} rows, more than the limit of {lim.max_manifest_rows:,}",
            f"split it into smaller manifests, or raise the limit with {limits.env_name('max_manifest_rows')}")]
    try:
        root = path.resolve().parent
    except (OSError, RuntimeError) as exc:
        return None, [Problem(f"the manifest's folder cannot be resolved ({_reason(exc)})", "check the path")]

    unknown = [c for c in columns if not _known_column(c)]
    for column in unknown:
        problems.append(
            Problem(
                f"unknown column {column!r}",
                f"polysense reads the modalities {', '.join(MODALITIES)} and the columns "
                f"{', '.join(COLUMNS)}; name extra labels 'label:TASK' and metadata 'meta:NAME', "
                "or remove the column",
                column=column,
            )
        )
    if not any(m in columns for m in MODALITIES):
        problems.append(
            Problem(
                f"missing column: the manifest has none of the modality columns {', '.join(MODALITIES)}",
                "add an 'audio', 'image' or 'text' column",
            )
        )
    if not records:
        problems.append(Problem("the manifest has no rows", "add one row per sample below the header"))

    rows: list[Row] = []
    label_texts: dict[int, str] = {}  # row number -> its label as written, when some label is a name
    for number, line, record in records:
        start = len(problems)
        try:
            row = _parse_row(number, line, record, columns, root, allow_outside, problems, label_texts)
        except Exception as exc:  # noqa: BLE001 - one bad row must never stop the others (module docstring)
            del problems[start:]
            problems.append(Problem(f"cannot be parsed ({type(exc).__name__}: {_reason(exc)})",
                                    "fix or remove the row", row=number, line=line))
            continue
        if row is not None:
            rows.append(row)

    seen: dict[str, int] = {}
    for row in rows:
        if row.id in seen:
            problems.append(
                Problem(
                    f"duplicate id: row {seen[row.id]} has the same id",
                    "give every row a unique id",
                    row=row.number,
                    line=row.line,
                    id=row.id,
                    column="id",
                )
            )
        else:
            seen[row.id] = row.number

    classes = None
    if any(r.label is None for r in rows if r.number in label_texts):  # a name among the labels: all are names
        classes = tuple(sorted({label_texts[r.number] for r in rows}))
        ids = {name: i for i, name in enumerate(classes)}
        rows = [replace(r, label=ids[label_texts[r.number]]) for r in rows]
    known = tuple(c for c in columns if _known_column(c))
    return Manifest(path=path, root=root, columns=known, rows=tuple(rows), allow_outside=allow_outside,
                    classes=classes), problems


def _reason(exc: BaseException) -> str:
    """A one-line cause for a message: the OS's words for an OSError, else the exception's text."""
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(text.split())[:200]


# ----------------------------------------------------------------------------------------------
# reading


def _known_column(column: str) -> bool:
    if column in COLUMNS:
        return True
    for prefix in (LABEL_PREFIX, META_PREFIX):
        if column.startswith(prefix) and len(column) > len(prefix):
            return True
    return False


def read_csv_lines(path: Path) -> tuple[tuple[str, ...] | None, list[tuple[int, list[str]]]]:
    """The header (names stripped; None for an empty file) and ``(line, values)`` of every later
    record of a UTF-8 CSV (a byte-order mark is dropped), ``line`` being the 1-based line the record
    starts on; empty lines are left out. The one CSV reader of the data layer (manifests and the
    dataset adapters). Raises ``OSError``, ``UnicodeDecodeError`` or ``csv.Error`` for the caller
    to report.
    """
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            return None, []
        lines = []
        while True:
            line = reader.line_num + 1
            try:
                values = next(reader)
            except StopIteration:
                break
            if values:
                lines.append((line, values))
    return tuple(h.strip() for h in header), lines


def _read_csv(path: Path, problems: list[Problem]) -> tuple[tuple[str, ...], list[tuple[int, int, dict]]]:
    columns, lines = read_csv_lines(path)
    if columns is None:
        problems.append(Problem("the CSV file is empty: no header row", f"start with a header such as {','.join(COLUMNS)}"))
        return (), []
    counts = Counter(columns)
    for column, n in counts.items():
        if n > 1:
            problems.append(Problem(f"column {column!r} appears {n} times in the header", "keep one", column=column))
        if column == "":
            problems.append(Problem("the header has an empty column name", "name every column or remove it"))
    records = []
    number = 0
    for line, values in lines:
        if not any(v.strip() for v in values):
            continue  # a line of blank fields
        number += 1
        if len(values) != len(columns):
            problems.append(
                Problem(
                    f"has {len(values)} fields but the header has {len(columns)}",
                    "quote fields that contain commas, and give every row one value per column "
                    "(an empty value is allowed)",
                    row=number,
                    line=line,
                )
            )
            continue
        records.append((number, line, {c: (v if v.strip() else None) for c, v in zip(columns, values)}))
    return columns, records


def _read_jsonl(path: Path, problems: list[Problem]) -> tuple[tuple[str, ...], list[tuple[int, int, dict]]]:
    columns: dict[str, None] = {}
    records = []
    number = 0
    with open(path, encoding="utf-8-sig") as fh:
        for line, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            number += 1
            try:
                record = json.loads(text)
            except json.JSONDecodeError as exc:
                problems.append(Problem(f"is not valid JSON ({exc.msg} at column {exc.colno})", "write one JSON object per line", row=number, line=line))
                continue
            except (ValueError, RecursionError) as exc:  # a 5,000-digit number, nesting 100,000 deep
                problems.append(Problem(f"cannot be read as JSON ({_reason(exc)})", "write one flat JSON object per line",
                                        row=number, line=line))
                continue
            if not isinstance(record, dict):
                problems.append(Problem(f"is a JSON {type(record).__name__}, not an object", 'write {"audio": "...", "label": 3} per line', row=number, line=line))
                continue
            for key in record:
                columns.setdefault(key, None)
            records.append((number, line, record))
    return tuple(columns), records


def _parse_row(number, line, record, columns, root, allow_outside, problems, label_texts) -> Row | None:
    start = len(problems)

    def bad(column: str, message: str, fix: str, file: str | None = None) -> None:
        problems.append(Problem(message, fix, row=number, line=line, id=ident, column=column, file=file))

    raw_id = record.get("id")
    ident = _as_text(raw_id) if raw_id is not None else None
    if "id" in columns and not ident:
        ident = None
        bad("id", "empty id", "give every row a unique, non-empty id (or drop the id column to number rows)")
    if ident is None:
        ident = f"row{number}"

    values: dict[str, Any] = {}
    for column in FILE_MODALITIES:
        value = record.get(column)
        if value is None:
            continue
        if not isinstance(value, str):
            bad(column, f"{column} must be a file path, got {type(value).__name__} {value!r}", "write the path as a string")
            continue
        try:
            resolved = _resolve(value, root)
        except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, a NUL byte, a name too long
            bad(column, f"{column} path {value[:200]!r} cannot be resolved ({_reason(exc)})",
                "fix the path (or the symbolic link it goes through)", file=value[:200])
            continue
        if not allow_outside and not resolved.is_relative_to(root):
            bad(
                column,
                f"{column} path {value!r} resolves to {resolved}, outside the manifest's folder {root}",
                "move the file under the manifest's folder, or allow it explicitly "
                "(allow_outside=True; on the command line --allow-outside) if you trust this manifest",
                file=value,
            )
            continue
        values[column] = resolved

    text = record.get("text")
    if text is not None:
        if isinstance(text, (dict, list)):
            bad("text", f"text must be a string, got {type(text).__name__}", "write the caption as a string")
        else:
            values["text"] = _as_text(text)

    labels: dict[str, int] = {}
    for column in columns:
        if column != "label" and not column.startswith(LABEL_PREFIX):
            continue
        value = record.get(column)
        if value is None:
            bad(column, f"missing {column}: the manifest has a {column!r} column but this row leaves it empty",
                "give every row an integer class id, or remove the row")
            continue
        parsed = _as_label(value)
        if column == "label":
            text = _as_text(value) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else ""
            if parsed is None and (not _CLASS_NAME_RE.match(text) or _is_number(text)):
                shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
                bad(column, f"label {shown} is neither an integer class id >= 0 (at most {MAX_LABEL}) nor a class name",
                    f"write a class name of at most {MAX_CLASS_NAME} letters, digits, spaces or ._-+' "
                    "(or integer ids 0..K-1)")
                continue
            label_texts[number] = text
            values["label"] = parsed  # None for a name: ids are given once every name is known
            continue
        if parsed is None:
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            bad(column, f"{column} {shown} is not an integer class id >= 0 (at most {MAX_LABEL})",
                "write labels as integers 0..K-1 (map class names to ids first)")
            continue
        labels[column[len(LABEL_PREFIX):]] = parsed

    split = record.get("split")
    if "split" in columns:
        split_text = _as_text(split) if split is not None else ""
        if split_text not in SPLITS:
            bad("split", f"split {split!r} is not one of {', '.join(SPLITS)}", "write train, val or test (or drop the split column to make splits from a seed)")
        else:
            values["split"] = split_text

    group = record.get("group")
    if group is not None:
        values["group"] = _as_text(group)
    elif "group" in columns:
        bad("group", "empty group", "name the group (speaker, site) of every row, or drop the group column")

    meta = {k[len(META_PREFIX):]: v for k, v in record.items() if k.startswith(META_PREFIX) and len(k) > len(META_PREFIX)}

    if not any(m in values for m in MODALITIES) and len(problems) == start:
        bad("", f"has no {', '.join(MODALITIES)} value", "fill in at least one modality or remove the row")
    if len(problems) > start:
        return None
    return Row(number=number, id=ident, line=line, labels=labels, meta=meta, **values)


def _resolve(value: str, root: Path) -> Path:
    """Resolve ``value`` against ``root``, following symbolic links (so a link out is seen as out)."""
    return (root / Path(value).expanduser()).resolve()


def _as_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _is_number(text: str) -> bool:
    # "1.5", "nan", "1e3" are numbers a user meant as ids, not class names
    try:
        float(text)
    except ValueError:
        return False
    return True


def _as_label(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            return None
        number = int(value)
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > 20:  # int() of thousands of digits raises, and no class id is that long
            return None
        if _INT_RE.match(text):
            number = int(text)
        else:
            try:
                as_float = float(text)
            except ValueError:
                return None
            if not math.isfinite(as_float) or not as_float.is_integer():
                return None
            number = int(as_float)
    else:
        return None
    return number if 0 <= number <= MAX_LABEL else None
