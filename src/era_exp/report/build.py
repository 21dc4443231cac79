"""Build a sweep's report folder: tidy CSV/Parquet, Markdown tables, significance, PNG plots, index.html."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from era_exp.io import atomic_write, atomic_write_text
from era_exp.pipeline.results import DONE_FILE
from era_exp.report import plots
from era_exp.report.collect import Incomplete, RunRecord, method_sort_key, scan_sweep, tidy_frame
from era_exp.report.dashboard import Plot, Section, render_dashboard
from era_exp.report.domains import DomainMatrix, domain_matrices, matrix_table
from era_exp.report.grid import Grid, build_grid
from era_exp.report.metrics import (
    MetricChoiceError,
    metric_label,
    metric_slug,
    report_metric,
    reported_metrics,
)
from era_exp.report.significance import compare_block, describe_test
from era_exp.report.tables import domain_table, overall_table, significance_rows, significance_table

# Axes of a sweep grid as (tidy-table column, label).
_AXES = (
    ("pair", "pair"),
    ("method", "method"),
    ("train_ratio", "train ratio"),
    ("setting", "setting"),
    ("holdout_domain", "holdout domain"),
    ("train_domain", "training domain"),
    ("seed", "seed"),
    ("eval_split", "eval split"),
)


class ReportError(RuntimeError):
    """The sweep folder holds nothing to report on."""


@dataclass(frozen=True)
class Report:
    """What a report build read and wrote."""

    out_dir: Path
    runs: list[RunRecord]
    incomplete: list[Incomplete]
    frame: pd.DataFrame
    files: list[Path]


def build_report(
    sweep_dir: str | Path, out_dir: str | Path | None = None, alpha: float = 0.05, metric: str | None = None
) -> Report:
    """Aggregate every finished run under ``sweep_dir`` into ``out_dir`` (default ``<sweep_dir>/report``).

    Tables, tests and figures lead with ``metric``, by default the runs' ``eval.optimized_metric``.
    """
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise ReportError(f"{sweep_dir}: not a folder")
    if not 0 < alpha < 1:
        raise ReportError(f"alpha must lie in (0, 1), got {alpha}")
    out = Path(out_dir) if out_dir is not None else sweep_dir / "report"
    scan = scan_sweep(sweep_dir, exclude=out)
    if not scan.runs:
        skipped = "".join(f"\n  {i.path}: {i.reason}" for i in scan.incomplete)
        raise ReportError(f"{sweep_dir}: no finished run (results.json with a matching DONE marker){skipped}")
    try:
        metric = report_metric(scan.runs, metric)
    except MetricChoiceError as error:
        raise ReportError(f"{sweep_dir}: {error}") from error
    frame = tidy_frame(scan.runs, sweep_dir)
    grid = build_grid(scan.runs)
    tests = [compare_block(block, alpha, metric) for block in grid.blocks]
    note = describe_test(alpha, metric)
    tables = {
        "overall": overall_table(grid, tests, note, reported_metrics(scan.runs, metric)),
        "per_domain": domain_table(grid, metric),
        "significance": significance_table(grid, tests, note, metric),
    }
    matrices = domain_matrices(grid, metric)
    matrix_tables = [matrix_table(m, metric) for m in matrices]
    files = [
        atomic_write(out / "results.csv", lambda tmp: frame.to_csv(tmp, index=False)),
        atomic_write(
            out / "results.parquet", lambda tmp: frame.to_parquet(tmp, index=False, engine="pyarrow")
        ),
        atomic_write(
            out / "significance.csv",
            lambda tmp: pd.DataFrame(significance_rows(grid, tests, metric)).to_csv(tmp, index=False),
        ),
        *(atomic_write_text(out / f"{name}.md", table.to_markdown()) for name, table in tables.items()),
        *(
            [
                atomic_write_text(
                    out / "domain_generality.md", "\n".join(t.to_markdown() for t in matrix_tables)
                )
            ]
            if matrix_tables
            else []
        ),
    ]
    sections = [
        Section("Overall", [tables["overall"]], []),
        Section("Train ratio and embedder pairs", [], _grid_plots(grid, out / "plots", metric)),
        Section("Domains", [tables["per_domain"]], _domain_plots(grid, out / "plots", metric), gallery=True),
        Section("Significance", [tables["significance"]], []),
    ]
    if matrices:
        sections.insert(
            3,
            Section(
                "Domain generality",
                matrix_tables,
                _matrix_plots(matrices, out / "plots", metric),
                gallery=True,
            ),
        )
    page = render_dashboard(
        out / "index.html",
        f"era-exp sweep report: {sweep_dir.resolve().name}",
        _describe(sweep_dir, scan.runs, frame, scan.incomplete, note),
        _warnings(sweep_dir, scan.incomplete, grid),
        sections,
        files,
    )
    plot_files = [p.path for s in sections for p in s.plots]
    return Report(out, scan.runs, scan.incomplete, frame, [*files, *plot_files, page])


def _grid_plots(grid: Grid, folder: Path, metric: str) -> list[Plot]:
    result = []
    label = metric_label(metric)
    for context in grid.contexts():
        curve_path = folder / f"{metric_slug(metric)}_vs_ratio__{context.slug()}.png"
        result.append(
            Plot(
                plots.ratio_curves(grid, context, curve_path, metric),
                f"{label} against train ratio per method and pair ({context.label()}); "
                "dashed: ratio-free methods (no labelled training)",
            )
        )
        heatmap_path = folder / f"era_gain_heatmap__{context.slug()}.png"
        heatmap = plots.gain_heatmap(grid, context, heatmap_path, metric)
        if heatmap is not None:
            result.append(
                Plot(
                    heatmap,
                    f"ERA's {label} gain (points) over the document model's zero-shot, "
                    f"query × document embedder ({context.label()})",
                )
            )
    return result


def _matrix_plots(matrices: list[DomainMatrix], folder: Path, metric: str) -> list[Plot]:
    return [
        Plot(
            plots.domain_matrix(m, folder / f"domain_matrix__{m.slug()}.png", metric),
            f"{m.title(metric)}: colour is the gain over the zero-shot run of the same training setting",
        )
        for m in matrices
    ]


def _domain_plots(grid: Grid, folder: Path, metric: str) -> list[Plot]:
    result = []
    for block in grid.blocks:
        pair = f"{block.query_embedder}_to_{block.doc_embedder}"
        ratio = "none" if block.ratio is None else f"{block.ratio:g}"
        path = folder / f"domains__{pair}__ratio-{ratio}__{block.context.slug()}.png"
        result.append(
            Plot(
                plots.domain_bars(block, path, metric),
                f"{metric_label(metric)} per domain and method: {block.pair}, train ratio {ratio} "
                f"({block.context.label()})",
            )
        )
    return result


def _describe(
    sweep_dir: Path, runs: list[RunRecord], frame: pd.DataFrame, incomplete: list, note: str
) -> dict:
    """The dashboard's description of the sweep: size, grid axes, data, dates and the test applied."""
    varying, fixed = [], []
    for column, label in _AXES:
        values = frame.drop_duplicates("run_dir")[column]
        shown = sorted({"—" if pd.isna(v) else str(v) for v in values}, key=_axis_order(column))
        (varying if len(shown) > 1 else fixed).append(f"{label} ({len(shown)}): {', '.join(shown)}")
    tasks = frame[frame["level"] == "task"].drop_duplicates("task")
    domains = Counter(tasks["domain"].dropna())
    finished = sorted(dt.datetime.fromtimestamp((r.path / DONE_FILE).stat().st_mtime) for r in runs)
    data = sorted({_data_label(r.results.get("config", {}).get("data", {})) for r in runs})
    return {
        "Sweep folder": str(sweep_dir),  # as given, so committed reports carry no machine paths
        "Report generated": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "Runs": f"{len(runs)} finished ({len({r.results['run_key'] for r in runs})} distinct computations), "
        f"{len(incomplete)} skipped as incomplete",
        "Runs finished": f"{finished[0]:%Y-%m-%d %H:%M} – {finished[-1]:%Y-%m-%d %H:%M}",
        "Grid axes": "; ".join(varying) or "none (a single run)",
        "Fixed": "; ".join(fixed) or "nothing",
        "Data": "; ".join(data),
        "Tasks": f"{len(tasks)} in {len(domains)} domains ("
        + ", ".join(f"{d} {n}" for d, n in sorted(domains.items()))
        + ")",
        "Significance": note,
    }


def _axis_order(column: str):
    if column == "method":
        return method_sort_key
    if column in ("train_ratio", "seed"):
        return lambda v: (v == "—", float(v) if v != "—" else 0.0)
    return str


def _data_label(data: dict) -> str:
    """``LocalSource(root=..., tasks=[...])`` from a run's resolved data config."""
    target = str(data.get("_target_", "unknown")).rsplit(".", 1)[-1]
    args = ", ".join(f"{k}={v}" for k, v in data.items() if k != "_target_" and v is not None)
    return f"{target}({args})"


def _warnings(sweep_dir: Path, incomplete: list[Incomplete], grid: Grid) -> list[str]:
    lines = [f"skipped {_rel(i.path, sweep_dir)}: {i.reason}" for i in incomplete]
    lines += [
        f"ignored {_rel(r.path, sweep_dir)}: another run key at the same pair, method, ratio and context "
        "as an earlier run folder"
        for r in grid.duplicates
    ]
    return lines


def _rel(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) and path != root else str(path)
