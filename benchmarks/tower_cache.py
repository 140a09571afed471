"""Frozen text tower: one FSDD epoch of captions through MiniLM, with and without the per-caption cache.

Workload: the 2,000 FSDD captions (40 distinct: 10 digits x 4 speakers, as ``fsdd_manifest``
writes them), shuffled with a fixed seed, tokenized by MiniLM's tokenizer in batches of 32 and
run through a frozen ``minilm`` encoder (inference, as the trainer runs a frozen tower), one
intra-op thread.

- ``no cache`` (``cache_rows=0``): what every epoch costs without the cache (the anchor);
- ``epoch 1``: an empty cache: each distinct caption runs once, the rest are looked up;
- ``epoch 2``: every caption is cached.

Each cell is mean ± std over ``--repeats`` runs (default 3; a fresh encoder per run for the
cached epochs); the ratio is the anchor's mean over the cell's mean. Writes its table between
the ``tower_cache`` markers of ``benchmarks/RESULTS.md``.

Run: ``.venv/bin/python benchmarks/tower_cache.py``.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

import torch

from polysense.data.fsdd import fsdd_manifest
from polysense.models.registry import build

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from frontend import write_section  # noqa: E402

FSDD = Path(os.environ.get("POLYSENSE_FSDD", HERE.parents[1] / "shared" / "data" / "fsdd" / "recordings"))
START, END = "<!-- tower_cache:start -->", "<!-- tower_cache:end -->"
BATCH = 32


def epoch(encoder, batches) -> float:
    start = time.perf_counter()
    with torch.no_grad():
        for batch in batches:
            encoder(batch.input_ids, batch.mask)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    captions = [row.text for row in fsdd_manifest(FSDD, test_speakers=())]
    random.Random(0).shuffle(captions)
    tokenizer = build("encoder", {"name": "minilm", "cache_rows": 0}).tokenizer
    batches = [tokenizer.batch_encode(captions[i : i + BATCH]) for i in range(0, len(captions), BATCH)]
    times: dict[str, list[float]] = {"no cache": [], "epoch 1": [], "epoch 2": []}
    for _ in range(args.repeats):
        times["no cache"].append(epoch(build("encoder", {"name": "minilm", "cache_rows": 0}), batches))
        cached = build("encoder", {"name": "minilm"})
        times["epoch 1"].append(epoch(cached, batches))
        times["epoch 2"].append(epoch(cached, batches))
    anchor = statistics.mean(times["no cache"])
    load = os.getloadavg()[0]
    lines = [
        START,
        "## Frozen text tower cache (`benchmarks/tower_cache.py`)",
        "",
        f"{len(captions)} FSDD captions ({len(set(captions))} distinct), batches of {BATCH}, frozen MiniLM, "
        f"1 thread, {platform.processor() or platform.machine()} ({os.cpu_count()} cores, load average "
        f"{load:.1f} at the end: a shared machine, so read the ratios), torch {torch.__version__}; "
        f"mean ± std over {args.repeats} runs.",
        "",
        "| epoch | seconds | speed-up vs no cache |",
        "|---|---:|---:|",
    ]
    for name, values in times.items():
        mean = statistics.mean(values)
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        lines.append(f"| {name} | {mean:.3f} ± {std:.3f} | {anchor / mean:.1f}x |")
    lines.append(END)
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section(text, START, END)


if __name__ == "__main__":
    main()
