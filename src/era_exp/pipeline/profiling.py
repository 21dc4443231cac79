"""Wall time and peak resident memory of each phase of a run, for results.json and benchmarks."""

from __future__ import annotations

import logging
import os
import resource
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from era_exp.logs import console

log = logging.getLogger(__name__)

_STATM = Path("/proc/self/statm")
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def current_rss_mib() -> float:
    """Resident memory now (Linux ``/proc``), or the process's peak so far elsewhere."""
    try:
        return int(_STATM.read_text().split()[1]) * _PAGE / 2**20
    except OSError:
        return peak_rss_mib()


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10)


@contextmanager
def phase(profile: dict[str, dict[str, float]], name: str, interval: float = 0.02) -> Iterator[None]:
    """Record ``seconds`` and ``peak_rss_mib`` of the block under ``profile[name]``; one console line.

    A sampling thread reads the resident set every ``interval`` seconds, so the peak is the
    phase's own, not the process's all-time peak.
    """
    peak = [current_rss_mib()]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(interval):
            peak[0] = max(peak[0], current_rss_mib())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    log.info("phase %s: started", name)
    start = time.perf_counter()
    try:
        yield
    finally:
        seconds = time.perf_counter() - start
        done.set()
        sampler.join()
        peak[0] = max(peak[0], current_rss_mib())
        profile[name] = {"seconds": round(seconds, 3), "peak_rss_mib": round(peak[0], 1)}
        console().info("%-9s %8.2f s  peak %6.0f MiB", name, seconds, peak[0])
