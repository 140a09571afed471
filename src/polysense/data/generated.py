"""Folders of generated clips (written by ``polysense generate``) as labelled training or test data.

A generated folder holds WAV files and ``manifest.csv`` with the columns ``file,label,speaker,seed``:
the file's name inside the folder, the class name asked for, the speaker asked for (empty when
none) and the seed that made it. :func:`read_generated_manifest` reads and checks it; the ``fsdd``
datasets add such folders to their training split (``extra_train``: generated clips as
augmentation) and :mod:`polysense.evaluate.generated` scores them.

A row naming a file outside the folder (a path, ``..``) or a label outside the expected classes is
an error naming the manifest, the line and the fix; nothing is read from outside the folder.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from polysense.errors import ParameterError

__all__ = ["GENERATED_COLUMNS", "MANIFEST", "GeneratedRow", "read_generated_manifest"]

MANIFEST = "manifest.csv"
GENERATED_COLUMNS = ("file", "label", "speaker", "seed")


@dataclass(frozen=True)
class GeneratedRow:
    """One generated clip: its absolute path, the class name and speaker asked for, its seed."""

    path: Path
    label: str
    speaker: str
    seed: int


def read_generated_manifest(folder: str | os.PathLike, *, classes: Sequence[str] | None = None) -> list[GeneratedRow]:
    """The rows of ``folder/manifest.csv`` (see the module docstring), in file order.

    ``classes``: when given, every label must be one of them.

    Raises:
        ParameterError: no manifest, missing columns, a file name that is not a plain name of a file
            in the folder, a seed that is not an integer, a label outside ``classes``, no rows.
    """
    folder = Path(folder)
    manifest = folder / MANIFEST
    if not manifest.is_file():
        raise ParameterError(f"{folder}: no {MANIFEST}; give a folder written by `polysense generate`")
    with open(manifest, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in GENERATED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ParameterError(f"{manifest}: columns {missing} are missing; a generated folder's manifest has "
                                 f"the columns {','.join(GENERATED_COLUMNS)}")
        raw = list(reader)
    if not raw:
        raise ParameterError(f"{manifest}: no clips listed; generate some with `polysense generate RUN -o {folder}`")
    rows = []
    for line, r in enumerate(raw, start=2):
        name = r["file"] or ""
        if Path(name).name != name or name in ("", ".", ".."):
            raise ParameterError(f"{manifest} line {line}: file {name!r} is not a plain file name inside the folder "
                                 "(paths are refused): list the clips by their names")
        path = folder / name
        if not path.is_file():
            raise ParameterError(f"{manifest} line {line}: {path} does not exist: regenerate the folder or remove the row")
        if classes is not None and r["label"] not in classes:
            raise ParameterError(f"{manifest} line {line}: label {r['label']!r} is not one of the classes "
                                 f"({', '.join(classes)})")
        try:
            seed = int(r["seed"])
        except ValueError:
            raise ParameterError(f"{manifest} line {line}: seed {r['seed']!r} is not an integer") from None
        rows.append(GeneratedRow(path=path.resolve(), label=r["label"], speaker=r["speaker"] or "", seed=seed))
    return rows
