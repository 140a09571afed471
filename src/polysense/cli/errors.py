"""The CLI's one rule for errors: bad input prints one line on stderr and exits 1; no traceback.

:class:`UserErrorGroup` is the click group class of the ``polysense`` app (``typer.Typer(cls=...)``),
so every command, including ones added later, goes through :meth:`UserErrorGroup.main`:

- a polysense error (:class:`~polysense.errors.PolysenseError`: a bad file, value or manifest),
- a usage error from click/typer (an unknown option, ``--n-fft abc``), printed as one line instead
  of click's usage box,
- an ``OSError`` (an output path that is a folder, a read-only place, a full disk),
- anything else (a bug in polysense, said so),

each become ``Error: <one line>`` on stderr and exit status 1. ``--debug`` anywhere on the command
line (or ``POLYSENSE_DEBUG=1``) also prints the traceback.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import click
import typer
from typer.core import TyperGroup

from polysense.errors import PolysenseError

DEBUG_FLAG = "--debug"

try:  # typer >= 0.2x vendors click as typer._click; commands may raise either family
    from typer._click import exceptions as _vendored
except ImportError:  # pragma: no cover - a typer that uses click itself
    _vendored = click.exceptions
_USAGE = (click.UsageError, _vendored.UsageError)
_CLICK = (click.ClickException, _vendored.ClickException)
_NO_ARGS = (click.exceptions.NoArgsIsHelpError, getattr(_vendored, "NoArgsIsHelpError", click.exceptions.NoArgsIsHelpError))
_ABORT = (click.exceptions.Abort, typer.Abort)


def one_line(text: str) -> str:
    """``text`` on one line: its lines stripped and joined by ``; `` (a manifest's list of problems)."""
    return "; ".join(" ".join(line.split()) for line in str(text).splitlines() if line.strip())


def describe(exc: BaseException) -> str:
    """The one line a user sees for ``exc``."""
    if isinstance(exc, _USAGE):
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        return one_line(exc.format_message()) + hint
    if isinstance(exc, _CLICK):
        return one_line(exc.format_message())
    if isinstance(exc, PolysenseError):
        return one_line(str(exc))
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return one_line(f"{where}{exc.strerror or exc}")
    if isinstance(exc, MemoryError):
        return "not enough memory for this input: use smaller sizes or shorter files"
    return one_line(
        f"internal error ({type(exc).__name__}: {exc}); this is a bug in polysense: rerun with {DEBUG_FLAG} "
        "and report the traceback"
    )


def split_debug(args: Sequence[str]) -> tuple[list[str], bool]:
    """``args`` without ``--debug`` (before a ``--`` separator) and whether it was there."""
    args = list(args)
    end = args.index("--") if "--" in args else len(args)
    debug = DEBUG_FLAG in args[:end]
    if debug:
        args = [a for a in args[:end] if a != DEBUG_FLAG] + args[end:]
    return args, debug or os.environ.get("POLYSENSE_DEBUG", "") not in ("", "0")


class UserErrorGroup(TyperGroup):
    """The top-level group: runs the command and turns every error into one line + exit 1."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:  # a caller that wants the exceptions gets them
            return super().main(args=args, prog_name=prog_name, complete_var=complete_var, standalone_mode=False,
                                **extra)
        args, debug = split_debug(sys.argv[1:] if args is None else args)
        try:
            rv = super().main(args=args, prog_name=prog_name, complete_var=complete_var, standalone_mode=False,
                              **extra)
        except _NO_ARGS as exc:  # `polysense` or `polysense data` alone: help, not an error
            text = exc.format_message()  # typer's rich help prints itself while the error is made
            if text.strip():
                click.echo(text)
            sys.exit(0)
        except _ABORT:
            click.echo("Error: aborted", err=True)
            sys.exit(1)
        except Exception as exc:  # noqa: BLE001 - the one place every error is turned into one line
            if debug:
                traceback.print_exc()
            click.echo(f"Error: {describe(exc)}", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) and not isinstance(rv, bool) else 0)
