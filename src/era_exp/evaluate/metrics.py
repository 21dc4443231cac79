"""Per-query and per-task metrics computed with ranx (trec_eval definitions: linear gain, graded labels).

ranx is imported on first use, without the packages its other features import at module level
(:data:`RANX_DEFERRED`: plots, significance tests, DataFrames, dataset loaders; they load if and
when something uses them, see :mod:`era_exp.deferred_imports`), and its numba code is compiled
once per machine, not once per process: ranx caches its own functions on disk, and
:func:`_ranx` also caches numba's typed ``List`` method, which builds ranx's input from Python.
Caches go where numba puts them (``__pycache__`` beside the source, else ``NUMBA_CACHE_DIR`` or
the user cache folder).

ranx's metrics read each query as an array of ``[document key, value]`` rows, the run's ranked
best first. ``ranx.Qrels`` and ``ranx.Run`` build those arrays through numba dictionaries of
strings, which cost seconds per run for a hundred hits per query (far more than the metrics
themselves), so :func:`evaluate_run` builds the arrays directly and hands them to
``ranx.evaluate``, which takes them as they are: documents keyed by an integer per distinct id
instead of a hash, queries in sorted order and each query's hits in the order ``ranx.Run`` gives
them (numba's argsort of the negated scores, ties included). Every value equals the containers'
(tests/evaluate/test_metrics.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from types import ModuleType

import numpy as np

from era_exp.deferred_imports import importing_with_deferred

DEFAULT_METRICS: tuple[str, ...] = ("ndcg@10", "map@100", "recall@100", "mrr@100")
# What ranx imports for features other than its metrics: seconds of every run's evaluation.
RANX_DEFERRED: tuple[str, ...] = ("matplotlib", "seaborn", "scipy", "pandas", "ir_datasets")


class EvaluationError(RuntimeError):
    """A task could not be evaluated; the run stops instead of averaging without it."""


@cache
def _ranx() -> ModuleType:
    """ranx, with numba's typed ``List`` methods compiled to the on-disk cache (see module doc)."""
    import numba.typed.typedlist
    from numba.core.registry import CPUDispatcher

    for function in vars(numba.typed.typedlist).values():
        if isinstance(function, CPUDispatcher):
            function.enable_caching()
    return importing_with_deferred("ranx", RANX_DEFERRED)


def evaluate_run(
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Mapping[str, float]],
    metrics: Sequence[str] = DEFAULT_METRICS,
    name: str = "",
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Mean and per-query metric values of ``run`` against ``qrels``, per query in sorted id order.

    Every query of ``qrels`` must appear in ``run``; a missing one is an error, not a silent zero
    or a silent drop, because either would change the task's mean.
    """
    _check(name, qrels, run)
    ranx = _ranx()
    # numba comes with ranx, on first use only (see module doc).
    from numba.typed import List as TypedList

    from era_exp.evaluate.ranking import ranx_order

    qids = sorted(qrels)
    keys: dict[str, int] = {}
    judged, ranked = TypedList(), TypedList()
    for qid in qids:
        labels = _rows(qrels[qid], keys)
        judged.append(labels[np.argsort(-labels[:, 1], kind="stable")])
        hits = _rows(run[qid], keys)
        ranked.append(hits[ranx_order(hits[:, 1])])
    # ranx 0.3 returns a lone metric's per-query scores from a Run object only (from arrays it
    # looks them up by the metric's name without its cut-off); asked twice, it returns the dict.
    wanted = list(metrics) if len(metrics) > 1 else [*metrics, *metrics]
    scores = ranx.evaluate(judged, ranked, wanted, return_mean=False)
    for metric in metrics:
        if metric.startswith("ndcg@"):
            _check_ndcg(name, metric, qids, judged, ranked, scores[metric])
    per_query = {qid: {metric: float(scores[metric][i]) for metric in metrics} for i, qid in enumerate(qids)}
    means = {metric: float(np.mean(scores[metric])) for metric in metrics}
    return means, per_query


def _check_ndcg(
    name: str, metric: str, qids: Sequence[str], judged: Sequence, ranked: Sequence, values: np.ndarray
) -> None:
    """Recompute ``ndcg@k`` without ranx and fail on any disagreement.

    ranx runs numba code loaded from on-disk caches that several processes share; a damaged or
    mismatched cache entry would otherwise give wrong metrics silently. The same definition
    (trec_eval's: linear gain, log2 discount, the ideal ranking from the labels) costs a few
    milliseconds per thousand queries.
    """
    k = int(metric.split("@", 1)[1])
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    for qid, labels, hits, value in zip(qids, judged, ranked, values, strict=True):
        gain = dict(zip(labels[:, 0], labels[:, 1], strict=True))
        top = np.array([max(gain.get(key, 0.0), 0.0) for key in hits[:k, 0]])
        ideal = np.clip(labels[:k, 1], 0.0, None)
        best = float(ideal @ discounts[: len(ideal)])
        expected = float(top @ discounts[: len(top)]) / best if best > 0 else 0.0
        if abs(expected - float(value)) > 1e-6:
            raise EvaluationError(
                f"task {name!r}: ranx's {metric} of query {qid!r} is {float(value):.6f}, an independent "
                f"computation gives {expected:.6f}; numba's compiled cache may be damaged (delete the "
                "__pycache__ folders of ranx and numba, or NUMBA_CACHE_DIR) and rerun"
            )


def _rows(values: Mapping[str, float], keys: dict[str, int]) -> np.ndarray:
    """``[[key, value], ...]`` (float64) in ``values``' order; ``keys`` numbers each distinct id once."""
    ids = [keys.setdefault(doc, len(keys)) for doc in values]
    return np.column_stack(
        (np.array(ids, dtype=np.float64), np.fromiter(values.values(), dtype=np.float64, count=len(ids)))
    )


def evaluate_units(
    units: Mapping[str, tuple[Mapping[str, Mapping[str, int]], Mapping[str, Mapping[str, float]]]],
    metrics: Sequence[str] = DEFAULT_METRICS,
) -> dict[str, dict[str, float]]:
    """Mean metrics of several evaluation units (``{unit: (qrels, run)}``) in one ranx call.

    One call per run instead of one per task pays ranx's per-call costs (thread set-up, a first
    call's load of its compiled metrics) once. Query ids are prefixed with the unit so that units
    sharing query ids stay apart.
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
