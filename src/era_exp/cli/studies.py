"""Rebuild the paper's studies on mair-lite as committed pages: ``docs/results/studies/<study>/``.

``python -m era_exp.cli.studies <study> ... --data-root ../shared/data/mair-lite`` (``make studies``
runs every one). A study is one or more ``era-run -m`` sweeps of the experiment files in
``experiments/``, into ``outputs/studies/<study>/<task set>/<sweep>/``: ``era-encode`` fills the
embedding cache for the grid first, the grid points run as parallel single-threaded jobs, and
finished points are reused on a rerun. ``era-report`` then writes the dashboard, tables,
significance tests and plots beside a ``README.md`` that states the command, seeds, task set, cost
and where each method loses.

Runs with mpnet as the document (index) model need mpnet over whole corpora, the costliest encode;
``--index-tasks`` names the tasks they run on, while every other run covers ``--tasks``. Sweeps on
different task sets are reported apart (one report, and one table, never mixes task sets).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from era_exp.cli.results import names, task_tag
from era_exp.data.local import select_local_tasks
from era_exp.io import atomic_write_text
from era_exp.report.build import Report, build_report
from era_exp.report.grid import Grid, build_grid

ASYMMETRIC = "pair=mpnet_to_minilm"
ZERO_SHOT = ("method=zero_shot", ASYMMETRIC)


@dataclass(frozen=True)
class Sweep:
    """One ``era-run -m`` call of a study, into ``<study>/<name>/``.

    ``per_domain`` names a key (``domain``, ``holdout_domain``) swept over the domains the study's
    tasks cover, so a task selection never asks to train on, or hold out, a domain it lacks.
    ``mpnet_index``: some point has mpnet as the document model, so the sweep runs on the index
    tasks. ``widens`` names a sweep of the same study whose points this one repeats on the wider task
    set; it is left out when both land on the same tasks. ``about`` heads the sweep's part of the page
    when the study runs on more than one task set.
    """

    name: str
    overrides: tuple[str, ...]
    per_domain: str | None = None
    mpnet_index: bool = False
    widens: str | None = None
    about: str = ""


@dataclass(frozen=True)
class Study:
    """A page under docs/results/studies/: what it shows and its sweeps."""

    name: str
    title: str
    about: str
    sweeps: tuple[Sweep, ...]


@dataclass(frozen=True)
class TaskSets:
    """The mair-lite tasks of a study's runs by where mpnet sits (None: every task).

    mpnet as the query model needs mpnet over the queries and Stage-1 samples, which every task
    has; mpnet as the document model needs it over whole corpora, which only ``index`` has.
    """

    tasks: tuple[str, ...] | None = None
    index: tuple[str, ...] | None = None

    def of(self, sweep: Sweep) -> tuple[str, ...] | None:
        """The tasks ``sweep`` runs on: ``tasks``, narrowed to ``index`` where mpnet indexes corpora."""
        if not sweep.mpnet_index or self.index is None:
            return self.tasks
        if self.tasks is None:
            return self.index
        kept = tuple(task for task in self.tasks if task in self.index)
        if not kept:
            raise ValueError(
                f"sweep {sweep.name!r} needs an mpnet index, and none of the tasks {list(self.tasks)} "
                f"is among the index tasks {list(self.index)}"
            )
        return kept


@dataclass(frozen=True)
class Part:
    """The sweeps of a study on one task set, reported together; ``folder`` is "" for the first part."""

    tasks: tuple[str, ...] | None
    sweeps: tuple[Sweep, ...]
    folder: str

    @property
    def about(self) -> str:
        return next((sweep.about for sweep in self.sweeps if sweep.about), "")


def plan(study: Study, task_sets: TaskSets) -> list[Part]:
    """The study's sweeps grouped by task set, in order of first appearance.

    A sweep that ``widens`` another is dropped when both land on the same tasks (its points are the
    other's). The first part is reported in the study's own folder, each other one in a subfolder
    named after its first sweep.
    """
    tasks_of = {sweep.name: task_sets.of(sweep) for sweep in study.sweeps}
    groups: dict[tuple[str, ...] | None, list[Sweep]] = {}
    for sweep in study.sweeps:
        if sweep.widens is not None and tasks_of[sweep.widens] == tasks_of[sweep.name]:
            continue
        groups.setdefault(tasks_of[sweep.name], []).append(sweep)
    return [
        Part(tasks, tuple(sweeps), "" if i == 0 else sweeps[0].name)
        for i, (tasks, sweeps) in enumerate(groups.items())
    ]


STUDIES = {
    study.name: study
    for study in (
        Study(
            "train-ratio",
            "Train-ratio curves (paper Fig. 4)",
            "nDCG@10 against the share of labelled queries: zero-shot, align-only, label-only and ERA at "
            "train ratios 0.05, 0.1, 0.2 and 0.4, for mpnet→MiniLM and MiniLM→MiniLM. Ratio 1.0 leaves "
            "no test query under the split protocol (train and validation would take every labelled "
            "query), so it is not a point of the curve.",
            (Sweep("grid", ("+experiment=train_ratio_curve", "pair=mpnet_to_minilm,minilm_to_minilm")),),
        ),
        Study(
            "pairs",
            "Embedder pairs and symmetric vs asymmetric ERA (paper Fig. 3)",
            "Every query × document embedder pair of MiniLM and mpnet at train ratio 0.2: per document "
            "embedder, its own zero-shot, symmetric ERA (the same model on both sides) and asymmetric "
            "ERA (the other model on the query side). An mpnet index needs mpnet over whole corpora, so "
            "the four pairs (and the 2×2 pair heatmap) run on the tasks whose mpnet corpora are cached, "
            "and the two MiniLM-index pairs run again on every task of the study.",
            (
                Sweep(
                    "grid",
                    (
                        "+experiment=sym_vs_asym",
                        "pair=mpnet_to_minilm,minilm_to_minilm,mpnet_to_mpnet,minilm_to_mpnet",
                    ),
                    mpnet_index=True,
                    about="All four pairs, on the tasks with an mpnet index",
                ),
                Sweep(
                    "minilm_index",
                    ("+experiment=sym_vs_asym", "pair=mpnet_to_minilm,minilm_to_minilm"),
                    widens="grid",
                    about="The MiniLM index, on every task of the study",
                ),
            ),
        ),
        Study(
            "domains",
            "Domain generality (paper Fig. 5)",
            "mpnet→MiniLM at train ratio 0.2, trained on every domain (in-domain), on one domain only "
            "(domain-specific) and on all domains but one (leave-one-domain-out), each evaluated on "
            "every domain, with zero-shot run in each setting as the baseline of its row.",
            (
                Sweep(
                    "in_domain", ("method=zero_shot,align_only,label_only,era", ASYMMETRIC, "train_ratio=0.2")
                ),
                Sweep("domain_specific", ("+experiment=domain_specific",), per_domain="domain"),
                Sweep("lodo", ("+experiment=lodo",), per_domain="holdout_domain"),
            ),
        ),
        Study(
            "ablation-adapter",
            "Ablation: adapter and closed-form initialisation",
            "ERA (mpnet→MiniLM, train ratio 0.2) with a linear adapter (random init, the paper's), a "
            "residual MLP, and linear adapters initialised in closed form on the Stage-1 pairs "
            "(orthogonal Procrustes, least squares, ridge λ=1) before Stage 1's SGD, and the same closed "
            "forms as the whole of Stage 1 (`stage1.epochs=0`: no SGD after the fit).",
            (
                Sweep("grid", ("+experiment=ablation_adapter",)),
                Sweep(
                    "closed_form",
                    (
                        "method=era",
                        ASYMMETRIC,
                        "train_ratio=0.2",
                        "adapter=procrustes,least_squares,ridge",
                        "stage1.epochs=0",
                    ),
                ),
                Sweep("zero_shot", ZERO_SHOT),
            ),
        ),
        Study(
            "ablation-negatives",
            "Ablation: Stage-2 negatives",
            "ERA (mpnet→MiniLM, train ratio 0.2) with hard negatives mined by TopK-PercPos (the paper's), "
            "naive top-k and random sampling, each with and without in-batch negatives.",
            (Sweep("grid", ("+experiment=ablation_negatives",)), Sweep("zero_shot", ZERO_SHOT)),
        ),
        Study(
            "ablation-alignment-loss",
            "Ablation: Stage-1 loss",
            "Align-only and ERA (mpnet→MiniLM, train ratio 0.2) with the cosine (the paper's), MSE and "
            "smooth-L1 alignment losses.",
            (Sweep("grid", ("+experiment=ablation_alignment_loss",)), Sweep("zero_shot", ZERO_SHOT)),
        ),
        Study(
            "ablation-alignment-samples",
            "Ablation: Stage-1 sample size per task",
            "Align-only and ERA (mpnet→MiniLM, train ratio 0.2) with 100, 300, 1000 (the paper's) and "
            "3000 Stage-1 documents per task; a task whose corpus is smaller uses all of it, so 3000 "
            "differs from 1000 only on the three mair-lite corpora larger than 1000 documents (SciFact, "
            "NFCorpus, InstructIR-MSMARCO).",
            (
                Sweep("grid", ("+experiment=ablation_alignment_samples",)),
                Sweep("zero_shot", ZERO_SHOT),
            ),
        ),
    )
}


@dataclass(frozen=True)
class PartReport:
    """One part of a study as run: its data overrides, its sweeps' overrides, and its report."""

    part: Part
    data: list[str]
    commands: list[tuple[Sweep, list[str]]]
    report: Report


def run_study(
    study: Study,
    data_root: str,
    task_sets: TaskSets,
    out_root: Path,
    docs_root: Path,
    jobs: int,
    pages_only: bool = False,
) -> Path:
    """Run every sweep of ``study`` on its task set, reusing finished points; report each part and
    write the study's page. ``pages_only`` rebuilds reports and page from the runs already there.
    Returns the page's path."""
    # The encode runs alone, on the threads the caller gave it; runs get one thread each, since up
    # to `jobs` of them share the cores.
    encode_env = {**os.environ, "ERA_QUIET": "1"}
    run_env = {**encode_env, "OMP_NUM_THREADS": "1"}
    parts = []
    for part in plan(study, task_sets):
        data = ["data=mair_lite", f"data.root={data_root}"]
        if part.tasks:
            data.append(f"data.tasks=[{','.join(part.tasks)}]")
        part_root = out_root / study.name / task_tag(part.tasks)
        domains = task_domains(data_root, part.tasks)
        commands = [(sweep, sweep_overrides(sweep, domains)) for sweep in part.sweeps]
        for sweep, overrides in () if pages_only else commands:
            grid = [*data, *overrides]
            _call(["era-encode", *grid], encode_env)
            if _is_multirun(sweep):
                launch = ["hydra/launcher=parallel", f"hydra.launcher.n_jobs={jobs}"]
                _call(["era-run", "-m", *grid, *launch, f"hydra.sweep.dir={part_root / sweep.name}"], run_env)
            else:
                _call(["era-run", *grid, f"hydra.run.dir={part_root / sweep.name}"], run_env)
        report = build_report(part_root, docs_root / study.name / part.folder)
        parts.append(PartReport(part, data, commands, report))
    page = docs_root / study.name / "README.md"
    atomic_write_text(page, study_page(study, parts))
    return page


def sweep_overrides(sweep: Sweep, domains: Sequence[str]) -> list[str]:
    """The sweep's overrides, with its per-domain key swept over ``domains`` (those of its tasks)."""
    if sweep.per_domain is None:
        return list(sweep.overrides)
    return [*sweep.overrides, f"{sweep.per_domain}={','.join(domains)}"]


def task_domains(data_root: str, tasks: Sequence[str] | None) -> list[str]:
    """The domains of ``tasks`` (None: every task) under ``data_root``, from its tasks.json."""
    return sorted({domain for _, domain in select_local_tasks(data_root, tasks)})


def _is_multirun(sweep: Sweep) -> bool:
    return any("," in override for override in sweep.overrides) or any(
        override.startswith("+experiment=") for override in sweep.overrides
    )


def _call(argv: list[str], env: dict[str, str]) -> None:
    binary = Path(sys.executable).parent / argv[0]
    command = [str(binary) if binary.exists() else argv[0], *argv[1:]]
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True, env=env)


def study_page(study: Study, parts: list[PartReport]) -> str:
    """The page's text: how it was made, then per task set what it ran on, at what cost, the
    report's tables and the losses (under a heading of its own when the study has several)."""
    sweeps = [
        f"- `{sweep.name}`: `era-run {'-m ' * _is_multirun(sweep)}{' '.join([*p.data, *overrides])}`"
        for p in parts
        for sweep, overrides in p.commands
    ]
    lines = [
        f"# {study.title}",
        "",
        study.about,
        "",
        f"Made by `make studies STUDIES={study.name}` (`python -m era_exp.cli.studies {study.name}`), "
        "which runs:",
        "",
        *sweeps,
        "",
        "and then `era-report` on the sweep folder of each task set. Every point uses the paper's stage "
        "settings (conf/stage1/paper.yaml, conf/stage2/paper.yaml) unless its variant says otherwise, "
        "and seed 42 (split, Stage-1 sampling, training); nDCG@10 on the test split, except where a "
        "setting says otherwise.",
        "",
    ]
    if len(parts) == 1:
        return "\n".join([*lines, *part_lines(parts[0], depth=0)]) + "\n"
    for p in parts:
        tasks = _tasks(p.report)
        lines += [f"## {p.part.about or ', '.join(s.name for s, _ in p.commands)} ({len(tasks)} tasks)", ""]
        lines += [*part_lines(p, depth=1), ""]
    return "\n".join(lines) + "\n"


def _tasks(report: Report) -> list[str]:
    return sorted({task for r in report.runs for task in r.results["per_task"]})


def part_lines(part: PartReport, depth: int) -> list[str]:
    """One task set's share of the page: its tasks, runs and cost, dashboard, tables and losses, with
    their ``##`` headings ``depth`` levels down."""
    report = part.report
    runs, grid = report.runs, build_grid(report.runs)
    tasks = _tasks(report)
    domain_of = {task: row["domain"] for r in runs for task, row in r.results["per_task"].items()}
    domains = Counter(domain_of[task] for task in tasks)
    compute = sum(
        phase["seconds"]
        for r in runs
        for phase in r.results.get("profile", {}).values()
        if "seconds" in phase
    )
    distinct = len({r.results["run_key"] for r in runs})
    folder = f"{part.part.folder}/" if part.part.folder else ""
    tables = ["overall.md", *(["domain_generality.md"] if _has_domains(grid) else []), "significance.md"]
    return [
        f"- Tasks: {len(tasks)} mair-lite tasks in {len(domains)} domains ("
        + ", ".join(f"{d} {n}" for d, n in sorted(domains.items()))
        + "): "
        + ", ".join(tasks)
        + ".",
        f"- Runs: {len(runs)} finished, {distinct} distinct computations.",
        f"- Cost: {compute:.0f} s of run phases in all (results.json `profile`: loading, stages, scoring; "
        "embeddings read from the cache that `era-encode` filled first), on 2 CPU cores shared with other "
        "jobs. A rebuild reuses every finished point.",
        "",
        f"The dashboard is [{folder}index.html]({folder}index.html), with per-domain tables and plots; "
        f"the tidy per-task table is {folder}results.csv.",
        "",
        *(_demoted((report.out_dir / name).read_text(encoding="utf-8"), depth) + "\n" for name in tables),
        "",
        *(_demoted(line, depth) for line in losses(grid)),
    ]


def _demoted(markdown: str, depth: int) -> str:
    """Markdown with its headings below the title ``depth`` levels down, to sit under a part's heading."""
    return "\n".join("#" * depth + line if line.startswith("##") else line for line in markdown.split("\n"))


def _has_domains(grid: Grid) -> bool:
    return any(c.setting in ("lodo", "domain_specific") for c in grid.contexts())


def losses(grid: Grid, metric: str = "ndcg@10") -> list[str]:
    """Where each trained method falls below its block's zero-shot, by task and by domain."""
    lines = ["## Where it loses", ""]
    any_block = False
    listed: set[tuple] = set()  # ratio-free runs sit in every ratio block of their pair: list them once
    for block in grid.blocks:
        baseline = block.runs.get("zero_shot")
        if baseline is None:
            continue
        zero = baseline.results
        for method, record in block.runs.items():
            if method == "zero_shot" or (block.pair, block.context, method, record.train_ratio) in listed:
                continue
            listed.add((block.pair, block.context, method, record.train_ratio))
            any_block = True
            result = record.results
            tasks = [
                f"{task} ({100 * values[metric]:.1f} vs {100 * zero['per_task'][task][metric]:.1f})"
                for task, values in sorted(result["per_task"].items())
                if task in zero["per_task"] and values[metric] < zero["per_task"][task][metric]
            ]
            domains = [
                domain
                for domain, values in sorted(result["per_domain"].items())
                if domain in zero["per_domain"] and values[metric] < zero["per_domain"][domain][metric]
            ]
            ratio = "" if record.train_ratio is None else f", train ratio {record.train_ratio:g}"
            overall = result["overall"][metric] - zero["overall"][metric]
            head = (
                f"- {block.pair}, {method}{ratio} ({block.context.label()}): {100 * overall:+.1f} points "
                f"overall against zero-shot"
            )
            if tasks:
                head += f"; below it on {len(tasks)} of {len(result['per_task'])} tasks: " + ", ".join(tasks)
            else:
                head += "; below it on no task"
            head += f"; below it in {', '.join(domains)}." if domains else "; below it in no domain."
            lines.append(head)
    if not any_block:
        lines.append("No block of this study has a zero-shot run to compare with.")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m era_exp.cli.studies", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "studies",
        nargs="*",
        default=list(STUDIES),
        help=f"studies to run (default all): {', '.join(STUDIES)}",
    )
    parser.add_argument("--data-root", default="../shared/data/mair-lite", help="the mair-lite folder")
    parser.add_argument(
        "--tasks", type=names, default=None, help="comma-separated mair-lite tasks (default: every task)"
    )
    parser.add_argument(
        "--index-tasks",
        type=names,
        default=None,
        help="the tasks (of --tasks) of runs with mpnet as the document model, which need mpnet over "
        "whole corpora (default: every task)",
    )
    parser.add_argument("--out", default="outputs/studies", help="where the sweeps' run folders go")
    parser.add_argument("--docs", default="docs/results/studies", help="where the pages go")
    parser.add_argument("--jobs", type=int, default=2, help="grid points run at once (one thread each)")
    parser.add_argument(
        "--pages-only", action="store_true", help="rebuild reports and pages from the runs already there"
    )
    args = parser.parse_args(argv)
    unknown = [name for name in args.studies if name not in STUDIES]
    if unknown:
        parser.error(f"unknown studies {unknown}; choose from {list(STUDIES)}")
    task_sets = TaskSets(args.tasks or None, args.index_tasks or None)
    for name in args.studies:
        out, docs = Path(args.out), Path(args.docs)
        page = run_study(STUDIES[name], args.data_root, task_sets, out, docs, args.jobs, args.pages_only)
        print(f"{name}: {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
