"""Synthetic tri-modal dataset: how long 2,000 samples take to generate (issue 3: under 30 s).

Two workloads, each timed in this process after one warm-up sample, on the default settings
(1 s clips at 16 kHz, 16-bit, 32×32 images):
- ``in memory``: every item of ``SyntheticTriModal(2000)`` synthesised once;
- ``to disk``: ``write_synthetic`` writing wav + png + manifest.csv for the same 2,000 samples.

Run: ``.venv/bin/python benchmarks/synthetic.py`` (``--samples N`` for a quick run). Writes its
table between the ``synthetic`` markers of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from polysense.data.synthetic import SyntheticTriModal, write_synthetic

HERE = Path(__file__).resolve().parent
TARGET_S = 30.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()

    dataset = SyntheticTriModal(args.samples)
    dataset[0]  # warm-up: imports, FFT plans
    start = time.perf_counter()
    for i in range(len(dataset)):
        dataset[i]
    in_memory = time.perf_counter() - start

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        write_synthetic(Path(tmp) / "synthetic", num_samples=args.samples)
        to_disk = time.perf_counter() - start

    rows = [("in memory", in_memory), ("to disk (wav + png + manifest)", to_disk)]
    text = "\n".join(
        [
            "<!-- synthetic:start -->",
            "## Synthetic tri-modal dataset: generation time (`benchmarks/synthetic.py`)",
            "",
            f"{args.samples} samples, default settings (1 s at 16 kHz, 16-bit, 32×32 images). "
            f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
            f"({torch.get_num_threads()} intra-op threads). Target: {args.samples} samples in under {TARGET_S:.0f} s.",
            "",
            "| workload | wall time (s) | samples / s | within target |",
            "|---|---:|---:|---|",
            *(
                f"| {name} | {seconds:.2f} | {args.samples / seconds:,.0f} | {'yes' if seconds < TARGET_S else 'NO'} |"
                for name, seconds in rows
            ),
            "<!-- synthetic:end -->",
        ]
    )
    print(text)
    if not args.no_write:
        sys.path.insert(0, str(HERE))
        from frontend import write_section  # one writer of RESULTS.md sections for every benchmark

        write_section(text, "<!-- synthetic:start -->", "<!-- synthetic:end -->")
        print(f"\nwrote {HERE / 'RESULTS.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()
