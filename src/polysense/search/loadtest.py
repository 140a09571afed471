"""A bounded load test of a running search server: a fixed number of GET requests from
concurrent clients, with the latency percentiles (what a user checks before sharing the page on a
lab's network; ``benchmarks/search.py`` reports it at a million vectors)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np

__all__ = ["run_load"]


def run_load(base_url: str, paths: Sequence[str], *, clients: int = 8, timeout_s: float = 30.0) -> dict:
    """GET every path once, ``clients`` at a time (each client a thread with its own connection).

    Returns ``{"requests", "errors", "p50_ms", "p99_ms", "max_ms", "seconds", "statuses"}``.
    """
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    queue = list(enumerate(paths))

    def client() -> None:
        with httpx.Client(base_url=base_url, timeout=timeout_s) as http:
            while True:
                with lock:
                    if not queue:
                        return
                    _, path = queue.pop()
                t0 = time.perf_counter()
                try:
                    response = http.get(path)
                    ok = response.status_code == 200 and "results" in response.json()
                    status = response.status_code
                except Exception as exc:  # noqa: BLE001 - counted as an error, reported
                    ok, status = False, -1
                    with lock:
                        errors.append(f"{path}: {exc!r}")
                elapsed = time.perf_counter() - t0
                with lock:
                    latencies.append(elapsed)
                    statuses[status] = statuses.get(status, 0) + 1
                    if not ok and status != -1:
                        errors.append(f"{path}: HTTP {status}")

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ms = np.array(latencies) * 1000
    return {"requests": len(latencies), "errors": errors, "p50_ms": float(np.percentile(ms, 50)),
            "p99_ms": float(np.percentile(ms, 99)), "max_ms": float(ms.max()),
            "seconds": time.perf_counter() - t0, "statuses": statuses}
