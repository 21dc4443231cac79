"""``era-report SWEEP_DIR``: tables, significance tests, plots and an HTML page for a sweep folder.

On the folder of a hyper-parameter search (``era-run hparams_search=...``) it writes the search's
report instead: its trials, the best configuration, and the best trial's test score beside the defaults'.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from era_exp.report.build import ReportError, build_report
from era_exp.report.search import SearchReportError, build_search_report, is_search


def main(argv: Sequence[str] | None = None) -> int:
    """Build the report of a sweep folder; exit 2 when it holds no finished run."""
    parser = argparse.ArgumentParser(
        prog="era-report", description=__doc__.split(":", 1)[1].split("\n\n")[0].strip()
    )
    parser.add_argument("sweep_dir", help="folder holding run folders (results.json + DONE), at any depth")
    parser.add_argument("--out", default=None, help="output folder (default: SWEEP_DIR/report)")
    parser.add_argument(
        "--alpha", type=float, default=None, help="p-value threshold of the paired t-tests (default 0.05)"
    )
    parser.add_argument(
        "--metric",
        default=None,
        help="metric the tables, tests and plots lead with (default: the runs' eval.optimized_metric)",
    )
    args = parser.parse_args(argv)
    if is_search(args.sweep_dir):
        # A search is reported by the metric it optimised, and runs no significance test.
        given = [f"--{name}" for name in ("alpha", "metric") if getattr(args, name) is not None]
        if given:
            print(f"era-report: {' and '.join(given)} do not apply to a search folder", file=sys.stderr)
            return 2
        return _search_report(args.sweep_dir, args.out)
    try:
        alpha = {} if args.alpha is None else {"alpha": args.alpha}
        report = build_report(args.sweep_dir, args.out, metric=args.metric, **alpha)
    except ReportError as error:
        print(f"era-report: {error}", file=sys.stderr)
        return 2
    print(f"{len(report.runs)} finished runs, {len(report.incomplete)} skipped")
    for skipped in report.incomplete:
        print(f"  skipped {skipped.path}: {skipped.reason}")
    print(f"report: {report.out_dir / 'index.html'} ({len(report.files)} files)")
    return 0


def _search_report(sweep_dir: str, out: str | None) -> int:
    try:
        report = build_search_report(sweep_dir, out)
    except SearchReportError as error:
        print(f"era-report: {error}", file=sys.stderr)
        return 2
    print(
        f"search {report.record['study_name']}: {len(report.trials)} trials, best trial {report.best.number} "
        f"(validation {report.record['optimized_metric']} {report.best.value:.4f})"
    )
    print(f"report: {report.out_dir / 'search.md'} ({len(report.files)} files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
