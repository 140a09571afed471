"""``polysense data ...``: checking manifests and making splits (the work is in polysense.data)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from polysense.cli.signal_cmds import user_errors
from polysense.errors import ParameterError

data_app = typer.Typer(help="Dataset manifests: check them, split them.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.add_typer(data_app, name="data")


@data_app.command("check")
def check(
    manifest: Path = typer.Argument(..., help="A .csv or .jsonl manifest."),
    allow_outside: bool = typer.Option(False, "--allow-outside", help="Allow file paths outside the manifest's folder."),
    headers_only: bool = typer.Option(False, "--headers-only", help="Read file headers only, do not decode audio."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Read every row and file of MANIFEST and report all problems; exit 0 only when it is usable."""
    from polysense.data.check import check_manifest

    report = check_manifest(manifest, allow_outside=allow_outside, decode=not headers_only)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _print_report(report, Console(width=max(Console().width, 120)))
    raise typer.Exit(0 if report.usable else 1)


@data_app.command("split")
def split(
    manifest: Path = typer.Argument(..., help="A .csv or .jsonl manifest."),
    out: Path = typer.Option(..., "-o", "--out", help="Where to write the manifest with a split column (.csv)."),
    fractions: str = typer.Option("0.8,0.1,0.1", help="Shares of train,val,test (or train,test)."),
    seed: int = typer.Option(0, help="The same seed gives the same split."),
    stratify: bool = typer.Option(True, help="Keep class proportions equal across splits."),
    allow_outside: bool = typer.Option(False, "--allow-outside", help="Allow file paths outside the manifest's folder."),
) -> None:
    """Assign train/val/test from SEED (stratified by label, no group in two splits) and write OUT."""
    from polysense.data.manifest import read_manifest, write_manifest
    from polysense.data.splits import assign_splits, split_manifest
    try:
        shares = tuple(float(f) for f in fractions.split(","))
    except ValueError:
        raise typer.BadParameter(f"--fractions {fractions!r}: give numbers separated by commas, e.g. 0.8,0.1,0.1") from None
    # errors reach the app's one handler (polysense.cli.errors): one line on stderr, exit 1
    assigned = assign_splits(read_manifest(manifest, allow_outside=allow_outside), fractions=shares, seed=seed,
                             stratify=stratify)
    parts = split_manifest(assigned, names=sorted({r.split for r in assigned.rows}, key=_split_order))
    path = write_manifest(out, assigned)
    console = Console()
    for name, part in parts.items():
        groups = sorted({r.group for r in part.rows if r.group is not None})
        extra = f" groups: {', '.join(groups[:8])}{' ...' if len(groups) > 8 else ''}" if groups else ""
        console.print(f"{name}: {len(part)} rows{extra}")
    console.print(f"wrote {path}")


def _split_order(name: str) -> int:
    return ("train", "val", "test").index(name)


def _print_report(report, console: Console) -> None:
    status = "[green]usable[/green]" if report.usable else "[red]NOT usable[/red]"
    console.print(f"[bold]{report.path}[/bold]: {report.rows} rows, columns {', '.join(report.columns) or '-'}; "
                  f"{len(report.errors)} error(s), {len(report.warnings)} warning(s): {status}")
    if report.problems:
        table = Table(title="Problems", show_lines=False)
        for col in ("", "where", "column", "problem", "fix"):
            table.add_column(col, overflow="fold")
        for p in report.problems:
            mark = "[red]error[/red]" if p.severity == "error" else "[yellow]warning[/yellow]"
            table.add_row(mark, p.where, p.column or "", p.message, p.fix)
        console.print(table)
    if report.sample_rates or report.image_sizes:
        table = Table(title="Files")
        table.add_column("property")
        table.add_column("values (count)")
        if report.sample_rates:
            table.add_row("sample rate", ", ".join(f"{r} Hz ({n})" for r, n in sorted(report.sample_rates.items())))
            table.add_row("channels", ", ".join(f"{c} ({n})" for c, n in sorted(report.channels.items())))
            table.add_row("audio duration", f"{report.audio_seconds:.1f} s")
        if report.image_sizes:
            table.add_row("image size (w x h)", ", ".join(f"{w}x{h} ({n})" for (w, h), n in sorted(report.image_sizes.items())))
        console.print(table)
    if report.class_balance:
        splits = list(report.class_balance)
        labels = sorted(set().union(*report.class_balance.values()))
        table = Table(title="Class balance per split")
        table.add_column("label")
        for s in splits:
            table.add_column(s, justify="right")
        for label in labels:
            table.add_row(str(label), *(str(report.class_balance[s].get(label, 0)) for s in splits))
        table.add_row("[bold]total[/bold]", *(str(sum(report.class_balance[s].values())) for s in splits))
        console.print(table)


@data_app.command("fsdd")
def fsdd(
    recordings: Path = typer.Argument(None, help="FSDD recordings folder (default: $POLYSENSE_FSDD or ../shared/data/fsdd/recordings)."),
    out: Path = typer.Option(..., "-o", "--out", help="Where to write the manifest (.csv or .jsonl)."),
    test_speakers: str = typer.Option("theo", "--test-speakers", help="Held-out test speakers, comma-separated."),
    val_speakers: str = typer.Option("jackson", "--val-speakers", help="Validation speakers, comma-separated ('' for none)."),
) -> None:
    """Write the manifest of an FSDD-style folder with a speaker-independent split."""
    from polysense.data.builtin import default_fsdd_folder
    from polysense.data.fsdd import fsdd_manifest
    from polysense.data.manifest import write_manifest

    folder = recordings or default_fsdd_folder()
    speakers = lambda text: tuple(s.strip() for s in text.split(",") if s.strip())  # noqa: E731
    with user_errors():
        manifest = fsdd_manifest(folder, test_speakers=speakers(test_speakers), val_speakers=speakers(val_speakers))
        path = write_manifest(out, manifest)
    counts = {s: sum(r.split == s for r in manifest.rows) for s in ("train", "val", "test")}
    Console().print(f"wrote {path}: " + ", ".join(f"{k} {v}" for k, v in counts.items() if v))


@data_app.command("folder")
def folder(
    root: Path = typer.Argument(..., help="The folder of your sound (or image) files, searched recursively."),
    out: Path = typer.Option(..., "-o", "--out", help="Where to write the manifest (.csv or .jsonl), in ROOT or a folder above it."),
    labels: str = typer.Option("subfolders", "--labels", help="'subfolders' (ROOT/CLASS/file), a CSV with columns "
                               "file,label, or 'none'."),
    captions: bool = typer.Option(False, "--captions", help="Read a caption from a .txt beside each file."),
    group: str = typer.Option(None, "--group", help="A regular expression on the file's path naming its group "
                              "(speaker, site): its first (...) group, else the whole match."),
    split: str = typer.Option(None, "--split", help="group (a group stays in one split; the default with --group), "
                              "random (the default without), or none."),
    fractions: str = typer.Option("0.8,0.1,0.1", help="Shares of train,val,test."),
    seed: int = typer.Option(0, help="The same seed gives the same split."),
) -> None:
    """Write the manifest of a folder of your own files: labels, captions, groups and a split; report what was skipped."""
    from polysense.data.folder import folder_manifest
    from polysense.data.manifest import write_manifest

    try:
        shares = tuple(float(f) for f in fractions.split(","))
    except ValueError:
        raise typer.BadParameter(f"--fractions {fractions!r}: give numbers separated by commas, e.g. 0.8,0.1,0.1") from None
    if root.is_dir() and not root.resolve().is_relative_to(out.resolve().parent):
        raise ParameterError(f"-o {out}: write the manifest in {root} or a folder above it (a manifest reads only files "
                             f"under its own folder), e.g. -o {root / 'manifest.csv'}")
    result = folder_manifest(root, labels=None if labels == "none" else labels, captions=captions, group=group,
                             split=split, fractions=shares, seed=seed)
    path = write_manifest(out, result.manifest)
    manifest = result.manifest
    console = Console(width=max(Console().width, 120))
    counts = {s: sum(r.split == s for r in manifest.rows) for s in ("train", "val", "test")}
    split_text = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
    classes = f"; {len(manifest.classes)} classes: {', '.join(manifest.classes)}" if manifest.classes else ""
    console.print(f"wrote {path}: {len(manifest)} rows{f' ({split_text})' if split_text else ''}{classes}", highlight=False)
    if result.skipped:
        console.print(f"skipped {len(result.skipped)} file(s):", highlight=False)
        for file, reason in result.skipped:
            console.print(f"  {file}: {reason}", highlight=False, markup=False)
