"""``polysense generate | evaluate-generated``: new labelled sounds from a generator run, and their measures.

The work is in :mod:`polysense.synthesis` and :mod:`polysense.evaluate.generated`; these commands
parse arguments and call them.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from polysense.cli.options import with_threads


def generate(
    run_dir: Path = typer.Argument(..., help="Run folder of a trained generator (polysense train fsdd-generate)."),
    label: str = typer.Option(..., "--label", help="The label to generate: a class name of the run (seven) or its "
                              "index (7)."),
    speaker: str = typer.Option(None, "--speaker", help="A speaker of the run (for speaker-conditioned generators)."),
    n: int = typer.Option(16, "-n", help="How many clips (at most POLYSENSE_MAX_GENERATED_CLIPS)."),
    out: Path = typer.Option(..., "-o", "--out", help="A new (or empty) folder for the WAVs and manifest.csv."),
    seed: int = typer.Option(0, "--seed", help="Clip i uses seed S+i: the same seed makes the same clips."),
    as_json: bool = typer.Option(False, "--json", help="Print the clips as one JSON object."),
) -> None:
    """Generate N clips of a label (and speaker) with a trained generator: WAVs at the run's rate plus manifest.csv."""
    from polysense.synthesis import generate_to_folder

    result = generate_to_folder(run_dir, label=label, speaker=speaker, n=n, out_dir=out, seed=seed)
    if as_json:
        typer.echo(json.dumps(result.to_dict()))
    else:
        typer.echo(f"wrote {len(result.clips)} clips of {result.clips[0].label!r}"
                   f"{' by ' + speaker if speaker else ''} at {result.sample_rate} Hz to {result.folder} "
                   f"(manifest.csv lists them)")


def register(app: typer.Typer) -> None:
    """Add generate to ``app``."""
    app.command("generate")(with_threads(generate))
