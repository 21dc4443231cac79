"""Averages of unit metrics: per task (over its sub-splits), per domain, and overall.

An evaluation unit is a single-split task or one sub-split of a multi-split MAIR task. The names say
how each number is averaged:

- per task ``<metric>``: MAIR's task score, the mean over the task's sub-splits weighted by the number
  of queries each one scores (for a single-split task, just its score);
  ``<metric>_split_mean``: the plain mean over the sub-splits (the convention of the public MTEB
  results for MAIR's multi-split tasks).
- overall ``<metric>``: the mean over tasks; ``<metric>_domain_mean``: the mean of the domain means
  (the ERA paper does not say which it reports); ``<metric>_query_weighted``: MAIR's own overall
  average, every scored query of every task weighing the same.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from era_exp.evaluate.metrics import EvaluationError

NUM_QUERIES = "num_queries"


def aggregate(
    unit_metrics: Mapping[str, Mapping[str, float]],
    unit_task: Mapping[str, str],
    task_domain: Mapping[str, str],
    metrics: Sequence[str],
) -> dict[str, dict]:
    """Fold scored units into task, domain and overall averages.

    ``unit_metrics`` holds every scored unit with its metric means and ``num_queries``; units of
    ``unit_task`` absent from it scored no query (a sub-split whose queries all went to training) and
    weigh nothing. A task none of whose units was scored is an error, never a silent drop.
    """
    units_of_task: dict[str, list[str]] = defaultdict(list)
    for unit, task in unit_task.items():
        if unit in unit_metrics:
            units_of_task[task].append(unit)
    unscored = sorted(set(unit_task.values()) - set(units_of_task))
    if unscored:
        raise EvaluationError(f"tasks {unscored} have no scored query in any of their splits")
    per_task = {
        task: _task_scores(units, unit_metrics, metrics) for task, units in sorted(units_of_task.items())
    }
    tasks_of_domain: dict[str, list[str]] = defaultdict(list)
    for task in per_task:
        tasks_of_domain[task_domain[task]].append(task)
    per_domain = {
        domain: {
            **{metric: _mean(per_task[task][metric] for task in tasks) for metric in metrics},
            "num_tasks": len(tasks),
        }
        for domain, tasks in sorted(tasks_of_domain.items())
    }
    overall: dict[str, float | int] = {}
    scored = [unit for units in units_of_task.values() for unit in units]
    for metric in metrics:
        overall[metric] = _mean(per_task[task][metric] for task in per_task)
        overall[f"{metric}_domain_mean"] = _mean(per_domain[domain][metric] for domain in per_domain)
        overall[f"{metric}_query_weighted"] = _weighted(unit_metrics, scored, metric)
    overall["num_tasks"] = len(per_task)
    overall["num_domains"] = len(per_domain)
    overall[NUM_QUERIES] = sum(int(unit_metrics[unit][NUM_QUERIES]) for unit in scored)
    return {"overall": overall, "per_domain": per_domain, "per_task": per_task}


def _task_scores(
    units: Sequence[str], unit_metrics: Mapping[str, Mapping[str, float]], metrics: Sequence[str]
) -> dict[str, float | int]:
    """One task's query-weighted score and plain split mean per metric (identical for a single split)."""
    scores: dict[str, float | int] = {}
    for metric in metrics:
        if len(units) == 1:
            scores[metric] = scores[f"{metric}_split_mean"] = float(unit_metrics[units[0]][metric])
        else:
            scores[metric] = _weighted(unit_metrics, units, metric)
            scores[f"{metric}_split_mean"] = _mean(unit_metrics[unit][metric] for unit in units)
    scores[NUM_QUERIES] = sum(int(unit_metrics[unit][NUM_QUERIES]) for unit in units)
    scores["num_splits"] = len(units)
    return scores


def _weighted(unit_metrics: Mapping[str, Mapping[str, float]], units: Sequence[str], metric: str) -> float:
    """Mean of ``metric`` over ``units`` weighted by the queries each scored."""
    weights = np.array([unit_metrics[unit][NUM_QUERIES] for unit in units], dtype=np.float64)
    values = np.array([unit_metrics[unit][metric] for unit in units], dtype=np.float64)
    return float(np.sum(values * weights) / np.sum(weights))


def _mean(values: Iterable[float]) -> float:
    return float(np.mean(list(values)))
