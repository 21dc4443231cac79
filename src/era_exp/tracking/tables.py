"""Per-task and per-domain metrics of a results dict as flat tables (header + rows)."""

from __future__ import annotations

Table = tuple[list[str], list[list]]


def metric_table(section: dict[str, dict], key: str) -> Table:
    """``results[section]`` as one row per entry, first column ``key``, then every field seen, sorted."""
    fields = sorted({name for values in section.values() for name in values})
    rows = [[name, *(values.get(field) for field in fields)] for name, values in sorted(section.items())]
    return [key, *fields], rows


def result_tables(results: dict) -> dict[str, Table]:
    """The ``per_task`` and ``per_domain`` tables of a run."""
    return {
        "per_task": metric_table(results["per_task"], "task"),
        "per_domain": metric_table(results["per_domain"], "domain"),
    }


def overall_metrics(results: dict) -> dict[str, float]:
    """The run's overall numbers on its scored split, prefixed ``overall/``, and on the validation
    split, prefixed ``validation/`` (counts included).

    Settings are chosen on ``validation/`` (a search's objective), so a dashboard can rank runs by it
    and never has to rank them by the test numbers.
    """
    metrics = {f"overall/{name}": value for name, value in results["overall"].items()}
    validation = (results.get("validation") or {}).get("overall") or {}
    return metrics | {f"validation/{name}": value for name, value in validation.items()}
