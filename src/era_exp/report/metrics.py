"""Which metric a sweep report leads with (the runs' ``eval.optimized_metric``) and how metrics are named."""

from __future__ import annotations

from collections.abc import Sequence

from era_exp.evaluate.metrics import DEFAULT_METRICS
from era_exp.report.collect import RunRecord

_NAMES = {"ndcg": "nDCG", "map": "MAP", "recall": "R", "mrr": "MRR", "precision": "P"}


class MetricChoiceError(ValueError):
    """No single metric every run computed can lead the report."""


def metric_label(metric: str) -> str:
    """``ndcg@10`` -> ``nDCG@10``, ``recall@100`` -> ``R@100``; unknown names are kept."""
    name, at, cutoff = metric.partition("@")
    return _NAMES.get(name, name) + at + cutoff


def metric_slug(metric: str) -> str:
    """The metric's family in file names (``ndcg@10`` -> ``ndcg``)."""
    return metric.partition("@")[0]


def report_metric(runs: Sequence[RunRecord], requested: str | None = None) -> str:
    """``requested``, else the optimised metric the runs share; it must be in every run's results."""
    if requested is None:
        chosen = {record.optimized_metric for record in runs}
        if len(chosen) > 1:
            raise MetricChoiceError(
                f"the runs optimise different metrics ({', '.join(sorted(chosen))}): choose one with --metric"
            )
        requested = chosen.pop()
    missing = [str(record.path) for record in runs if requested not in record.results["overall"]]
    if missing:
        raise MetricChoiceError(f"{requested} was not computed by {len(missing)} run(s), e.g. {missing[0]}")
    return requested


def reported_metrics(runs: Sequence[RunRecord], metric: str) -> list[str]:
    """``metric`` first, then every other metric all runs computed, in the first run's order."""
    order = runs[0].results.get("config", {}).get("eval", {}).get("metrics") or list(DEFAULT_METRICS)
    common = [m for m in order if all(m in record.results["overall"] for record in runs)]
    return [metric, *(m for m in common if m != metric)]
