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


def evaluate_generated(
    folder: Path = typer.Argument(..., help="A folder written by `polysense generate` (WAVs + manifest.csv)."),
    classifier: Path = typer.Option(..., "--classifier", help="Run folder of an independent classifier trained on "
                                    "real data only (e.g. the fsdd-digits recipe)."),
    reference: Path = typer.Option(None, "--reference", help="Real held-out clips as a folder with manifest.csv "
                                   "(columns file,label): the ceiling and the Fréchet distance's reference."),
    as_json: bool = typer.Option(False, "--json", help="Print the measures as one JSON object."),
) -> None:
    """Measure generated clips with an independent classifier: accuracy by the label asked for, inception score,
    and (with --reference) the same on real clips and the Fréchet distance between the two sets."""
    from polysense.evaluate.generated import evaluate_generated as evaluate, read_generated_folder
    from polysense.train.run import load_run

    run = load_run(classifier)
    if not run.classes or not run.sample_rate:
        from polysense.errors import ParameterError

        raise ParameterError(f"--classifier {classifier}: not a classifier run (no classes or sample rate in run.json)")
    generated = read_generated_folder(folder, classes=run.classes, sample_rate=int(run.sample_rate))
    real = read_generated_folder(reference, classes=run.classes, sample_rate=int(run.sample_rate)) if reference else generated
    result = evaluate(run, generated=generated, reference=real)
    if reference is None:
        result = {"generated": {k: v for k, v in result["generated"].items() if k != "fd"}, "encoder": result["encoder"]}
    if as_json:
        typer.echo(json.dumps(result))
        return
    for name in ("generated", "reference"):
        if name in result:
            m = result[name]
            fd = f", Fréchet distance {m['fd']:.4f}" if name == "generated" and "fd" in m else ""
            typer.echo(f"{name}: {m['clips']} clips, accuracy {m['accuracy']:.3f}, inception score "
                       f"{m['inception_score']:.2f}{fd}")


def register(app: typer.Typer) -> None:
    """Add generate and evaluate-generated to ``app``."""
    app.command("generate")(with_threads(generate))
    app.command("evaluate-generated")(with_threads(evaluate_generated))
