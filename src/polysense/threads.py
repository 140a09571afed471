"""How many CPU threads polysense computes on: one choice for PyTorch and the front end's engine.

PyTorch's intra-op threads wait for each other at every parallel region. When another process
holds one of a 2-core machine's cores, a 2-thread run waits on the descheduled thread at each
region and trains ~9x slower than on one thread (measured: ``benchmarks/RESULTS.md``, "Threads").
So the default is what the machine can give now, not its core count:

    threads = OMP_NUM_THREADS when set, else max(1, usable cores - busy cores)

with the busy cores the 1-minute load average rounded down (the processes already running).
``--threads N`` on every heavy command overrides it. The front end's engine
(:mod:`polysense.signal._engine`) follows ``torch.get_num_threads()``, so one call sets both.
"""

from __future__ import annotations

import math
import os
import sys

import torch

from polysense.errors import ParameterError

__all__ = ["check_threads", "default_threads", "usable_cores", "use_threads"]

_MAX_THREADS = 1024


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS says, else the count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """``OMP_NUM_THREADS`` when set to a whole number, else the usable cores minus those the
    1-minute load average says are busy (at least 1)."""
    given = os.environ.get("OMP_NUM_THREADS", "").strip()
    if given.isdigit() and int(given) >= 1:
        return min(int(given), _MAX_THREADS)
    cores = usable_cores()
    try:
        busy = math.floor(os.getloadavg()[0])
    except (AttributeError, OSError):
        busy = 0
    return max(1, cores - busy)


def check_threads(threads: object) -> int:
    """``threads`` as an int in [1, 1024], else a ParameterError naming ``--threads``."""
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= _MAX_THREADS:
        raise ParameterError(f"--threads {threads!r}: give a whole number of CPU threads from 1 to {_MAX_THREADS} "
                             f"(this machine has {usable_cores()} usable cores; leave it out for the default)")
    return threads


def use_threads(threads: int | None = None) -> int:
    """Set PyTorch's intra-op and inter-op threads (and so the front end's engine, and faiss when
    loaded) to ``threads``
    (None: :func:`default_threads`); return the number used.

    PyTorch fixes its inter-op pool at the first parallel call; when that has happened, the
    inter-op setting is kept as it is (intra-op threads, the ones that matter here, always change).
    """
    chosen = default_threads() if threads is None else check_threads(threads)
    torch.set_num_threads(chosen)
    faiss = sys.modules.get("faiss")
    if faiss is not None:  # the search index's own OpenMP pool, when it is in use
        faiss.omp_set_num_threads(chosen)
    if torch.get_num_interop_threads() != chosen:
        try:
            torch.set_num_interop_threads(chosen)
        except RuntimeError:  # the inter-op pool has already started: it can no longer change
            pass
    return chosen
