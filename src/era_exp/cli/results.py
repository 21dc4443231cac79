"""Regenerate the committed result pages under docs/results/ from real runs.

``python -m era_exp.cli.results zero-shot --data-root ../shared/data/mair-lite`` writes
docs/results/zero-shot.md; ``... reproduction`` writes docs/results/reproduction.md. Runs go to
``outputs/results/<name>`` and are skipped when already complete, so a rerun only rebuilds the page.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from era_exp.config import compose
from era_exp.io import atomic_write_text
from era_exp.logs import setup_logging
from era_exp.pipeline.run import run

RATIOS = (0.05, 0.2)


def task_tag(tasks: Sequence[str] | None) -> str:
    """A folder-name tag for a task selection: ``all``, or the count and a hash of the sorted names."""
    if not tasks:
        return "all"
    return f"{len(tasks)}tasks-{hashlib.sha1(','.join(sorted(tasks)).encode()).hexdigest()[:6]}"


@dataclass(frozen=True)
class Points:
    """Where runs read data and write results, and which tasks they cover (None: every task)."""

    data_root: str
    out_root: Path
    tasks: tuple[str, ...] | None = None
    reference: Path = Path("docs/results/reference-authors.json")

    def folder(self, name: str, tasks: tuple[str, ...] | None = None) -> Path:
        """Where the run ``name`` on ``tasks`` (default: the points' tasks) writes; names carry the tasks."""
        return self.out_root / f"{name}-{task_tag(tasks if tasks is not None else self.tasks)}"

    def config(self, overrides: Sequence[str], tasks: tuple[str, ...] | None = None) -> DictConfig:
        """The run config of ``overrides`` on ``tasks`` (default: the points' tasks) of the data root."""
        tasks = tasks if tasks is not None else self.tasks
        selection = ["data=mair_lite", f"data.root={self.data_root}"]
        if tasks:
            selection.append(f"data.tasks=[{','.join(tasks)}]")
        return compose([*selection, *overrides], return_hydra_config=False)

    def run(self, name: str, overrides: Sequence[str], tasks: tuple[str, ...] | None = None) -> dict:
        """Run (or reuse) one configuration in :meth:`folder`."""
        return run(self.config(overrides, tasks), self.folder(name, tasks))


def zero_shot_page(points: Points, command: str, mpnet_index_tasks: tuple[str, ...] | None) -> str:
    """MiniLM zero-shot on the points' tasks, mpnet zero-shot on ``mpnet_index_tasks`` (its index)."""
    if mpnet_index_tasks and points.tasks:
        mpnet_index_tasks = tuple(task for task in mpnet_index_tasks if task in points.tasks)
    results = {
        "MiniLM zero-shot": points.run("zero_shot-minilm_to_minilm", ["pair=minilm_to_minilm"]),
        "mpnet zero-shot": points.run("zero_shot-mpnet_to_mpnet", ["pair=mpnet_to_mpnet"], mpnet_index_tasks),
    }
    minilm, mpnet = (set(r["per_task"]) for r in results.values())
    lines = [
        "# Zero-shot nDCG@10 on mair-lite",
        "",
        f"Made by `{command}` (test split of the split protocol, seed 42; nDCG@10 × 100;",
        "— where a model was not run on a task).",
        "",
        *_coverage(minilm, mpnet),
        *task_table(results, list(results)),
        "",
        *domain_table(results, list(results)),
        "",
        *_reference_table(results, points.reference),
    ]
    return "\n".join(lines) + "\n"


def _coverage(minilm: set[str], mpnet: set[str]) -> list[str]:
    """Which tasks each column covers, and why mpnet's may be fewer."""
    if mpnet >= minilm:
        return [f"Both models ran on all {len(minilm)} tasks.", ""]
    missing = sorted(minilm - mpnet)
    return [
        f"MiniLM ran on all {len(minilm)} tasks, mpnet on {len(mpnet)}: mpnet zero-shot indexes every "
        "document of a corpus with mpnet, the costliest encode, and the corpora of "
        f"{', '.join(missing)} were not encoded with it (`--mpnet-index-tasks`). Means over all tasks "
        "are each column's own; the last row compares the two on the same tasks.",
        "",
    ]


def reproduction_page(points: Points, command: str) -> str:
    run_point = points.run
    results: dict[str, dict] = {
        "MiniLM zero-shot": run_point("zero_shot-minilm_to_minilm", ["pair=minilm_to_minilm"]),
        "mpnet zero-shot": run_point("zero_shot-mpnet_to_mpnet", ["pair=mpnet_to_mpnet"]),
        "align-only": run_point("align_only-mpnet_to_minilm", ["pair=mpnet_to_minilm", "method=align_only"]),
    }
    for ratio in RATIOS:
        for method, label in (("label_only", "label-only"), ("era", "ERA")):
            overrides = ["pair=mpnet_to_minilm", f"method={method}", f"train_ratio={ratio}"]
            results[f"{label} {ratio}"] = run_point(f"{method}-mpnet_to_minilm-{ratio}", overrides)
    for ratio in RATIOS:
        overrides = ["pair=minilm_to_minilm", "method=era", f"train_ratio={ratio}"]
        results[f"MiniLM→MiniLM ERA {ratio}"] = run_point(f"era-minilm_to_minilm-{ratio}", overrides)
    columns = list(results)
    lines = [
        "# Reproduction: ERA on mair-lite with the bundled models",
        "",
        f"Made by `{command}`. Query embedder all-mpnet-base-v2, document embedder all-MiniLM-L6-v2",
        "unless the column says otherwise; in-domain setting (both stages train on every task's train",
        "split), test split, seed 42, the paper's hyper-parameters (conf/stage1/paper.yaml,",
        "conf/stage2/paper.yaml). nDCG@10 × 100.",
        "",
        *task_table(results, columns),
        "",
        *domain_table(results, columns),
        "",
        *_reference_table(results, points.reference),
        "",
        "## Findings",
        "",
        *_findings(results),
    ]
    return "\n".join(lines) + "\n"


def task_table(results: dict[str, dict], columns: list[str]) -> list[str]:
    """Per-task nDCG@10; each column's own means, plus means over the tasks every column ran."""
    domain_of = {task: row["domain"] for r in results.values() for task, row in r["per_task"].items()}
    tasks = sorted(domain_of, key=lambda task: (domain_of[task], task))
    lines = ["| task | domain | " + " | ".join(columns) + " |", "|---|---|" + "---:|" * len(columns)]
    for task in tasks:
        cells = [_cell(results[col]["per_task"].get(task)) for col in columns]
        lines.append(f"| {task} | {domain_of[task]} | " + " | ".join(cells) + " |")
    for key, label in (("ndcg@10", "mean over tasks"), ("ndcg@10_domain_mean", "mean of domain means")):
        cells = [f"**{pct(results[col]['overall'][key])}**" for col in columns]
        lines.append(f"| **{label}** | | " + " | ".join(cells) + " |")
    common = [task for task in tasks if all(task in results[col]["per_task"] for col in columns)]
    if len(common) < len(tasks):
        cells = [
            f"**{pct(sum(results[col]['per_task'][t]['ndcg@10'] for t in common) / len(common))}**"
            for col in columns
        ]
        lines.append(
            f"| **mean over the {len(common)} tasks all columns ran** | | " + " | ".join(cells) + " |"
        )
    return lines


def domain_table(results: dict[str, dict], columns: list[str]) -> list[str]:
    domains = sorted({domain for r in results.values() for domain in r["per_domain"]})
    lines = ["| domain | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for domain in domains:
        cells = [_cell(results[col]["per_domain"].get(domain)) for col in columns]
        lines.append(f"| {domain} | " + " | ".join(cells) + " |")
    return lines


def _reference_table(results: dict[str, dict], reference: Path) -> list[str]:
    """era-exp against the authors' code, on the tasks both ran, for every column both have."""
    if not reference.is_file():
        return []
    authors = json.loads(reference.read_text(encoding="utf-8"))
    lines = [
        "## Against the authors' code",
        "",
        authors["source"],
        "",
        "| authors' column | tasks | era-exp mean | authors' mean | largest per-task gap |",
        "|---|---:|---:|---:|---:|",
    ]
    for column, theirs in authors["columns"].items():
        ours = results.get(column.split(" run ")[0], {}).get("per_task", {})  # repeated runs of one column
        tasks = [task for task in theirs if task in ours]
        if not tasks:
            continue
        mine = {task: 100 * ours[task]["ndcg@10"] for task in tasks}
        gap = max(tasks, key=lambda task: abs(mine[task] - theirs[task]))
        lines.append(
            f"| {column} | {len(tasks)} | {sum(mine.values()) / len(tasks):.1f} "
            f"| {sum(theirs[t] for t in tasks) / len(tasks):.1f} "
            f"| {mine[gap] - theirs[gap]:+.1f} ({gap}) |"
        )
    return lines


def _cell(row: dict | None) -> str:
    return "—" if row is None else pct(row["ndcg@10"])


def _findings(points: dict[str, dict]) -> list[str]:
    """Plain statements: does ERA beat label-only at each ratio, and MiniLM zero-shot, domain by domain."""
    minilm = points["MiniLM zero-shot"]
    lines = []
    for ratio in RATIOS:
        lines.append(
            _compare(
                f"ERA {ratio}", points[f"ERA {ratio}"], f"label-only {ratio}", points[f"label-only {ratio}"]
            )
        )
    for ratio in RATIOS:
        lines.append(_compare(f"ERA {ratio}", points[f"ERA {ratio}"], "MiniLM zero-shot", minilm))
    return lines


def _compare(a_name: str, a: dict, b_name: str, b: dict) -> str:
    score_a, score_b = a["overall"]["ndcg@10"], b["overall"]["ndcg@10"]
    verdict = "beats" if score_a > score_b else "does not beat"
    domains = sorted(a["per_domain"])
    wins = [d for d in domains if a["per_domain"][d]["ndcg@10"] > b["per_domain"][d]["ndcg@10"]]
    losses = [d for d in domains if d not in wins]
    return (
        f"- {a_name} {verdict} {b_name} overall ({pct(score_a)} vs {pct(score_b)}, mean over tasks); "
        f"better in {', '.join(wins) or 'no domain'}; not better in {', '.join(losses) or 'no domain'}."
    )


def pct(value: float) -> str:
    return f"{100 * value:.1f}"


def names(value: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in value.split(",") if name.strip())


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry: build one of the result pages."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", choices=["zero-shot", "reproduction"])
    parser.add_argument("--data-root", default="../shared/data/mair-lite")
    parser.add_argument("--out-root", default="outputs/results")
    parser.add_argument("--docs", default="docs/results")
    parser.add_argument("--tasks", type=names, default=None, help="comma-separated tasks (default: all)")
    parser.add_argument(
        "--mpnet-index-tasks",
        type=names,
        default=None,
        help="zero-shot page: the tasks (of --tasks) whose corpora mpnet indexes (default: --tasks)",
    )
    args = parser.parse_args(argv)
    setup_logging(Path(args.out_root) / f"{args.page}.log")
    command = " ".join(["python -m era_exp.cli.results", *(argv if argv is not None else sys.argv[1:])])
    points = Points(args.data_root, Path(args.out_root), args.tasks)
    if args.page == "zero-shot":
        page = zero_shot_page(points, command, args.mpnet_index_tasks)
    else:
        page = reproduction_page(points, command)
    path = atomic_write_text(Path(args.docs) / f"{args.page}.md", page)
    print(page)
    print(f"written: {path}")


if __name__ == "__main__":
    main()
