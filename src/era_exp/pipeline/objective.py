"""The metric a run optimises (``eval.optimized_metric``) and the value a search reads from results.

A hyper-parameter search maximises the validation split's optimised metric; the test split is
never its objective.
"""

from __future__ import annotations

from omegaconf import DictConfig


class ObjectiveError(ValueError):
    """The optimised metric is not computed, or a run has no validation split to read it from."""


def optimized_metric(cfg: DictConfig) -> str:
    """``eval.optimized_metric``, checked to be one of ``eval.metrics`` (call before any work)."""
    metric = str(cfg.eval.optimized_metric)
    metrics = [str(m) for m in cfg.eval.metrics]
    if metric not in metrics:
        raise ObjectiveError(
            f"eval.optimized_metric={metric!r} is not in eval.metrics={metrics}: "
            "add it to eval.metrics or optimise one of them"
        )
    return metric


def validation_objective(results: dict, metric: str) -> float | None:
    """The validation split's overall ``metric`` (mean over tasks), or ``None`` without validation queries."""
    validation = results.get("validation")
    if not validation:
        return None
    return float(validation["overall"][metric])
