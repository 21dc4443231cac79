"""Domain generality (the paper's Fig. 5): training domains × evaluation domains.

A sweep holding leave-one-domain-out (``setting=lodo``) or domain-specific (``setting=domain_specific``)
runs gets one matrix per pair, method and train ratio: a row per training setting (every domain
in-domain, one domain only, all domains but one), a column per evaluation domain, each cell the run's
per-domain metric and its gain over the zero-shot run of the same setting. The baseline is taken
from the same setting because the settings score different queries: a held-out domain is scored on
all its labelled queries, every other domain on its test split.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from era_exp.report.collect import Context, RunRecord, method_sort_key
from era_exp.report.grid import Grid
from era_exp.report.metrics import metric_label
from era_exp.report.tables import Table, fmt_ratio

# Settings that train on a chosen set of domains; in_domain is the reference row.
DOMAIN_SETTINGS = ("lodo", "domain_specific")
_SETTING_ORDER = {"in_domain": 0, "domain_specific": 1, "lodo": 2}


@dataclass(frozen=True)
class DomainMatrix:
    """One method's metric over training settings (rows) × evaluation domains (columns)."""

    pair: str
    method: str
    ratio: float | None
    seed: int
    eval_split: str
    rows: list[str]
    domains: list[str]
    values: list[list[float]]  # nan where a row's run scored no task of the domain
    gains: list[list[float]]  # nan where the row has no zero-shot run of its setting
    held_out: list[str | None]  # per row: the domain it holds out (lodo), else None

    def title(self, metric: str) -> str:
        return (
            f"{metric_label(metric)} by training domains: {self.pair}, {self.method}, "
            f"train ratio {fmt_ratio(self.ratio)}, seed {self.seed}, eval {self.eval_split}"
        )

    def slug(self) -> str:
        ratio = "none" if self.ratio is None else f"{self.ratio:g}"
        pair = self.pair.replace("→", "_to_")
        return f"{pair}__{self.method}__ratio-{ratio}__seed-{self.seed}_{self.eval_split}"


def row_label(context: Context) -> str:
    """How a training setting reads as a matrix row."""
    if context.setting == "lodo":
        return f"all but {context.holdout_domain}"
    if context.setting == "domain_specific":
        return f"{context.train_domain} only"
    return "all domains (in-domain)"


def _row_order(context: Context) -> tuple[int, str]:
    return (_SETTING_ORDER.get(context.setting, len(_SETTING_ORDER)), row_label(context))


def domain_matrices(grid: Grid, metric: str) -> list[DomainMatrix]:
    """Every trained method's matrix; empty when the sweep has no lodo or domain_specific run.

    zero_shot is the baseline of each row, not a matrix of its own (it trains on nothing).
    """
    if not any(c.setting in DOMAIN_SETTINGS for c in grid.contexts()):
        return []
    cells: dict[tuple, dict[Context, tuple[RunRecord, RunRecord | None]]] = {}
    for block in grid.blocks:
        context = block.context
        if context.setting not in (*DOMAIN_SETTINGS, "in_domain"):
            continue
        baseline = block.runs.get("zero_shot")
        for method, record in block.runs.items():
            if method == "zero_shot":
                continue
            key = (block.pair, method, record.train_ratio, context.seed, context.eval_split)
            cells.setdefault(key, {})[context] = (record, baseline)
    matrices = []
    for key in sorted(
        cells, key=lambda k: (k[0], method_sort_key(k[1]), k[2] is not None, k[2] or 0.0, k[3:])
    ):
        rows = cells[key]
        if not any(c.setting in DOMAIN_SETTINGS for c in rows):
            continue  # an in-domain run alone is no domain study
        contexts = sorted(rows, key=_row_order)
        domains = sorted({d for record, _ in rows.values() for d in record.results["per_domain"]})
        values, gains = [], []
        for context in contexts:
            record, baseline = rows[context]
            values.append([_domain_metric(record, d, metric) for d in domains])
            gains.append(
                [
                    _domain_metric(record, d, metric) - _domain_metric(baseline, d, metric)
                    if baseline is not None
                    else math.nan
                    for d in domains
                ]
            )
        pair, method, ratio, seed, split = key
        matrices.append(
            DomainMatrix(
                pair,
                method,
                ratio,
                seed,
                split,
                [row_label(c) for c in contexts],
                domains,
                values,
                gains,
                [c.holdout_domain if c.setting == "lodo" else None for c in contexts],
            )
        )
    return matrices


def _domain_metric(record: RunRecord, domain: str, metric: str) -> float:
    value = record.results["per_domain"].get(domain, {}).get(metric)
    return math.nan if value is None else float(value)


def matrix_table(matrix: DomainMatrix, metric: str) -> Table:
    """The matrix as ``value (gain)`` cells in points, the held-out domain's cell marked ``*``."""
    rows = []
    for label, values, gains, held_out in zip(
        matrix.rows, matrix.values, matrix.gains, matrix.held_out, strict=True
    ):
        cells = []
        for domain, value, gain in zip(matrix.domains, values, gains, strict=True):
            if math.isnan(value):
                cells.append("n/a")
                continue
            text = f"{100 * value:.1f}"
            if not math.isnan(gain):
                text += f" ({100 * gain:+.1f})"
            cells.append(text + ("*" if domain == held_out else ""))
        rows.append([label, *cells])
    notes = [
        f"{metric_label(metric)} × 100 per evaluation domain (mean over the domain's tasks); in brackets the "
        "gain in points over the zero-shot run of the same training setting (none where that run is "
        "missing).",
        "* the held-out domain of a leave-one-domain-out row, scored on all its labelled queries; every "
        "other cell is scored on the test split, so compare a starred cell with its own zero-shot gain.",
    ]
    return Table(matrix.title(metric), ["training domains", *matrix.domains], rows, notes)
