"""``polysense demo``: the main job on built-in data (see :mod:`polysense.demo`)."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from polysense.cli.options import with_threads
from polysense.cli.signal_cmds import user_errors


def demo(
    out: Path = typer.Option(Path("demo-output"), "--out", help="Folder for the runs, reports and the table."),
    quick: bool = typer.Option(False, "--quick", help="A smaller version (fewer samples and epochs) for a smoke test."),
) -> None:
    """The main job on built-in data: train the baselines, fusions, CLIP and VSE++, compare them."""
    from polysense.demo import DEMO_OVERRIDES, run_demo

    console = Console()
    overrides = ("data.num_samples=160", "train.epochs=1") if quick else DEMO_OVERRIDES
    start = time.perf_counter()
    def say(text: str) -> None:
        console.print(text)
        console.file.flush()  # progress lines show at once, also when stdout is a file

    with user_errors():
        rows = run_demo(out, overrides=overrides, say=say)
    elapsed = time.perf_counter() - start
    table = Table(title=f"polysense demo: synthetic tri-modal data, test split ({elapsed:.0f} s in all)",
                  title_justify="left")
    for column in ("task", "model", "score", "value", "train s"):
        table.add_column(column, justify="right" if column in ("value", "train s") else "left")
    for row in rows:
        table.add_row(row["task"], row["run"], row["score"], f"{row['value']:.3f}", f"{row['train_seconds']:.1f}")
    console.print(table)
    console.print(f"reports: {out}/<run>/report.md; table: {out}/comparison.md; the lecture's figures: polysense explain")


def register(app: typer.Typer) -> None:
    """Add ``demo`` to ``app``."""
    app.command("demo")(with_threads(demo))
