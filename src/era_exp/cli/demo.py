"""``make demo``: ERA against its baselines on the built-in stdlib-codesearch task, fully offline.

Query embedder all-mpnet-base-v2, document embedder all-MiniLM-L6-v2 (both bundled): zero-shot,
align-only, label-only, ERA and era_plus at train ratio 0.2, plus MiniLM's own zero-shot and, as
the reference the MiniLM index cannot reach on its own, mpnet's zero-shot over an mpnet index. Each
run goes to ``<out>/<name>`` and is skipped when already complete; embeddings are cached, so a rerun
is quick. The summary table is printed and the sweep report written to ``<out>/report``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from era_exp.config import compose
from era_exp.logs import setup_logging
from era_exp.pipeline.run import run
from era_exp.report.build import build_report

TRAIN_RATIO = 0.2
# (folder name, row label, overrides)
POINTS = (
    ("minilm-zero_shot", "minilm zero-shot", ("pair=minilm_to_minilm", "method=zero_shot")),
    ("mpnet_to_minilm-zero_shot", "mpnet→minilm zero_shot", ("pair=mpnet_to_minilm", "method=zero_shot")),
    ("mpnet_to_minilm-align_only", "mpnet→minilm align_only", ("pair=mpnet_to_minilm", "method=align_only")),
    (
        "mpnet_to_minilm-label_only",
        f"mpnet→minilm label_only @{TRAIN_RATIO}",
        ("pair=mpnet_to_minilm", "method=label_only", f"train_ratio={TRAIN_RATIO}"),
    ),
    (
        "mpnet_to_minilm-era",
        f"mpnet→minilm era @{TRAIN_RATIO}",
        ("pair=mpnet_to_minilm", "method=era", f"train_ratio={TRAIN_RATIO}"),
    ),
    (
        "mpnet_to_minilm-era_plus",
        f"mpnet→minilm era_plus @{TRAIN_RATIO}",
        ("pair=mpnet_to_minilm", "method=era_plus", f"train_ratio={TRAIN_RATIO}"),
    ),
    (
        "mpnet-zero_shot",
        "mpnet zero-shot (mpnet index)",
        ("pair=mpnet_to_mpnet", "method=zero_shot"),
    ),
)
COLUMNS = (("ndcg@10", "nDCG@10"), ("map@100", "MAP@100"), ("recall@100", "R@100"), ("mrr@100", "MRR@100"))


def summary_table(rows: dict[str, dict]) -> str:
    """A fixed-width table of the overall metrics, one line per run label."""
    width = max(len("method"), *(len(label) for label in rows))
    lines = [f"{'method':<{width}}  " + "  ".join(f"{title:>8}" for _, title in COLUMNS)]
    lines.append("-" * len(lines[0]))
    for label, results in rows.items():
        overall = results["overall"]
        lines.append(f"{label:<{width}}  " + "  ".join(f"{overall[key]:>8.4f}" for key, _ in COLUMNS))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run (or reuse) the demo's five runs, print their table and write the report."""
    parser = argparse.ArgumentParser(prog="python -m era_exp.cli.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("outputs/demo"), help="runs and report folder")
    parser.add_argument(
        "--max-queries", type=int, default=None, help="cap the task's queries (quick checks; default: all)"
    )
    args = parser.parse_args(argv)
    setup_logging(args.out / "demo.log")
    data = ["data=builtin", *([f"data.max_queries={args.max_queries}"] if args.max_queries else [])]
    rows = {}
    for name, label, overrides in POINTS:
        cfg = compose([*data, *overrides], return_hydra_config=False)
        rows[label] = run(cfg, args.out / name)
    print("\nstdlib-codesearch, test split (mpnet query embedder, MiniLM document index):")
    print(summary_table(rows))
    print(
        "(the last row re-embeds the corpus with mpnet: the reference a MiniLM index cannot reach "
        "on its own, only through an adapter)"
    )
    report = build_report(args.out)
    print(f"\nreport: {report.out_dir / 'index.html'}\nlog: {args.out / 'demo.log'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
