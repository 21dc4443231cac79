"""Averages of task metrics: per task (over its sub-splits), per domain, and overall two ways.

MAIR does not say whether its overall score is the mean over tasks or the mean of domain means,
so both are reported: ``<metric>`` (mean over tasks) and ``<metric>_domain_mean``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np


def aggregate(
    unit_metrics: Mapping[str, Mapping[str, float]],
    unit_task: Mapping[str, str],
    task_domain: Mapping[str, str],
    metrics: Sequence[str],
) -> dict[str, dict]:
    """Fold evaluation units (tasks or task sub-splits) into task, domain and overall means."""
    units_of_task: dict[str, list[str]] = defaultdict(list)
    for unit, task in unit_task.items():
        units_of_task[task].append(unit)
    per_task = {
        task: {metric: _mean(unit_metrics[unit][metric] for unit in units) for metric in metrics}
        for task, units in sorted(units_of_task.items())
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
    for metric in metrics:
        overall[metric] = _mean(per_task[task][metric] for task in per_task)
        overall[f"{metric}_domain_mean"] = _mean(per_domain[domain][metric] for domain in per_domain)
    overall["num_tasks"] = len(per_task)
    overall["num_domains"] = len(per_domain)
    return {"overall": overall, "per_domain": per_domain, "per_task": per_task}


def _mean(values) -> float:
    return float(np.mean(list(values)))
