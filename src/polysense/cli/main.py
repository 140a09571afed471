"""The ``polysense`` command: parses arguments and calls the library, nothing more.

Each layer's commands live in their own module and register themselves on the app here. Errors
are handled in one place for every command (:mod:`polysense.cli.errors`): bad input prints one
line on stderr and exits 1; ``--debug`` also prints the traceback.
"""

from __future__ import annotations

import typer

from polysense.cli import (
    data_cmds,
    demo_cmd,
    detect_cmds,
    enhance_cmds,
    predict_cmds,
    recognize_cmds,
    search_cmds,
    signal_cmds,
    synthesis_cmds,
    train_cmds,
)
from polysense.cli.errors import UserErrorGroup

app = typer.Typer(
    name="polysense",
    help="Acoustic signal processing and multimodal learning. Add --debug to any command to see tracebacks.",
    cls=UserErrorGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

signal_cmds.register(app)
data_cmds.register(app)
demo_cmd.register(app)
train_cmds.register(app)
search_cmds.register(app)  # index, search, serve
enhance_cmds.register(app)  # denoise, separate
recognize_cmds.register(app)  # transcribe
predict_cmds.register(app)  # predict, export
detect_cmds.register(app)  # detect
synthesis_cmds.register(app)  # generate, evaluate-generated


def main() -> None:
    app()


if __name__ == "__main__":
    main()
