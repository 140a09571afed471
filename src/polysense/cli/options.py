"""Options several commands share, declared once."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any, Optional

import typer

THREADS_HELP = ("CPU threads for PyTorch and the front end (default: OMP_NUM_THREADS, else the cores the load "
                "average leaves free; see polysense.threads).")


def with_threads(command: Callable[..., Any]) -> Callable[..., Any]:
    """``command`` with a ``--threads N`` option that sets the threads (:func:`polysense.threads.use_threads`)
    before it runs: every heavy command (training, evaluation, prediction, indexing, enhancement)."""

    @functools.wraps(command)
    def wrapper(*args: Any, threads: Optional[int] = None, **kwargs: Any) -> Any:  # noqa: UP045 - typer reads it
        from polysense.threads import use_threads  # here, not at the top: it imports torch (2 s of `--help`)

        use_threads(threads)
        return command(*args, **kwargs)

    signature = inspect.signature(command)
    option = inspect.Parameter("threads", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[int],  # noqa: UP045
                               default=typer.Option(None, "--threads", help=THREADS_HELP, show_default=False))
    wrapper.__signature__ = signature.replace(parameters=[*signature.parameters.values(), option])
    # resolved here: typer evaluates string annotations in this module's namespace, not the command's
    wrapper.__annotations__ = {**typing.get_type_hints(command), "threads": Optional[int]}  # noqa: UP045
    del wrapper.__wrapped__  # typer must read the signature above, not the command's own
    return wrapper
