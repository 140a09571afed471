"""The main job, on built-in data (no files, no network): what ``make demo`` runs.

1. The synthetic tri-modal data is generated through the A/D path (sampling, 16-bit
   quantization): sounds, pictures and captions, with a task that needs sound *and* picture.
2. The single-modality baselines, early, late and hybrid fusion, the CLIP-style and VSE++
   audio-text models are trained by the one trainer from the built-in configs, on the same
   data, split and seed; a stacking ensemble combines the two single-modality runs.
3. Each run is evaluated on the test split and gets its ``report.md`` with figures; one table
   compares them (task, model, accuracy or R@1, training time) in ``comparison.md``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from polysense.files import atomic_write_text

__all__ = ["DEMO_CONFIGS", "DEMO_OVERRIDES", "DEMO_THREADS", "run_demo"]

#: (run name, built-in config, task label) in the order of the table.
DEMO_CONFIGS: tuple[tuple[str, str, str], ...] = (
    ("audio-only", "synthetic-audio", "classify (needs both)"),
    ("image-only", "synthetic-image", "classify (needs both)"),
    ("early-fusion", "synthetic-early", "classify (needs both)"),
    ("late-fusion", "synthetic-late", "classify (needs both)"),
    ("hybrid-fusion", "synthetic-hybrid", "classify (needs both)"),
    ("clip", "synthetic-clip", "audio-text retrieval"),
    ("vsepp", "synthetic-vsepp", "audio-text retrieval"),
)

#: Sizes that keep the whole demo within a few minutes on a 2-core CPU.
DEMO_OVERRIDES: tuple[str, ...] = ("data.num_samples=600",)

#: The demo's CPU threads. Its table is a reference (the README's, checked by tests/test_readme.py),
#: and PyTorch's sums, so the scores, change with the thread count: one thread gives the same table
#: on every machine, and on a 2-core machine another busy process does not slow it (benchmarks/deploy.py).
DEMO_THREADS = 1


def run_demo(out: str | Path, *, overrides: Sequence[str] = DEMO_OVERRIDES, quiet: bool = True,
             say: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Train, evaluate and report every demo model into ``out``; return the table's rows."""
    # here, not at the top: the CLI imports this module at start-up (no torch for `polysense --help`)
    from polysense.evaluate.compare import comparison_table, plot_comparison, train_and_score
    from polysense.evaluate.ensemble import ensemble_of_runs
    from polysense.train.config import load_config

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for position, (name, config_name, task) in enumerate(DEMO_CONFIGS, start=1):
        say(f"[{position}/{len(DEMO_CONFIGS) + 1}] training {name} ({config_name})")
        row = train_and_score(load_config(config_name, overrides), out / name, task=task, quiet=quiet)
        rows.append(row)
        say(f"      test {row['score']} = {row['value']:.3f}  ({row['train_seconds']:.1f} s of training)")
    say(f"[{len(DEMO_CONFIGS) + 1}/{len(DEMO_CONFIGS) + 1}] stacking ensemble of the audio-only and image-only runs")
    start = time.perf_counter()
    ensemble = ensemble_of_runs({"audio": out / "audio-only", "image": out / "image-only"}, method="stacking",
                                level="embeddings")
    rows.append({"run": "stacking-ensemble", "task": "classify (needs both)", "model": "stacking (scikit-learn)",
                 "score": "accuracy", "value": ensemble["accuracy"], "train_seconds": time.perf_counter() - start})
    say(f"      test accuracy = {ensemble['accuracy']:.3f}")
    table = comparison_table(rows)
    plot_comparison(rows, out / "comparison.png")
    atomic_write_text(out / "comparison.md", "# polysense demo: synthetic tri-modal data\n\n" + table +
                      "\n\nEach run's report: `<run>/report.md`.\n\n![comparison](comparison.png)\n")
    atomic_write_text(out / "comparison.json", json.dumps(rows, indent=2))
    return rows
