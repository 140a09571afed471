"""The CLI's one rule, over every registered command (found by walking the app, so commands added
later are covered): bad input prints one line on stderr and exits 1; no traceback ever reaches the
user; ``--debug`` shows it.

For each command: no arguments, an unknown option, each argument given a bad file (missing, a
folder, empty, not audio, a header claiming 2**36 frames or a 2.1 GHz rate, NaN samples), and each
option given bad values (not a number, negative, zero, 1e400, 10**12, 10**26, NaN; an output under
a read-only place or under a file).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.main import get_command
from typer.testing import CliRunner

from polysense.cli.main import app

runner = CliRunner()
NUMBERS = ["abc", "-1", "0", "1e400", "1000000000000", "100000000000000000000000000", "nan"]
TEXTS = ["", "nope", "\x01"]


def walk(group, prefix=()):
    """(command path, click command) for every leaf command of the app."""
    for name, command in sorted(group.commands.items()):
        if hasattr(command, "commands"):
            yield from walk(command, (*prefix, name))
        else:
            yield (*prefix, name), command


COMMANDS = list(walk(get_command(app)))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("cli")
    x = (0.1 * np.sin(np.arange(4000) / 5.0)).astype(np.float64)
    sf.write(root / "ok.wav", x, 8000, subtype="PCM_16")
    y = x.copy()
    y[5] = np.nan
    sf.write(root / "nan.wav", y, 8000, subtype="FLOAT")
    sf.write(root / "huge.flac", x, 8000, subtype="PCM_16")
    data = bytearray((root / "huge.flac").read_bytes())
    data[21] |= 0x0F
    data[22:26] = b"\xff\xff\xff\xff"
    (root / "huge.flac").write_bytes(bytes(data))
    wav = bytearray((root / "ok.wav").read_bytes())
    wav[24:28] = (2_100_000_000).to_bytes(4, "little")
    (root / "rate.wav").write_bytes(bytes(wav))
    (root / "empty.wav").write_bytes(b"")
    (root / "text.wav").write_text("not audio")
    (root / "dir.png").mkdir()
    (root / "deep.jsonl").write_text('{"audio": "ok.wav", "label": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    return {p.name: p for p in root.iterdir()} | {"missing.wav": root / "missing.wav", "root": root}


def bad_files(files) -> list[str]:
    return [str(files[n]) for n in ("missing.wav", "dir.png", "empty.wav", "text.wav", "huge.flac", "rate.wav",
                                    "nan.wav", "deep.jsonl")]


def bad_outputs(files) -> list[str]:
    # Only outputs no command can use (a folder or a new path would be valid for `demo --out` and run
    # the whole demo); an output that is a folder is in test_issue_examples_print_one_line.
    return ["/proc/polysense/x.png", str(files["ok.wav"]), str(files["ok.wav"]) + "/x.png"]


def kind_of(param) -> str:
    """The parameter's value type as lowercase text ("int", "float | none", "<class 'pathlib.path'>"):
    click's ``param.type``, or typer's annotation where typer keeps it instead."""
    if getattr(param, "type", None) is not None:
        return type(param.type).__name__.lower()
    descriptor = getattr(param, "type_descriptor", None)
    return str(getattr(descriptor, "annotation", "")).lower()


def base_args(command, files) -> list[str]:
    """A valid-looking command line: required arguments get a good audio file, required path
    options a fresh output path, other required options a number."""
    args = []
    for param in command.params:
        if not param.required:
            continue
        if param.param_type_name == "argument":
            args.append(str(files["ok.wav"]))
        else:
            is_path = "path" in kind_of(param)
            args += [param.opts[0], str(files["root"] / "out.png") if is_path else "1"]
    return args


def cases(command, files) -> list[list[str]]:
    base = base_args(command, files)
    # no arguments is bad input only where some are required (`demo` alone is a valid, slow run)
    out = [[]] if base else []
    out += [["--bogus-option"], [*base, "--bogus-option"]]
    positions = [i for i, p in enumerate(p for p in command.params if p.required and p.param_type_name == "argument")]
    for i in positions:
        for bad in bad_files(files):
            args = list(base)
            args[i] = bad
            out.append(args)
    for param in command.params:
        if param.param_type_name != "option" or getattr(param, "is_flag", False) or param.opts[0] == "--help":
            continue
        kind = kind_of(param)
        values = bad_outputs(files) if "path" in kind else NUMBERS if ("int" in kind or "float" in kind) else TEXTS
        for value in values:
            args = [a for j, a in enumerate(base) if not (base[j - 1:j] == [param.opts[0]] or a == param.opts[0])]
            out.append([*args, param.opts[0], value])
    return out


# The hostile values that are valid input for one command, each with the reason; every other case
# must be refused. (`info` reads the header only, so NaN samples are no fault; a hop longer than
# the signal gives one frame.)
VALID = {("info", "nan.wav"), ("info", "--hop=1000000000000"), ("spectrogram", "--hop=1000000000000")}


def is_valid_case(path: tuple[str, ...], args: list[str]) -> bool:
    words = {Path(a).name for a in args} | {f"{a}={b}" for a, b in zip(args, args[1:]) if a.startswith("--")}
    return any(" ".join(path) == command and word in words for command, word in VALID)


def check_one_line_rule(path: tuple[str, ...], args: list[str]) -> None:
    """Bad input exits 1 with one line on stderr starting "Error: " (or, for a report command,
    its verdict on stdout); the few valid cases (VALID) exit 0; never a traceback."""
    result = runner.invoke(app, [*path, *args])
    shown = f"polysense {' '.join(path)} {args}: exit {result.exit_code}\nstdout: {result.stdout[-800:]}\nstderr: {result.stderr[-800:]}"
    assert result.exit_code == (0 if is_valid_case(path, args) else 1), shown
    assert "Traceback" not in result.stdout + result.stderr, shown
    assert result.exception is None or isinstance(result.exception, SystemExit), shown
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) <= 1, shown
    if lines:
        assert lines[0].startswith("Error: ") and result.exit_code == 1, shown
    elif result.exit_code == 1:  # a report command (data check) may say "not usable" on stdout instead
        assert result.stdout.strip(), shown


@pytest.mark.parametrize("path, command", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_every_command_follows_the_one_line_rule(path, command, files, monkeypatch):
    monkeypatch.chdir(files["root"])  # a command writing to a default path writes here
    for args in cases(command, files):
        check_one_line_rule(path, args)


def test_the_app_has_the_commands_it_should():
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"info", "spectrogram", "explain", "data check", "data split", "demo"} <= names


def test_issue_examples_print_one_line(files, tmp_path):
    cases = [
        (["info", str(files["huge.flac"])], "huge.flac"),
        (["spectrogram", str(files["huge.flac"]), "-o", str(tmp_path / "a.png")], "huge.flac"),
        (["spectrogram", str(files["ok.wav"]), "-o", str(tmp_path / "a.png"), "--n-fft", "1000000000000"], "n_fft"),
        (["spectrogram", str(files["ok.wav"]), "-o", str(tmp_path / "a.png"), "--n-fft", "2147483648"], "n_fft"),
        (["spectrogram", str(files["ok.wav"]), "-o", str(tmp_path / "a.png"), "--sample-rate", "10000000000"],
         "sample_rate"),
        (["spectrogram", str(files["ok.wav"]), "-o", str(files["dir.png"])], "dir.png"),
        (["spectrogram", str(files["ok.wav"]), "-o", str(tmp_path / "a.png"), "--n-fft", "abc"], "--n-fft"),
        (["info", str(files["rate.wav"])], "rate.wav"),
    ]
    for args, named in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 1 and "Traceback" not in result.stderr, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and named in lines[0], (args, result.stderr)


def test_spectrogram_with_a_tiny_fft_does_not_blame_an_argument_never_given(files, tmp_path):
    result = runner.invoke(app, ["spectrogram", str(files["ok.wav"]), "-o", str(tmp_path / "a.png"), "--n-fft", "2"])
    assert "hop_length=0" not in result.stderr


def test_debug_shows_the_traceback(files, tmp_path):
    args = ["spectrogram", str(files["ok.wav"]), "-o", str(files["dir.png"])]
    assert "Traceback" not in runner.invoke(app, args).stderr
    result = runner.invoke(app, [*args, "--debug"])
    assert result.exit_code == 1 and "Traceback" in result.stderr and result.stderr.strip().endswith(
        result.stderr.strip().splitlines()[-1]) and result.stderr.strip().splitlines()[-1].startswith("Error: ")


def test_no_arguments_prints_help():
    result = runner.invoke(app, [])
    assert result.exit_code == 0 and "Usage" in result.stdout
