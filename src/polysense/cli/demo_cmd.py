"""``polysense demo``: run the front end on a built-in sound and write the lecture figures.

Until the full demo exists, this is what ``make demo`` runs: it synthesises an example sound,
passes it through the A/D path (anti-aliasing resampling + 16-bit quantization), and writes
its spectrogram, its mel spectrogram and the six ``explain`` figures
(:func:`polysense.evaluate.figures.frontend_demo`).
"""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from polysense.cli.signal_cmds import user_errors


def demo(
    out: Path = typer.Option(Path("demo-output"), "--out", help="Folder for the figures (created if missing)."),
) -> None:
    """Run the acoustic front end on a built-in example sound and write its figures to OUT."""
    from polysense.evaluate.figures import frontend_demo

    start = time.perf_counter()
    with user_errors():
        rows = frontend_demo(out)
    elapsed = time.perf_counter() - start
    table = Table(title=f"polysense demo: {len(rows)} figures in {out} ({elapsed:.1f} s)", title_justify="left")
    table.add_column("file")
    table.add_column("what it shows")
    for row in rows:
        table.add_row(Path(row["file"]).name, row["what"])
    Console(width=110).print(table)


def register(app: typer.Typer) -> None:
    """Add ``demo`` to ``app``."""
    app.command("demo")(demo)
