"""Per-query and per-task metrics computed with ranx (trec_eval definitions: linear gain, graded labels).

ranx is imported on first use (it pulls in pandas and ir_datasets) and its numba code is compiled
once per machine, not once per process: ranx caches its own functions on disk, and
:func:`_ranx` also caches numba's typed ``List``/``Dict`` methods, which ranx calls from Python
to build its containers and which numba would otherwise recompile in every process (seconds per
run, most of a first evaluation). Caches go where numba puts them (``__pycache__`` beside the
source, else ``NUMBA_CACHE_DIR`` or the user cache folder).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from types import ModuleType

import numpy as np

DEFAULT_METRICS: tuple[str, ...] = ("ndcg@10", "map@100", "recall@100", "mrr@100")


class EvaluationError(RuntimeError):
    """A task could not be evaluated; the run stops instead of averaging without it."""


@cache
def _ranx() -> ModuleType:
    """ranx, with numba's typed-container methods compiled to the on-disk cache (see module doc)."""
    import numba.typed.typeddict
    import numba.typed.typedlist
    from numba.core.registry import CPUDispatcher

    for module in (numba.typed.typedlist, numba.typed.typeddict):
        for function in vars(module).values():
            if isinstance(function, CPUDispatcher):
                function.enable_caching()
    import ranx

    return ranx


def evaluate_run(
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Mapping[str, float]],
    metrics: Sequence[str] = DEFAULT_METRICS,
    name: str = "",
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Mean and per-query metric values of ``run`` against ``qrels``.

    Every query of ``qrels`` must appear in ``run``; a missing one is an error, not a silent zero
    or a silent drop, because either would change the task's mean.
    """
    _check(name, qrels, run)
    run = {qid: dict(run[qid]) for qid in qrels}
    ranx = _ranx()
    qrels_ranx = ranx.Qrels({qid: dict(labels) for qid, labels in qrels.items()})
    run_ranx = ranx.Run(run)
    scores = ranx.evaluate(qrels_ranx, run_ranx, list(metrics), return_mean=False, make_comparable=False)
    if len(metrics) == 1:
        scores = {metrics[0]: scores}
    qids = list(run_ranx.keys())
    per_query = {qid: {metric: float(scores[metric][i]) for metric in metrics} for i, qid in enumerate(qids)}
    means = {metric: float(np.mean(scores[metric])) for metric in metrics}
    return means, per_query


def evaluate_units(
    units: Mapping[str, tuple[Mapping[str, Mapping[str, int]], Mapping[str, Mapping[str, float]]]],
    metrics: Sequence[str] = DEFAULT_METRICS,
) -> dict[str, dict[str, float]]:
    """Mean metrics of several evaluation units (``{unit: (qrels, run)}``) in one ranx call.

    ranx converts its inputs to numba containers, which costs a compilation per call; one call
    per run instead of one per task keeps that cost fixed. Query ids are prefixed with the unit so
    that units sharing query ids stay apart.
    """
    qrels, run, owner = {}, {}, {}
    for unit, (unit_qrels, unit_run) in units.items():
        _check(unit, unit_qrels, unit_run)
        for qid in unit_qrels:
            key = f"{unit}\t{qid}"
            qrels[key], run[key], owner[key] = unit_qrels[qid], unit_run[qid], unit
    _, per_query = evaluate_run(qrels, run, metrics)
    values: dict[str, dict[str, list[float]]] = {unit: {m: [] for m in metrics} for unit in units}
    for key, scores in per_query.items():
        for metric in metrics:
            values[owner[key]][metric].append(scores[metric])
    return {unit: {m: float(np.mean(v)) for m, v in by_metric.items()} for unit, by_metric in values.items()}


def _check(name: str, qrels: Mapping[str, Mapping[str, int]], run: Mapping[str, Mapping[str, float]]) -> None:
    missing = sorted(set(qrels) - set(run))
    if missing:
        raise EvaluationError(
            f"task {name!r}: {len(missing)} queries have no retrieved documents, e.g. {missing[:3]}"
        )
    if not qrels:
        raise EvaluationError(f"task {name!r}: no labelled queries to evaluate")
