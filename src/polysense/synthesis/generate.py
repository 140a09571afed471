"""Generate labelled clips from a trained generator run into a new folder, all or nothing.

``generate_to_folder(run, label="7", n=16, out_dir="gen", seed=0)`` loads the run's best weights,
asks its model (any model with ``generate(label, speaker, seed=) -> (B, T)``, e.g. ``specgan``) for
``n`` clips, clip ``i`` with seed ``seed + i`` (so ``--seed S+i -n 1`` makes clip ``i`` again), and
writes ``{label}_{speaker|any}_{seed}.wav`` (16-bit PCM at the run's sample rate) plus
``manifest.csv`` with the columns ``file,label,speaker,seed`` (the speaker empty when none was
asked: a speaker-conditioned model then draws one from the seed).

Nothing half-written: every file goes into a hidden temporary folder beside ``out_dir``, which is
renamed to ``out_dir`` only when all are written (an existing empty ``out_dir`` is replaced; one
holding anything is refused before any work).
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from polysense._checks import check_positive_int, check_size
from polysense.data.generated import GENERATED_COLUMNS, MANIFEST
from polysense.errors import ParameterError

__all__ = ["MANIFEST", "GeneratedClip", "GeneratedSet", "generate_to_folder", "resolve_label", "resolve_speaker"]



@dataclass
class GeneratedClip:
    """One written clip: its file name (in the folder), the label and speaker asked for, its seed."""

    file: str
    label: str
    speaker: str
    seed: int


@dataclass
class GeneratedSet:
    folder: Path
    sample_rate: int
    clips: list[GeneratedClip] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"folder": str(self.folder), "sample_rate": self.sample_rate, "manifest": str(self.folder / MANIFEST),
                "clips": [asdict(c) for c in self.clips]}


def resolve_label(label: str | int, classes: tuple[str, ...] | None) -> int:
    """The index of ``label`` among the run's ``classes``: a class name (``seven``), else an
    index (``7``); anything else is an error listing the valid labels."""
    if not classes:
        raise ParameterError("the run has no class names (run.json lists none): it was not trained on labelled data")
    text = str(label).strip()
    if text in classes:
        return classes.index(text)
    if text.lstrip("-").isdigit() and 0 <= int(text) < len(classes):
        return int(text)
    valid = ", ".join(f"{i} ({name})" for i, name in enumerate(classes))
    raise ParameterError(f"--label {label!r} is not a label of this run: choose one of {valid}")


def resolve_speaker(speaker: str | None, speakers: list[str] | None, conditioned: bool) -> int | None:
    """The index of ``speaker`` among the run's ``speakers`` (None when none is asked for)."""
    if speaker is None:
        return None
    if not conditioned or not speakers:
        raise ParameterError(f"--speaker {speaker!r}: this run's generator is not conditioned on speakers; "
                             "leave --speaker out")
    if speaker not in speakers:
        raise ParameterError(f"--speaker {speaker!r} is not a speaker of this run: choose one of {', '.join(speakers)}")
    return speakers.index(speaker)


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ParameterError(f"-o {out_dir} is a file: give a new or empty folder for the clips")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        raise ParameterError(f"-o {out_dir} already holds files: give a new or empty folder (nothing was written)")


def _csv(clips: list[GeneratedClip]) -> str:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(GENERATED_COLUMNS)
    writer.writerows([c.file, c.label, c.speaker, c.seed] for c in clips)
    return text.getvalue()


def generate_to_folder(run_dir: str | os.PathLike, *, label: str | int, n: int, out_dir: str | os.PathLike,
                       speaker: str | None = None, seed: int = 0) -> GeneratedSet:
    """Write ``n`` clips of ``label`` (and ``speaker``) made by the run's generator into the new
    folder ``out_dir`` with ``manifest.csv`` (see the module docstring).

    Raises:
        ParameterError: a label or speaker the run does not know (the message lists the valid
            ones), ``n`` < 1 or above ``POLYSENSE_MAX_GENERATED_CLIPS``, a seed outside
            0 … 2^63 − 1 − n, an output folder holding files, a run whose model cannot generate.
    """
    from polysense.audio import save
    from polysense.train.run import load_run, read_run_info

    n = check_size("-n", n, limit="max_generated_clips", what="clips")
    seed = check_positive_int("--seed", seed, minimum=0, maximum=2**63 - 1 - n)
    out_dir = Path(out_dir)
    _check_out_dir(out_dir)
    run = load_run(run_dir)
    model = run.model
    if not callable(getattr(model, "generate", None)):
        raise ParameterError(f"{run_dir}: its model ({run.config['model'].get('name')}) does not generate sounds; "
                             "give a run of a generator config (e.g. fsdd-generate)")
    index = resolve_label(label, run.classes)
    speakers = read_run_info(run_dir).get("speakers")
    speaker_index = resolve_speaker(speaker, speakers, bool(getattr(model, "num_speakers", 0)))
    sample_rate = int(run.sample_rate or getattr(model, "sample_rate"))
    name = run.classes[index]
    clips = []
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's folder is private; the clips' folder is an ordinary one
        label_tensor = torch.tensor([index])
        speaker_tensor = None if speaker_index is None else torch.tensor([speaker_index])
        for i in range(n):
            waveform = model.generate(label_tensor, speaker_tensor, seed=seed + i)[0]
            clip = GeneratedClip(file=f"{name}_{speaker or 'any'}_{seed + i}.wav", label=name, speaker=speaker or "",
                                 seed=seed + i)
            save(tmp / clip.file, waveform.clamp(-1, 1), sample_rate)
            clips.append(clip)
        (tmp / MANIFEST).write_text(_csv(clips), encoding="utf-8")
        _check_out_dir(out_dir)  # still new or empty after the work
        if out_dir.is_dir():
            out_dir.rmdir()
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return GeneratedSet(folder=out_dir, sample_rate=sample_rate, clips=clips)
