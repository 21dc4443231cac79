"""Report tables (overall, per domain, significance), rendered both as Markdown and as HTML."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field

from era_exp.report.grid import Block, Grid
from era_exp.report.metrics import metric_label
from era_exp.report.significance import BlockComparison

BORROWED_MARK = "†"


@dataclass(frozen=True)
class Table:
    """A titled table of strings with notes printed under it."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)

    def to_markdown(self) -> str:
        """GitHub-flavoured Markdown (``|`` inside cells escaped)."""
        cells = [[c.replace("|", "\\|") for c in row] for row in [self.headers, *self.rows]]
        lines = [f"## {self.title}", "", "| " + " | ".join(cells[0]) + " |"]
        lines.append("|" + "|".join("---" for _ in self.headers) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in cells[1:]]
        if not self.rows:
            lines.append("| " + " | ".join("" for _ in self.headers) + " |")
        lines += ["", *(f"{note}  " for note in self.notes)]
        return "\n".join(lines).rstrip() + "\n"

    def to_html(self) -> str:
        """An HTML ``<table>`` with its notes, every cell escaped."""
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.headers)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in self.rows
        )
        notes = "".join(f"<p class='note'>{html.escape(n)}</p>" for n in self.notes)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{notes}"


def fmt(value: float | None, digits: int = 4) -> str:
    """A metric value, or ``n/a`` when missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def fmt_ratio(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio:g}"


def fmt_p(p_value: float) -> str:
    if math.isnan(p_value):
        return "n/a (no differences)"
    return f"{p_value:.2e}" if p_value < 1e-3 else f"{p_value:.4f}"


def _lead(block: Block, with_context: bool) -> list[str]:
    return [block.pair, fmt_ratio(block.ratio), *([block.context.label()] if with_context else [])]


def _lead_headers(with_context: bool) -> list[str]:
    return ["pair", "train ratio", *(["context"] if with_context else [])]


def _method_label(block: Block, method: str) -> str:
    return method + (BORROWED_MARK if method in block.borrowed else "")


def _borrowed_note(grid: Grid) -> list[str]:
    if not any(block.borrowed for block in grid.blocks):
        return []
    return [
        f"{BORROWED_MARK} zero_shot of a pair without its own zero_shot run: the document model's zero-shot "
        "(same numbers by definition), taken from another pair's run."
    ]


def overall_table(
    grid: Grid, tests: list[BlockComparison | None], test_note: str, metrics: list[str]
) -> Table:
    """Rows = pair × train ratio × method; columns = ``metrics`` (the first with significance letters
    and its domain mean beside it)."""
    with_context = len(grid.contexts()) > 1
    lead, *others = metrics
    columns = [
        (lead, metric_label(lead)),
        (f"{lead}_domain_mean", f"{metric_label(lead)} (domain mean)"),
        *((m, metric_label(m)) for m in others),
    ]
    headers = [
        *_lead_headers(with_context),
        "#",
        "method",
        *(label for _, label in columns),
        "tested queries",
    ]
    rows = []
    for block, test in zip(grid.blocks, tests, strict=True):
        shown = {method: record.results["overall"].get(lead) for method, record in block.runs.items()}
        for method, record in block.runs.items():
            overall = record.results["overall"]
            values = [fmt(overall.get(key)) for key, _ in columns]
            if test is not None:
                values[0] += test.superscript(method, shown)
            rows.append(
                [
                    *_lead(block, with_context),
                    test.letters[method] if test else "",
                    _method_label(block, method),
                    *values,
                    str(test.num_queries) if test else "n/a",
                ]
            )
    notes = [
        f"{metric_label(lead)} is the mean over tasks; the domain mean is the mean of per-domain means. "
        "Ratio-free methods, which read no labels (zero_shot, align_only), are repeated in every "
        "train-ratio block of their pair.",
        test_note,
        *_borrowed_note(grid),
    ]
    return Table("Overall", headers, rows, notes)


def domain_table(grid: Grid, metric: str) -> Table:
    """Rows = pair × train ratio × method; columns = ``metric`` of each domain."""
    with_context = len(grid.contexts()) > 1
    domains = sorted(
        {d for block in grid.blocks for r in block.runs.values() for d in r.results["per_domain"]}
    )
    headers = [*_lead_headers(with_context), "method", *domains, "mean of domains"]
    rows = []
    for block in grid.blocks:
        for method, record in block.runs.items():
            per_domain = record.results["per_domain"]
            values = [fmt(per_domain.get(d, {}).get(metric)) for d in domains]
            mean = record.results["overall"].get(f"{metric}_domain_mean")
            rows.append([*_lead(block, with_context), _method_label(block, method), *values, fmt(mean)])
    label = metric_label(metric)
    notes = [
        f"{label} per domain (mean over the domain's tasks); n/a where a run scored no task of the domain."
    ]
    return Table(f"{label} per domain", headers, rows, [*notes, *_borrowed_note(grid)])


def significance_rows(grid: Grid, tests: list[BlockComparison | None], metric: str) -> list[dict]:
    """Every pairwise test as a flat record (for the CSV and the significance table)."""
    rows = []
    for block, test in zip(grid.blocks, tests, strict=True):
        if test is None:
            continue
        for pair in test.pairs:
            rows.append(
                {
                    "pair": block.pair,
                    "train_ratio": block.ratio,
                    "context": block.context.label(),
                    "method_a": pair.first,
                    "method_b": pair.second,
                    f"{metric}_a": pair.mean_first,
                    f"{metric}_b": pair.mean_second,
                    "delta": pair.mean_first - pair.mean_second,
                    "p_value": pair.p_value,
                    "significant": pair.significant,
                    "num_queries": test.num_queries,
                }
            )
    return rows


def significance_table(grid: Grid, tests: list[BlockComparison | None], test_note: str, metric: str) -> Table:
    """One row per tested pair of methods with means over the tested queries, Δ and p-value."""
    with_context = len(grid.contexts()) > 1
    headers = [
        *_lead_headers(with_context),
        "method A",
        "method B",
        f"{metric_label(metric)} A",
        f"{metric_label(metric)} B",
        "Δ (A − B)",
        "p-value",
        "significant",
        "tested queries",
    ]
    rows = [
        [
            row["pair"],
            fmt_ratio(row["train_ratio"]),
            *([row["context"]] if with_context else []),
            row["method_a"],
            row["method_b"],
            fmt(row[f"{metric}_a"]),
            fmt(row[f"{metric}_b"]),
            f"{row['delta']:+.4f}",
            fmt_p(row["p_value"]),
            "yes" if row["significant"] else "no",
            str(row["num_queries"]),
        ]
        for row in significance_rows(grid, tests, metric)
    ]
    notes = [
        "Means here are over the tested queries only (pooled over tasks), not means over tasks.",
        test_note,
    ]
    return Table(f"Significance of {metric_label(metric)} differences", headers, rows, notes)
