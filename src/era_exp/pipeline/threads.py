"""The CPU threads a run computes on: ``threads`` in the run config, or what the environment gives.

Without ``threads``, a run keeps torch's count as the environment set it (``OMP_NUM_THREADS``, or
the share of the cores the parallel launcher's joblib workers get: cores // n_jobs), lowered to
the CPUs the process may use. ``threads=N`` sets it for the run. Both torch's intra-op threads and
faiss's OpenMP threads (exact search) follow it; the stages size their own threads to the work
within it (:func:`era_exp.stages.trainer.threads_for`). Like ``OMP_NUM_THREADS``, it is not part
of the run key.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from era_exp.embed.hf import usable_cpus
from era_exp.retrieve.search import faiss


def run_threads(requested: int | None) -> int:
    """``requested``, or torch's current count capped at the CPUs this process may use."""
    if requested is not None:
        return requested
    return max(1, min(torch.get_num_threads(), usable_cpus()))


@contextmanager
def cpu_threads(count: int) -> Iterator[None]:
    """torch's intra-op threads and faiss's OpenMP threads set to ``count`` for the block."""
    before = torch.get_num_threads(), faiss.omp_get_max_threads() if faiss is not None else None
    torch.set_num_threads(count)
    if faiss is not None:
        faiss.omp_set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before[0])
        if faiss is not None:
            faiss.omp_set_num_threads(before[1])
