"""``python -m era_exp.evaluate.precompile``: fill numba's on-disk cache with the evaluation's code.

ranx and :mod:`era_exp.evaluate.ranking` compile with ``cache=True``, so their machine code is built
once per environment and loaded by every later process. Built lazily, the first run's evaluation
pays that compilation (about half a minute on a small machine). ``make install`` runs this once
instead: the default metrics through :func:`evaluate_run`, each alone and together. Its arrays hold
integer document keys and float scores only, so what it compiles serves every task. (``ranx.Qrels``
and ``ranx.Run``, which the significance tests build, compile per width of the longest id, so no
set of examples covers them; they compile on first use.)
"""

from __future__ import annotations

import time

from era_exp.evaluate.metrics import DEFAULT_METRICS, evaluate_run

# Graded labels, a judged document never retrieved, and tied scores: every branch the metrics take.
_QRELS = {"q1": {"d1": 2, "d2": 1, "d9": 1}, "q2": {"d3": 1}, "q3": {"d2": 1}}
_RUN = {"q1": {"d1": 0.9, "d4": 0.5, "d2": 0.5}, "q2": {"d3": 0.4, "d1": 0.3}, "q3": {"d5": 0.2, "d2": 0.1}}


def precompile() -> float:
    """Compile (or load from the cache) what a run's evaluation executes; the seconds it took."""
    start = time.perf_counter()
    evaluate_run(_QRELS, _RUN, DEFAULT_METRICS)
    for metric in DEFAULT_METRICS:
        evaluate_run(_QRELS, _RUN, [metric])
    return time.perf_counter() - start


def main() -> None:
    print(f"compiled the evaluation's numba code into its on-disk cache in {precompile():.1f} s")


if __name__ == "__main__":
    main()
