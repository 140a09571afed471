"""``polysense demo``: the main job on built-in data (see :mod:`polysense.demo`)."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from polysense.cli.signal_cmds import user_errors
from polysense.demo import DEMO_THREADS


def demo(
    out: Path = typer.Option(Path("demo-output"), "--out", help="Folder for the runs, reports and the table."),
    quick: bool = typer.Option(False, "--quick", help="A smaller version (fewer samples and epochs) for a smoke test."),
    threads: int = typer.Option(DEMO_THREADS, "--threads", help="CPU threads. The table in the README is at 1: "
                                "PyTorch's sums, and so the scores, change with the thread count."),
) -> None:
    """The main job on built-in data: train the baselines, fusions, CLIP and VSE++, compare them."""
    from polysense.demo import DEMO_OVERRIDES, run_demo
    from polysense.threads import use_threads

    use_threads(threads)
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
    app.command("demo")(demo)
