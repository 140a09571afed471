"""Mutated WAV/FLAC/OGG files against the audio reader, ``data check`` and the dataset, in a
subprocess under a memory limit (see _file_worker.py for the strategies and the contract)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The worker's address space: the interpreter, torch and the libraries take ~0.7 GiB; a file of
# at most a few hundred kB needs a few MB more. Anything trusting a header's size hits this.
MEMORY_BYTES = 2 << 30
EXAMPLES = int(os.environ.get("POLYSENSE_FUZZ_FILE_EXAMPLES", "250"))


@pytest.mark.skipif(not hasattr(os, "fork") or sys.platform != "linux", reason="RLIMIT_AS is Linux-only here")
def test_mutated_audio_files_hold_the_contract_under_a_memory_limit(tmp_path):
    # one thread and two malloc arenas: many-core machines would otherwise reserve address space per thread
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT)]), OMP_NUM_THREADS="1",
               MALLOC_ARENA_MAX="2")
    proc = subprocess.run(
        [sys.executable, "-m", "tests.fuzz._file_worker", str(tmp_path), str(EXAMPLES), str(MEMORY_BYTES)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-6000:]}\nstderr:\n{proc.stderr[-6000:]}"
    assert f"ok: {EXAMPLES} mutated files" in proc.stdout
