"""``polysense train | evaluate | compare | config``: run experiments from config files.

The work is in :mod:`polysense.train` (the trainer, configs) and :mod:`polysense.evaluate`
(metrics, reports); these commands parse arguments and call them.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from polysense.cli.options import with_threads
from polysense.cli.signal_cmds import user_errors
from polysense.errors import ParameterError
from polysense.files import atomic_write_text

config_app = typer.Typer(help="Experiment configs: list the built-in ones, show one.", no_args_is_help=True)


def _quiet_console(quiet: bool) -> Console:
    return Console(quiet=quiet)


def train(
    config: str = typer.Argument(..., help="A YAML config file, or the name of a built-in config (`polysense config list`)."),
    out: Path = typer.Option(..., "--out", "-o", help="The run folder (new or empty; with --resume, the run to continue)."),
    overrides: list[str] = typer.Option([], "--set", help="Override a key: --set train.epochs=3 (repeatable)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in OUT from its last checkpoint."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing but errors."),
    report: bool = typer.Option(True, help="Evaluate on the test split and write report.md after training."),
) -> None:
    """Train CONFIG into the run folder OUT; then evaluate on the test split and write report.md.

    Several processes: torchrun --nproc-per-node N -m polysense train CONFIG --out RUN
    """
    from polysense.train.config import load_config
    from polysense.train.trainer import train as run_training

    with user_errors():
        experiment = load_config(config, overrides)
        result = run_training(experiment, out, resume=resume, quiet=quiet)
        import torch.distributed as dist

        if report and not (dist.is_available() and dist.is_initialized() and dist.get_rank() != 0) \
                and _is_main_process():
            from polysense.evaluate.report import write_report

            path = write_report(out, split="test" if result.data.has("test") else "val", data=result.data)
            _quiet_console(quiet).print(f"best {result.best_metric} = {result.best_value:.4f} (epoch {result.best_epoch}); "
                                        f"report: {path}")


def _is_main_process() -> bool:
    import os

    return int(os.environ.get("RANK", "0")) == 0


def evaluate(
    run_dir: Path = typer.Argument(..., help="A run folder written by `polysense train`."),
    data: str = typer.Option(None, "--data", help="Evaluate on this manifest of labelled files instead of the run's data "
                             "(rows of --split, or every row when it has no split column; labels: the run's class names or ids)."),
    split: str = typer.Option("test", "--split", help="train | val | test"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object of metrics to stdout."),
    report: bool = typer.Option(True, help="Also write report.md in the run folder."),
    allow_outside: bool = typer.Option(False, "--allow-outside", help="Allow --data to name files outside its folder."),
) -> None:
    """Evaluate a trained run: accuracy, macro-F1, per group, retrieval, zero-shot, robustness."""
    from polysense.evaluate.runner import evaluate_run
    from polysense.train.run import RunFolder

    with user_errors():
        if report and data is None:
            from polysense.evaluate.report import write_report

            write_report(run_dir, split=split)
            result = RunFolder(run_dir).read_evaluation(split)
        else:
            result = evaluate_run(run_dir, split=split, data=data, allow_outside=allow_outside)
    if as_json:
        typer.echo(json.dumps(result))
        return
    from polysense.evaluate.report import summary_lines

    console = Console()
    for line in summary_lines(result):
        console.print(line)


def compare(
    configs: list[str] = typer.Argument(..., help="Two or more configs (files or built-in names)."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the runs, the table and the figure."),
    overrides: list[str] = typer.Option([], "--set", help="Override a key in every config (repeatable)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the table."),
) -> None:
    """Train and evaluate each config on the same data, split and seed; one table and one figure."""
    from polysense.evaluate.compare import compare_configs

    with user_errors():
        table = compare_configs(configs, out, overrides=overrides, quiet=quiet)
    typer.echo(table)


@config_app.command("list")
def config_list() -> None:
    """The built-in configs with their one-line descriptions."""
    from polysense.train.config import config_names, load_config

    with user_errors():
        for name in config_names():
            description = load_config(name).description.strip().splitlines()
            typer.echo(f"{name:28s} {description[0] if description else ''}")


@config_app.command("show")
def config_show(name: str = typer.Argument(..., help="A built-in config name or a YAML file."),
                resolved: bool = typer.Option(False, "--resolved", help="Show every key with its default, bases merged.")) -> None:
    """Print a config (as shipped, or resolved with --resolved)."""
    import yaml

    from polysense.train.config import load_config, named_config_text

    with user_errors():
        if resolved or Path(name).suffix in (".yaml", ".yml"):
            typer.echo(yaml.safe_dump(load_config(name).to_dict(), sort_keys=False))
        else:
            typer.echo(named_config_text(name))


@config_app.command("new")
def config_new(
    task: str = typer.Option(..., "--task", help="classify | retrieve | denoise | detect"),
    data: Path = typer.Option(..., "--data", help="Your manifest (e.g. written by `polysense data folder`); for detect "
                              "an annotation CSV file,onset,offset,label,split."),
    out: Path = typer.Option(..., "-o", "--out", help="The YAML file to write."),
    name: str = typer.Option(None, "--name", help="The config's name (default: MANIFEST-TASK)."),
) -> None:
    """Write a commented starting config for TASK on your manifest, which `polysense train` accepts as is."""
    import yaml  # here, as in config_show: 40 ms of every `polysense` start-up otherwise

    from polysense.train.config import load_config
    from polysense.train.starter import starter_config

    if out.suffix.lower() not in (".yaml", ".yml"):
        raise ParameterError(f"-o {out}: name the config .yaml")
    text = starter_config(task, data, name=name)
    load_config(yaml.safe_load(text))  # what train will read: checked before it is written
    atomic_write_text(out, text)
    typer.echo(f"wrote {out}: train it with `polysense train {out} --out RUN`")


def register(app: typer.Typer) -> None:
    """Add train, evaluate, compare and config to ``app``."""
    app.command("train")(with_threads(train))
    app.command("evaluate")(with_threads(evaluate))
    app.command("compare")(with_threads(compare))
    app.add_typer(config_app, name="config")
