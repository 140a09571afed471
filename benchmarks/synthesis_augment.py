"""Generated digits as training data for the digit classifier on an unseen speaker (issue 18).

One speaker-independent fold, the shipped ``fsdd-digits`` split: test speaker theo, validation
speaker jackson, training speakers nicolas and yweweler (+ 100 espeak-ng voices, as the config).

1. A generator that never heard theo nor jackson: ``fsdd-generate`` on the training speakers only
   (``data.speakers=[nicolas, yweweler]``, their takes 10-49 for training, 5-9 to choose the epoch on
   val fd), ``--generator-epochs`` epochs (``--generator RUN`` reuses a trained one).
2. ``--per-digit`` clips of each digit from it with ``polysense generate``'s function (speaker drawn
   from the seed), one folder per digit.
3. ``fsdd-digits`` trained with those folders added to its training split (``data.extra_train``)
   against without, ``--seeds`` seeds each; the epoch chosen on jackson, the accuracy on theo.

Reported: test accuracy on theo, mean ± std over seeds, and the difference paired by seed.

Run: ``PYTHONPATH=src nice -n 10 .venv/bin/python benchmarks/synthesis_augment.py --seeds 0 1 2``;
``--report`` rewrites the RESULTS.md section from ``synthesis_augment.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from frontend import write_section  # noqa: E402

from polysense.data.fsdd import DIGIT_WORDS  # noqa: E402
from polysense.evaluate.runner import evaluate_run  # noqa: E402
from polysense.synthesis.generate import generate_to_folder  # noqa: E402
from polysense.train.config import load_config  # noqa: E402
from polysense.train.trainer import train  # noqa: E402

RUNS = Path(os.environ.get("POLYSENSE_BENCH_RUNS", Path(tempfile.gettempdir()) / "polysense-synthesis-runs"))
STATE = Path(__file__).with_name("synthesis_augment.json")
START, END = "<!-- synthesis-augment:start -->", "<!-- synthesis-augment:end -->"
TRAIN_SPEAKERS = ["nicolas", "yweweler"]


def timed_train(config: dict, out: Path) -> float:
    """Train ``config`` into ``out`` (kept when already finished); seconds spent (0 when reused)."""
    if (out / "result.json").is_file():
        return 0.0
    if out.exists():
        import shutil

        shutil.rmtree(out)
    started = time.perf_counter()
    train(config, out, quiet=True)
    return time.perf_counter() - started


def generated_folders(generator: Path, out: Path, per_digit: int) -> list[str]:
    """One ``polysense generate`` folder per digit under ``out`` (reused when present)."""
    folders = []
    for digit, word in enumerate(DIGIT_WORDS):
        folder = out / word
        if not (folder / "manifest.csv").is_file():
            generate_to_folder(generator, label=word, n=per_digit, out_dir=folder, seed=1000 * digit)
        folders.append(str(folder))
    return folders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--generator", type=Path, default=None, help="a trained generator run (default: train one)")
    parser.add_argument("--generator-epochs", type=int, default=60)
    parser.add_argument("--per-digit", type=int, default=50)
    parser.add_argument("--fsdd", default=os.environ.get("POLYSENSE_FSDD", str(Path(__file__).resolve().parents[2] / "shared" / "data" / "fsdd" / "recordings")))
    parser.add_argument("--report", action="store_true", help="only rewrite RESULTS.md from synthesis_augment.json")
    args = parser.parse_args()
    if args.report:
        return write_section(report(json.loads(STATE.read_text())), START, END)
    torch.set_num_threads(1)
    started, load = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.getloadavg()[0]
    generator = args.generator or RUNS / "augment-generator"
    generator_s = timed_train(load_config("fsdd-generate", [
        f"data.fsdd_folder={args.fsdd}", f"data.speakers={json.dumps(TRAIN_SPEAKERS)}", "model.num_speakers=2",
        f"train.epochs={args.generator_epochs}"]), generator) if args.generator is None else 0.0
    folders = generated_folders(generator, RUNS / f"augment-clips-{args.per_digit}", args.per_digit)
    rows = []
    for seed in args.seeds:
        for variant, extra in (("real + espeak-ng", []), ("real + espeak-ng + generated", folders)):
            out = RUNS / f"augment-digits-{'gen' if extra else 'base'}-seed{seed}"
            config = load_config("fsdd-digits", [f"data.fsdd_folder={args.fsdd}", f"train.seed={seed}",
                                                 f"data.extra_train={json.dumps(extra)}"])
            seconds = timed_train(config, out)
            result = evaluate_run(out)
            rows.append({"variant": variant, "seed": seed, "accuracy": result["accuracy"], "train_s": seconds})
            print(json.dumps(rows[-1]), flush=True)
    state = {"rows": rows, "meta": {"started": started, "load_1min": load, "end_load_1min": os.getloadavg()[0],
                                    "seeds": args.seeds, "per_digit": args.per_digit, "generator": str(generator),
                                    "generator_train_s": generator_s, "generator_epochs": args.generator_epochs,
                                    "machine": platform.machine(), "torch": torch.__version__}}
    STATE.write_text(json.dumps(state, indent=1))
    write_section(report(state), START, END)


def shipped_ratio() -> str:
    """The judge's accuracy on generated / real clips of the shipped fsdd-generate run (synthesis.json)."""
    generators = json.loads(STATE.with_name("synthesis.json").read_text())["generators"].values()
    shipped = [g for g in generators if g["meta"]["generator_config"].get("conditional_norm")]
    ratios = [x["ratios"]["accuracy"] for x in shipped[0]["per_seed"]] if shipped else []
    return f"{statistics.mean(ratios):.2f}" if ratios else "(not measured)"


def report(state: dict) -> str:
    rows, meta = state["rows"], state["meta"]
    by = {v: {r["seed"]: r["accuracy"] for r in rows if r["variant"] == v} for v in dict.fromkeys(r["variant"] for r in rows)}
    base, gen = list(by)

    def mean_std(values: list[float]) -> str:
        return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}" if len(values) > 1 else f"{values[0]:.3f}"

    seeds = sorted(set(by[base]) & set(by[gen]))
    diffs = [by[gen][s] - by[base][s] for s in seeds]
    lines = [START, "### Generated clips as augmentation (`benchmarks/synthesis_augment.py`)", "",
             f"`fsdd-digits` on the unseen speaker theo (validation jackson), trained on nicolas and yweweler + 100 "
             f"espeak-ng voices, with and without {10 * meta['per_digit']} generated clips ({meta['per_digit']} per digit) "
             f"in its training split. The generator: `fsdd-generate` trained on nicolas's and yweweler's takes only "
             f"(it never heard theo or jackson), {meta['generator_epochs']} epochs"
             + (f", {meta['generator_train_s'] / 60:.1f} min" if meta["generator_train_s"] else "")
             + f". Seeds {meta['seeds']} (the classifier's). {meta['machine']}, torch {meta['torch']}; started "
             f"{meta['started']}, 1-minute load {meta['load_1min']:.1f} at the start, {meta['end_load_1min']:.1f} at the end.", "",
             "| training data | test accuracy (theo) | per seed |", "|---|---:|---|"]
    for variant, values in by.items():
        lines.append(f"| {variant} | {mean_std(list(values.values()))} | "
                     + ", ".join(f"{values[s]:.3f}" for s in sorted(values)) + " |")
    lines += ["", f"Difference (generated − without), paired by seed: {mean_std(diffs)} "
              f"({sum(d > 0 for d in diffs)} of {len(diffs)} seeds better).", "",
              "Reading: " + ("the generated clips lift the unseen speaker's accuracy on every seed."
                             if all(d > 0 for d in diffs) else
                             "no gain measured: the generated clips do not lift the unseen speaker's accuracy "
                             "(the difference is within the seeds' spread or below zero). A generator trained on the "
                             "same two real voices adds no voice the classifier lacks, and its clips are heard less "
                             f"clearly than real ones (the judge's accuracy on generated clips is {shipped_ratio()} × its "
                             "accuracy on real ones for the shipped four-speaker generator above). One fold, one generator: a "
                             "generator per fold for all four folds did not fit the session."), END]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
