"""Side by side: train several configs on the same data, split and seed, and compare them.

``compare_configs(["av-digits-early", "av-digits-late"], out)`` trains each into
``out/<name>/`` (skipping a run that already finished there), evaluates it on the test split,
and writes ``out/comparison.md`` (one table) and ``out/comparison.png`` (one figure). The main
score of a run is its accuracy for classifiers and its mean Recall@1 over both retrieval
directions for embedding models.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from polysense.errors import ParameterError
from polysense.evaluate.report import write_report
from polysense.files import atomic_write_text
from polysense.train.config import load_config
from polysense.train.run import RunFolder
from polysense.train.trainer import train

__all__ = ["compare_configs", "comparison_table", "main_score", "train_and_score"]


def main_score(evaluation: dict[str, Any]) -> tuple[str, float | None]:
    """(what, value): accuracy, else mean R@1 over retrieval directions, else SI-SDR
    improvement, else None."""
    if "accuracy" in evaluation:
        return "accuracy", float(evaluation["accuracy"])
    retrieval = evaluation.get("retrieval") or {}
    recalls = [v["r@1"] for v in retrieval.values() if "r@1" in v]
    if recalls:
        return "R@1", sum(recalls) / len(recalls)
    enhancement = evaluation.get("enhancement") or {}
    for key in ("si_sdr_improvement_db", "si_sdri_db"):
        if key in enhancement:
            return "SI-SDRi dB", float(enhancement[key])
    return "-", None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "run"


def comparison_table(rows: Sequence[dict[str, Any]]) -> str:
    """Markdown table of compare rows (task, model, score, training time)."""
    lines = ["| run | task | model | score | value | train s |", "|---|---|---|---|---:|---:|"]
    for row in rows:
        value = "-" if row["value"] is None else f"{row['value']:.3f}"
        lines.append(f"| {row['run']} | {row['task']} | {row['model']} | {row['score']} | {value} | "
                     f"{row['train_seconds']:.1f} |")
    return "\n".join(lines)


def plot_comparison(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in rows if r["value"] is not None]
    fig, ax = plt.subplots(figsize=(max(5, 1.1 * len(shown) + 2), 3.6))
    colours = {"accuracy": "tab:blue", "R@1": "tab:orange"}
    bars = ax.bar(range(len(shown)), [r["value"] for r in shown],
                  color=[colours.get(r["score"], "tab:green") for r in shown])
    for bar, row in zip(bars, shown):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), f"{row['value']:.2f}", ha="center",
                va="bottom", fontsize=8)
    ax.set_xticks(range(len(shown)), [r["run"] for r in shown], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("test score (accuracy or R@1)")
    ax.set_ylim(0, 1.08)
    ax.set_title("test split, same data and seed")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def train_and_score(config: Any, run_dir: Path, *, task: str, quiet: bool = True) -> dict[str, Any]:
    """Train ``config`` into ``run_dir`` (unless a finished run is there), write its test report,
    and return its row of the comparison table."""
    folder = RunFolder(run_dir)
    data = None if folder.finished() else train(config, run_dir, quiet=quiet).data
    write_report(run_dir, split="test", data=data)
    evaluation = folder.read_evaluation("test")
    outcome = folder.read_result()
    score, value = main_score(evaluation)
    return {"run": run_dir.name, "task": task, "model": config.model["name"], "score": score, "value": value,
            "train_seconds": float(outcome.get("train_seconds", 0.0))}


def compare_configs(configs: Sequence[str], out: str | Path, *, overrides: Sequence[str] = (), quiet: bool = False,
                    same_data: bool = True) -> str:
    """Train + evaluate each config (see the module docstring); return the Markdown table."""
    if len(configs) < 2:
        raise ParameterError("compare needs two or more configs")
    out = Path(out)
    loaded = [load_config(c, overrides) for c in configs]
    if same_data:
        reference = (loaded[0].data, loaded[0].train.seed)
        for source, config in zip(configs, loaded):
            if (config.data, config.train.seed) != reference:
                raise ParameterError(
                    f"{source} uses other data or another seed than {configs[0]}: compare runs on the same data, split "
                    "and seed (use --set data.…=… / --set train.seed=… to align them)")
    rows = []
    names: set[str] = set()
    for source, config in zip(configs, loaded):
        name = _slug(Path(source).stem if source.endswith((".yaml", ".yml")) else source)
        while name in names:
            name += "-2"
        names.add(name)
        rows.append(train_and_score(config, out / name, task=config.data.get("task", config.data["name"]),
                                    quiet=quiet))
    table = comparison_table(rows)
    plot_comparison(rows, out / "comparison.png")
    atomic_write_text(out / "comparison.md", f"# Comparison\n\n{table}\n\n![comparison](comparison.png)\n")
    atomic_write_text(out / "comparison.json", json.dumps(rows, indent=2))
    return table
