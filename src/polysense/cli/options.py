"""Options several commands share, declared once."""

from __future__ import annotations

import typer

THREADS_HELP = ("CPU threads for PyTorch and the front end (default: OMP_NUM_THREADS, else the cores the load "
                "average leaves free; see polysense.threads).")


def threads_option() -> int | None:
    """``--threads N`` (None: the default of :func:`polysense.threads.default_threads`)."""
    return typer.Option(None, "--threads", help=THREADS_HELP, show_default=False)
