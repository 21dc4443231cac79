"""``make era-plus``: docs/results/era-plus.md, era_plus against faithful ERA, from real runs.

Two parts. *Ideas*: every variant that was tried, as overrides on a method, scored on the
**validation** split only (results.json ``validation``); that table is what chose era_plus's
settings. *Results*: the chosen recipe against faithful ERA and the zero-shot baselines on the
**test** split, at every train ratio, with paired significance tests. Runs go to
``<out-root>/<name>`` and are skipped when complete, so a rerun from cached embeddings only
rebuilds the page.
"""

from __future__ import annotations

import argparse
import functools
import math
import multiprocessing
import re
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ranx import compare

from era_exp.cli.results import Points, domain_table, names, pct, task_table
from era_exp.config import compose
from era_exp.io import atomic_write_text
from era_exp.logs import setup_logging
from era_exp.pipeline.ceiling import oracle_fit
from era_exp.pipeline.results import TRACE_FILE
from era_exp.pipeline.run import run
from era_exp.report.seeds import SeedComparison, seed_table
from era_exp.report.selection import RULES, split_halves
from era_exp.report.significance import (
    RANDOMIZATION_ROUNDS,
    STAT_TEST,
    PairedTest,
    TaskMeanTest,
    compare_task,
    compare_task_means,
    pooled,
    ranx_containers,
)
from era_exp.stages.monitor import load_trace

RATIOS = (0.05, 0.1, 0.2, 0.4)
ALPHA = 0.05
ZERO_SHOT_PAGE = Path("docs/results/zero-shot.md")


@dataclass(frozen=True)
class PairStudy:
    """One embedder pair of the page and the tasks its runs cover (its own tables, never mixed)."""

    pair: str
    label: str
    points: Points

    @property
    def tasks(self) -> tuple[str, ...] | None:
        return self.points.tasks


@dataclass(frozen=True)
class Idea:
    """One variant tried on the way to era_plus: what it changes, as overrides on top of a method.

    ``folder`` names its runs' folders (default: ``key``). An idea whose overrides mean another run
    once the recipe changes (``method=era_plus``, ``stage2=era_plus``) gets a folder naming the
    recipe, so runs of the earlier and the current recipe, both computed into one out-root by
    versions of the project before and after the change, never take turns in one folder.
    """

    key: str
    label: str
    overrides: tuple[str, ...]
    ratio_free: bool = False
    folder: str | None = None

    @property
    def stem(self) -> str:
        return self.folder or self.key


# The recipe the page ships (``method=era_plus``), and the recipes it was tried against, round by
# round (ROUNDS). The ideas of a round pin their base's settings; one replaces the base only where its
# validation score, averaged over IDEA_RATIOS, is higher on every pair, both as the mean over tasks
# and as the mean of domain means.
SHIPPED = "plus"
BEFORE_BALANCE = "plus-before-balance"
BALANCED = "plus-balance-task"
TASK_BALANCED_200 = "plus-balanced-epochs200"
# Its overrides, spelled out (the recipe era_plus ships) so later rounds vary it one field at a time.
BALANCED_200_OVERRIDES = ("method=era_plus", "stage2.balance=task", "stage2.nominal_epochs=200")
# Stage 2's weight decay in every recipe before the third round (the paper's): the ideas tried before
# it pin it, so each stays the run it was once era_plus ships another decay.
PAPER_DECAY = "stage2.weight_decay=1.0e-4"
ERA_PLUS_PAPER_DECAY = ("method=era_plus", PAPER_DECAY)
# The key of the replaced recipe's runs among the final runs (final_specs).
PREVIOUS = "previous"
# The recipe era_plus as shipped replaced: the base of the round it won.
REPLACED = TASK_BALANCED_200
# What the runs of the current recipe are filed under (Idea.folder): its last change.
RECIPE = "shipped-wd10"


@dataclass(frozen=True)
class Round:
    """Ideas (``challengers``) tried against one recipe (the idea ``base``), named ``recipe`` on the page."""

    base: str
    challengers: tuple[str, ...]
    recipe: str


ROUNDS = (
    Round(BEFORE_BALANCE, ("plus-epochs200", "plus-samples3000", BALANCED), "the recipe before balancing"),
    Round(
        BALANCED,
        (
            "plus-balance-sqrt",
            "plus-mlp",
            "plus-balanced-lr1e-3",
            "plus-balanced-lr1e-4",
            "plus-balanced-epochs200",
            "plus-balanced-temperature0.1",
            "plus-balanced-temperature0.02",
            "plus-score-matching",
        ),
        "the balanced recipe",
    ),
    Round(TASK_BALANCED_200, ("plus-shipped-wd1", "plus-shipped-wd10"), "the balanced 200-epoch recipe"),
)
MEANS = (("ndcg@10", "tasks"), ("ndcg@10_domain_mean", "domains"))

# In the order they were tried; each row of the ideas table, at every (pair, ratio) below.
IDEAS = (
    Idea("era", "faithful ERA (paper settings)", ("method=era",)),
    Idea("era-ridge-sgd", "ERA, ridge init then Stage-1 SGD", ("method=era", "adapter=ridge")),
    Idea(
        "era-ridge-closed",
        "ERA, closed-form ridge Stage 1 (no SGD)",
        ("method=era", "adapter=ridge", "stage1=closed_form"),
    ),
    Idea("era-converge", "ERA, converging Stage 2 + nDCG selection", ("method=era", "stage2=converge")),
    Idea(
        "era-ridge-converge",
        "ERA, closed-form ridge + converging Stage 2",
        ("method=era", "adapter=ridge", "stage1=closed_form", "stage2=converge"),
    ),
    Idea(
        "plus-residual-only",
        "doc residual, no aligned branch",
        ("method=era_plus", "stage2=converge", "adapter.init=null"),
    ),
    Idea("plus-first", "doc residual + ridge branch (first try)", ("method=era_plus", "stage2=converge")),
    Idea(
        "plus-val-loss",
        "first try, selection on val loss",
        ("method=era_plus", "stage2=converge", "stage2.monitor=val_loss"),
    ),
    Idea("plus-paper-stage2", "first try, paper Stage 2", ("method=era_plus", "stage2=paper")),
    Idea("plus-lr3e-4", "first try, lr 3e-4", ("method=era_plus", "stage2=converge", "stage2.lr=3e-4")),
    Idea("plus-lr3e-3", "first try, lr 3e-3", ("method=era_plus", "stage2=converge", "stage2.lr=3e-3")),
    Idea(
        "plus-in-batch",
        "first try, in-batch negatives",
        ("method=era_plus", "stage2=converge", "stage2.objective.in_batch_negatives=true"),
    ),
    Idea(
        "plus-ridge10",
        "first try, ridge λ 10",
        ("method=era_plus", "stage2=converge", "adapter.init.ridge=10.0"),
    ),
    Idea(
        "plus-patience30",
        "first try, patience 30",
        ("method=era_plus", "stage2=converge", "stage2.patience=30"),
    ),
    Idea(
        "plus-lr3e-4-patience30",
        "first try, lr 3e-4, patience 30",
        ("method=era_plus", "stage2=converge", "stage2.lr=3e-4", "stage2.patience=30"),
    ),
    Idea(
        "plus-lr1e-4-long",
        "first try, lr 1e-4, 300 epochs, patience 30",
        (
            "method=era_plus",
            "stage2=converge",
            "stage2.lr=1e-4",
            "stage2.nominal_epochs=300",
            "stage2.patience=30",
        ),
    ),
    Idea(
        "plus-residual-only-lr3e-4-patience30",
        "doc residual only, lr 3e-4, patience 30",
        ("method=era_plus", "stage2=converge", "adapter.init=null", "stage2.lr=3e-4", "stage2.patience=30"),
    ),
    Idea(
        "plus-in-batch-patience30",
        "first try, in-batch negatives, patience 30",
        (
            "method=era_plus",
            "stage2=converge",
            "stage2.objective.in_batch_negatives=true",
            "stage2.patience=30",
        ),
    ),
    Idea(
        "plus-in-batch-lr3e-4-patience30",
        "first try, in-batch negatives, lr 3e-4, patience 30",
        (
            "method=era_plus",
            "stage2=converge",
            "stage2.objective.in_batch_negatives=true",
            "stage2.lr=3e-4",
            "stage2.patience=30",
        ),
    ),
    Idea(
        "plus-residual-only-in-batch",
        "doc residual only, in-batch negatives",
        (
            "method=era_plus",
            "stage2=converge",
            "adapter.init=null",
            "stage2.objective.in_batch_negatives=true",
        ),
    ),
    Idea(
        BEFORE_BALANCE,
        "era_plus before task balancing (in-batch, lr 3e-4, patience 30)",
        (*ERA_PLUS_PAPER_DECAY, "stage2.balance=none", "stage2.nominal_epochs=100"),
    ),
    Idea(
        "plus-epochs200",
        "before balancing + 200 nominal epochs",
        (*ERA_PLUS_PAPER_DECAY, "stage2.balance=none", "stage2.nominal_epochs=200"),
    ),
    Idea(
        "plus-samples3000",
        "before balancing + ridge branch on 3000 documents a task",
        (
            *ERA_PLUS_PAPER_DECAY,
            "stage2.balance=none",
            "stage2.nominal_epochs=100",
            "stage1.samples_per_task=3000",
        ),
    ),
    Idea(
        "plus-balance-task",
        "before balancing + every task equal in Stage 2's loss",
        (*ERA_PLUS_PAPER_DECAY, "stage2.balance=task", "stage2.nominal_epochs=100"),
    ),
    Idea(
        "plus-balance-sqrt",
        "tasks weighed by the square root of their pairs",
        (*ERA_PLUS_PAPER_DECAY, "stage2.balance=sqrt", "stage2.nominal_epochs=100"),
    ),
    Idea(
        "plus-mlp",
        "tasks balanced + MLP branch (`adapter=doc_residual_mlp`)",
        (
            *ERA_PLUS_PAPER_DECAY,
            "stage2.balance=task",
            "stage2.nominal_epochs=100",
            "adapter=doc_residual_mlp",
        ),
    ),
    Idea(
        "plus-balanced-lr1e-3",
        "tasks balanced, lr 1e-3",
        (*ERA_PLUS_PAPER_DECAY, "stage2.balance=task", "stage2.nominal_epochs=100", "stage2.lr=1e-3"),
    ),
    Idea(
        "plus-balanced-lr1e-4",
        "tasks balanced, lr 1e-4",
        (*ERA_PLUS_PAPER_DECAY, "stage2.balance=task", "stage2.nominal_epochs=100", "stage2.lr=1e-4"),
    ),
    Idea(
        TASK_BALANCED_200,
        "tasks balanced, 200 nominal epochs",
        (*BALANCED_200_OVERRIDES, PAPER_DECAY),
    ),
    Idea(
        "plus-balanced-temperature0.1",
        "tasks balanced, InfoNCE temperature 0.1",
        (
            *ERA_PLUS_PAPER_DECAY,
            "stage2.balance=task",
            "stage2.nominal_epochs=100",
            "stage2.objective.temperature=0.1",
        ),
    ),
    Idea(
        "plus-balanced-temperature0.02",
        "tasks balanced, InfoNCE temperature 0.02",
        (
            *ERA_PLUS_PAPER_DECAY,
            "stage2.balance=task",
            "stage2.nominal_epochs=100",
            "stage2.objective.temperature=0.02",
        ),
    ),
    Idea(
        "plus-score-matching",
        "tasks balanced, aligned branch by score matching (`adapter=doc_residual_score_matching`)",
        (
            *ERA_PLUS_PAPER_DECAY,
            "stage2.balance=task",
            "stage2.nominal_epochs=100",
            "adapter=doc_residual_score_matching",
        ),
    ),
    # AdamW's decoupled weight decay pulls every weight toward zero. The doc residual's gate and
    # residual start at zero, so a strong decay pulls the adapter back toward the index model's own
    # zero-shot, the classic guard of a fine-tune on few labels (the paper's 1e-4 hardly moves it).
    Idea(
        "plus-shipped-wd1",
        "balanced, 200 epochs, weight decay 1 (a pull toward the zero-shot start)",
        (*BALANCED_200_OVERRIDES, "stage2.weight_decay=1.0"),
    ),
    Idea(
        "plus-shipped-wd10",
        "balanced, 200 epochs, weight decay 10",
        (*BALANCED_200_OVERRIDES, "stage2.weight_decay=10.0"),
    ),
    Idea(
        SHIPPED,
        "**era_plus as shipped** (`stage2=era_plus`: in-batch, lr 3e-4, patience 30, tasks balanced, "
        "200 nominal epochs, weight decay 10)",
        ("method=era_plus",),
        folder=f"{SHIPPED}-{RECIPE}",
    ),
    Idea("label-only", "faithful label-only", ("method=label_only",)),
    Idea(
        "label-only-sound",
        "sound label-only: doc residual from zero, era_plus's Stage 2",
        ("method=label_only", "adapter=doc_residual", "adapter.init=null", "stage2=era_plus"),
        folder=f"label-only-sound-{RECIPE}",
    ),
    Idea("align-only", "faithful align-only", ("method=align_only",), ratio_free=True),
    Idea(
        "align-only-ridge",
        "align-only, closed-form ridge",
        ("method=align_only", "adapter=ridge", "stage1=closed_form"),
        ratio_free=True,
    ),
    Idea(
        "align-only-score-matching",
        "align-only, closed-form score matching",
        ("method=align_only", "adapter=score_matching", "stage1=closed_form"),
        ratio_free=True,
    ),
)
IDEA_RATIOS = (0.05, 0.2)
# era_plus with every epoch's per-query validation nDCG@10 recorded, Stage 2 run to its nominal end
# (patience = nominal epochs), so selection rules can be replayed on split validation halves.
TRACE_OVERRIDES = ("method=era_plus", "stage2/trace=per_query", "stage2.patience=${stage2.nominal_epochs}")
SPLITS = 20
# The built-in task: era_plus and faithful ERA on validation over several seeds (split and training).
DEMO_SEEDS = (42, 1, 2, 3, 4, 5)
DEMO_POINTS = (
    ("zero-shot", "MiniLM zero-shot", ("pair=minilm_to_minilm", "method=zero_shot")),
    ("era", "ERA", ("method=era",)),
    ("plus", "era_plus", ("method=era_plus",)),
    ("era-plus-stage2", "ERA's adapter, era_plus's Stage 2", ("method=era", "stage2=era_plus")),
)
# The demo points that follow era_plus's recipe, filed under it as the ideas are (Idea.folder).
DEMO_FOLDERS = {"plus": f"plus-{RECIPE}", "era-plus-stage2": f"era-plus-stage2-{RECIPE}"}


def _ratio(ratio: float) -> list[str]:
    return [f"train_ratio={ratio}"]


def _run(points: Points, name: str, overrides: Sequence[str]) -> dict:
    """One run's results, with ``_dir``: its folder (the TREC files the significance tests read)."""
    results = dict(points.run(name, overrides))
    results["_dir"] = str(points.folder(name))
    return results


Results = dict[tuple[str, float], dict]


Spec = tuple[str, tuple[str, ...]]  # a run's folder name and overrides


def idea_specs(study: PairStudy) -> dict[tuple[str, float], Spec]:
    """MiniLM zero-shot on the study's tasks, then every idea at every idea ratio (ratio-free ones once)."""
    specs: dict[tuple[str, float], Spec] = {
        ("zero-shot", 0.0): ("zero_shot-minilm", ("pair=minilm_to_minilm",))
    }
    for idea in IDEAS:
        for ratio in IDEA_RATIOS[:1] if idea.ratio_free else IDEA_RATIOS:
            name = f"idea-{idea.stem}-{study.pair}" + ("" if idea.ratio_free else f"-{ratio}")
            spec = (name, (f"pair={study.pair}", *idea.overrides, *_ratio(ratio)))
            for r in IDEA_RATIOS if idea.ratio_free else (ratio,):
                specs[(idea.key, r)] = spec
    return specs


def _label(key: str) -> str:
    """The page's name of idea ``key``."""
    return next(idea.label for idea in IDEAS if idea.key == key)


def _stem(key: str) -> str:
    """The folder stem of idea ``key``'s runs."""
    return next(idea.stem for idea in IDEAS if idea.key == key)


def final_specs(study: PairStudy) -> dict[tuple[str, float], Spec]:
    """Faithful ERA, era_plus and the recipe era_plus replaced (``previous``: :data:`REPLACED`)
    at every ratio (the ideas' runs where they overlap)."""
    previous = next(idea for idea in IDEAS if idea.key == REPLACED)
    specs = {
        (key, ratio): (
            f"idea-{_stem(key)}-{study.pair}-{ratio}",
            (f"pair={study.pair}", f"method={method}", *_ratio(ratio)),
        )
        for ratio in RATIOS
        for key, method in (("era", "era"), ("plus", "era_plus"))
    }
    for ratio in RATIOS:
        specs[(PREVIOUS, ratio)] = (
            f"idea-{previous.stem}-{study.pair}-{ratio}",
            (f"pair={study.pair}", *previous.overrides, *_ratio(ratio)),
        )
    return specs


def _run_specs(points: Points, specs: dict[tuple[str, float], Spec]) -> Results:
    runs: dict[Spec, dict] = {}
    for spec in specs.values():
        if spec not in runs:
            runs[spec] = _run(points, *spec)
    return {key: runs[spec] for key, spec in specs.items()}


def trace_specs(study: PairStudy) -> dict[tuple[str, float], Spec]:
    """era_plus with its Stage-2 trace at every ratio (validation only: what selection rules replay)."""
    return {
        ("trace", ratio): (
            f"trace-{_stem(SHIPPED)}-{study.pair}-{ratio}",
            (f"pair={study.pair}", *TRACE_OVERRIDES, *_ratio(ratio)),
        )
        for ratio in RATIOS
    }


# The across-seeds tables at train ratio SEED_RATIO: the page's own seed first (whose runs every other
# table shows), then seeds that draw another split, Stage-1 sample, negatives and training order.
SEEDS = (42, 1, 2)
SEED_RATIO = 0.2
SeedSpec = tuple[str, tuple[str, ...], tuple[str, ...] | None]  # folder name, overrides, tasks


def seed_tasks(study: PairStudy, index_tasks: tuple[str, ...] | None) -> tuple[str, ...] | None:
    """The across-seeds table's tasks: with mpnet as the query model, the tasks mpnet indexes (mpnet
    zero-shot is one of its references, and a table never mixes task sets); else the study's."""
    return index_tasks if study.pair.startswith("mpnet") and index_tasks else study.tasks


def seed_specs(study: PairStudy, index_tasks: tuple[str, ...] | None) -> dict[tuple[str, int], SeedSpec]:
    """MiniLM zero-shot, faithful ERA and era_plus at every seed (mpnet zero-shot too where the table
    is on the mpnet-index tasks), at :data:`SEED_RATIO`; seed 42 on the study's tasks is the final runs."""
    tasks = seed_tasks(study, index_tasks)
    ratio = f"train_ratio={SEED_RATIO}"
    base = {
        "zero-shot": ("zero_shot-minilm", ("pair=minilm_to_minilm",)),
        "era": (
            f"idea-{_stem('era')}-{study.pair}-{SEED_RATIO}",
            (f"pair={study.pair}", "method=era", ratio),
        ),
        "plus": (
            f"idea-{_stem(SHIPPED)}-{study.pair}-{SEED_RATIO}",
            (f"pair={study.pair}", "method=era_plus", ratio),
        ),
    }
    if study.pair.startswith("mpnet") and index_tasks:
        base["mpnet"] = MPNET_ZERO_SHOT
    return {
        (key, seed): (name if seed == SEEDS[0] else f"seed{seed}-{name}", (*overrides, f"seed={seed}"), tasks)
        for key, (name, overrides) in base.items()
        for seed in SEEDS
    }


def run_seeds(study: PairStudy, index_tasks: tuple[str, ...] | None) -> dict[tuple[str, int], dict]:
    """Every run of :func:`seed_specs` (computed once, then read), with ``_dir`` like :func:`_run`."""
    runs = {}
    for key, (name, overrides, tasks) in seed_specs(study, index_tasks).items():
        runs[key] = {
            **study.points.run(name, overrides, tasks),
            "_dir": str(study.points.folder(name, tasks)),
        }
    return runs


def run_ideas(study: PairStudy) -> Results:
    return _run_specs(study.points, idea_specs(study))


def run_final(study: PairStudy) -> Results:
    return _run_specs(study.points, final_specs(study))


def run_traces(study: PairStudy) -> Results:
    return _run_specs(study.points, trace_specs(study))


def selection_scores(traces: Results, patience: int) -> dict[float, dict]:
    """Every rule of :data:`RULES` on split validation halves, at each ratio (the trace runs)."""
    scores = {}
    for ratio in RATIOS:
        factors, trace = load_trace(Path(traces[("trace", ratio)]["_dir"]) / TRACE_FILE)
        scores[ratio] = split_halves(trace, factors, patience, splits=SPLITS)
    return scores


def selection_lines_per_task(scores: dict[float, dict], patience: int) -> list[str]:
    """The split-halves table of the selection rules and what it says."""
    shipped = next(iter(RULES))
    header = " | ".join(f"{ratio}: Δ | {ratio}: < start | {ratio}: < / > shipped" for ratio in RATIOS)
    lines = [
        f"| rule | {header} | Δ, mean of ratios |",
        "|---|" + "---:|" * (3 * len(RATIOS) + 1),
    ]
    deltas: dict[str, list[float]] = {}
    for name in RULES:
        cells = []
        for ratio in RATIOS:
            score, base = scores[ratio][name], scores[ratio][shipped]
            delta = 100 * (score.mean - base.mean)
            deltas.setdefault(name, []).append(delta)
            first = pct(score.mean) if name == shipped else f"{delta:+.2f}"
            cells += [
                first,
                f"{score.below_start:.1f}",
                f"{score.below_shipped:.1f} / {score.above_shipped:.1f}",
            ]
        mean = sum(deltas[name]) / len(RATIOS)
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {'' if name == shipped else f'{mean:+.2f}'} |")
    winners = [
        name
        for name in RULES
        if name != shipped
        and all(d > 0 for d in deltas[name])
        and all(scores[r][name].below_start < scores[r][shipped].below_start for r in RATIOS)
    ]
    best = max((name for name in RULES if name != shipped), key=lambda name: sum(deltas[name]))
    fewest = min(
        (name for name in RULES if name != shipped),
        key=lambda name: sum(scores[r][name].below_start for r in RATIOS),
    )
    lines += [
        "",
        f"Each task's validation queries split at random into halves ({SPLITS} seeded splits, each used "
        "both ways round); a rule chooses on one half and is scored on the other. The shipped row gives "
        "its mean over tasks (nDCG@10 × 100) on the confirmation halves, the others their difference "
        'from it (Δ, points); "< start": tasks below the weights Stage 2 starts from (for doc_residual, '
        'MiniLM\'s zero-shot), "< / > shipped": tasks below and above the shipped rule, each averaged '
        f"over the splits. Stage 2 ran to its nominal end; early stopping (patience {patience}) is "
        "replayed on each selection half. Shrink factors: the weights θ0 + α·(θ − θ0), α in "
        "{0, 0.25, 0.5, 0.75, 1}.",
        "",
        "- **Verdict:** "
        + (
            f"{', '.join(winners)} beat(s) the shipped rule on the confirmation halves at every ratio "
            "with fewer tasks below the start."
            if winners
            else "no rule beats the shipped shared epoch on the confirmation halves at every ratio while "
            f"leaving fewer tasks below the start. Highest mean Δ over the ratios: {best} "
            f"({sum(deltas[best]) / len(RATIOS):+.2f}); fewest tasks below the start: {fewest} "
            f"(Δ {sum(deltas[fewest]) / len(RATIOS):+.2f}). era_plus keeps the shared epoch."
        ),
    ]
    return lines


def demo_runs(out_root: Path) -> dict[tuple[str, int], dict]:
    """The built-in task's validation study: every demo point at every seed (mpnet→MiniLM, ratio 0.2)."""
    results = {}
    for seed in DEMO_SEEDS:
        for key, _, overrides in DEMO_POINTS:
            cfg = compose(
                ["data=builtin", "pair=mpnet_to_minilm", "train_ratio=0.2", f"seed={seed}", *overrides],
                return_hydra_config=False,
            )
            folder = out_root / "builtin" / f"{DEMO_FOLDERS.get(key, key)}-{seed}"
            results[(key, seed)] = {**run(cfg, folder), "_dir": str(folder)}
    return results


def _validation_significance(first: dict, second: dict) -> float:
    """Paired t-test p-value on per-query validation nDCG@10 of two runs of one task set."""
    (qrels, run_a), (_, run_b) = (pooled(Path(r["_dir"]) / "validation") for r in (first, second))
    report = compare(
        *ranx_containers(qrels, {"a": run_a, "b": run_b}),
        ["ndcg@10"],
        stat_test=STAT_TEST,
        max_p=ALPHA,
        make_comparable=True,
    ).to_dict()
    return report["a"]["comparisons"]["b"]["ndcg@10"]


def demo_section(demo: dict[tuple[str, int], dict]) -> list[str]:
    """era_plus against ERA on the built-in task's validation split, seed by seed."""
    labels = [label for _, label, _ in DEMO_POINTS]
    lines = [
        "## The built-in task (stdlib-codesearch, validation)",
        "",
        "`make demo` compares the methods on this task's test split at seed 42 (mpnet→MiniLM, ratio "
        "0.2). Whether era_plus trails faithful ERA on this task is asked here of the validation split "
        "alone: nDCG@10 × 100 on the validation queries, one row per seed (the seed draws the split, "
        "the Stage-1 sample, the negatives and the training order); p: paired t-test of era_plus "
        "against ERA on them.",
        "",
        "| seed | validation queries | " + " | ".join(labels) + " | era_plus − ERA | p |",
        "|---:|---:|" + "---:|" * (len(labels) + 2),
    ]
    gaps = []
    for seed in DEMO_SEEDS:
        row = {key: demo[(key, seed)] for key, _, _ in DEMO_POINTS}
        values = {key: r["validation"]["overall"]["ndcg@10"] for key, r in row.items()}
        gap = 100 * (values["plus"] - values["era"])
        gaps.append(gap)
        queries = sum(r["num_queries"] for r in row["plus"]["validation"]["per_unit"].values())
        cells = [str(seed), str(queries), *(pct(values[key]) for key, _, _ in DEMO_POINTS)]
        cells += [f"{gap:+.1f}", f"{_validation_significance(row['plus'], row['era']):.2g}"]
        lines.append("| " + " | ".join(cells) + " |")
    means = {
        key: sum(demo[(key, seed)]["validation"]["overall"]["ndcg@10"] for seed in DEMO_SEEDS)
        / len(DEMO_SEEDS)
        for key, _, _ in DEMO_POINTS
    }
    lines.append(
        "| **mean** | | "
        + " | ".join(f"**{pct(means[key])}**" for key, _, _ in DEMO_POINTS)
        + f" | **{sum(gaps) / len(gaps):+.1f}** | |"
    )
    ahead, mean_gap = sum(gap > 0 for gap in gaps), sum(gaps) / len(gaps)
    verdict = (
        "on one task with a few dozen validation queries, the gap at one seed is within what the seed "
        "moves, not a loss era_plus has on this task."
        if mean_gap > 0 and ahead > len(gaps) / 2
        else "era_plus is behind ERA on this task beyond one seed's draw."
    )
    lines += [
        "",
        f"- At seed {DEMO_SEEDS[0]}: era_plus {gaps[0]:+.1f} points against ERA on validation, though "
        "era_plus's number is the epoch it selected on these very queries. Over the "
        f"{len(DEMO_SEEDS)} seeds it is ahead on {ahead}, by {mean_gap:+.1f} points on average: {verdict}",
        "",
    ]
    return lines


def prefetch(studies: Sequence[PairStudy], jobs: int, index_tasks: tuple[str, ...] | None) -> None:
    """Compute every run of the page in ``jobs`` parallel processes (finished runs are skipped), so
    the page's own pass, in order, only reads them."""
    todo = [
        (study.points, *spec, None)
        for study in studies
        for specs in (idea_specs(study), final_specs(study), trace_specs(study))
        for spec in specs.values()
    ]
    todo += [(study.points, *spec) for study in studies for spec in seed_specs(study, index_tasks).values()]
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        for future in [pool.submit(_prefetch_one, *item) for item in dict.fromkeys(todo)]:
            future.result()


def _prefetch_one(
    points: Points, name: str, overrides: tuple[str, ...], tasks: tuple[str, ...] | None
) -> None:
    points.run(name, list(overrides), tasks)


@dataclass(frozen=True)
class Ceiling:
    """One oracle fit of the page (:mod:`era_exp.pipeline.ceiling`): a recipe fitted on the test queries."""

    key: str
    label: str
    overrides: tuple[str, ...]


# era_plus's Stage 2 stretched to 300 nominal epochs (its lr decays over them, patience 30) so a fit
# goes as far as its class allows; the ratio only draws a train split the fit does not read.
CEILING_SCHEDULE = ("train_ratio=0.2", "stage2.nominal_epochs=300")
CEILINGS = (
    Ceiling("plus", "fit: doc residual", ("method=era_plus", *CEILING_SCHEDULE)),
    Ceiling(
        "plus-mlp",
        "fit: doc residual + MLP",
        ("method=era_plus", "adapter=doc_residual_mlp", *CEILING_SCHEDULE),
    ),
)
# A fit this many points above another counts as higher in the page's bullets.
CEILING_MARGIN = 0.01


def ceiling_specs(study: PairStudy) -> dict[str, Spec]:
    """Each oracle fit's folder name (``oracle-fit-...``, apart from every run's) and overrides.

    The fits follow era_plus's recipe, so their folders name it (:data:`RECIPE`), as the ideas' do.
    """
    return {
        ceiling.key: (
            f"oracle-fit-{ceiling.key}-{RECIPE}-{study.pair}",
            (f"pair={study.pair}", *ceiling.overrides),
        )
        for ceiling in CEILINGS
    }


def run_ceilings(study: PairStudy) -> dict[str, dict]:
    """Every oracle fit of the study (computed once, then read), with ``_dir`` like :func:`_run`."""
    fits = {}
    for key, (name, overrides) in ceiling_specs(study).items():
        folder = study.points.folder(name)
        fits[key] = {**oracle_fit(study.points.config(overrides), folder), "_dir": str(folder)}
    return fits


def _task_list(rows: Sequence[tuple[str, float, float]]) -> str:
    return ", ".join(f"{task} ({pct(a)} vs {pct(b)})" for task, a, b in rows) or "none"


def ceiling_section(zero: dict, final: Results, fits: dict[str, dict], mpnet: dict | None) -> list[str]:
    """The oracle fits against the zero-shots and era_plus on test, and what they say task by task."""
    tasks = sorted(zero["per_task"])
    plus, plus_high = final[("plus", 0.2)], final[("plus", RATIOS[-1])]
    common = sorted(set(mpnet["per_task"]) & set(tasks)) if mpnet is not None else []
    columns: dict[str, dict] = {"MiniLM zero-shot": zero}
    if common:
        columns["mpnet zero-shot"] = restricted(mpnet, common)
    columns |= {"era_plus 0.2": plus, f"era_plus {RATIOS[-1]}": plus_high}
    columns |= {ceiling.label: fits[ceiling.key] for ceiling in CEILINGS}

    def score(results: dict, task: str) -> float:
        return results["per_task"][task]["ndcg@10"]

    def best_fit(task: str) -> float:
        return max(score(fits[ceiling.key], task) for ceiling in CEILINGS)

    first = fits[CEILINGS[0].key]["config"]["stage2"]
    lines = [
        "### How far a query-side adapter gets on the MiniLM index (oracle fit, not a result)",
        "",
        "Each fit runs era_plus's pipeline with the adapter named (Stage 1, the Stage-1 adapter as "
        "teacher, mined negatives, era_plus's Stage-2 objective) through "
        "`era_exp.pipeline.ceiling.oracle_fit`, except that Stage 2 **trains on each task's test "
        "queries, early-stops on their nDCG@10 and is scored on them**. Trained on the split it "
        "scores, it is an upper estimate of what an adapter of that class reaches over this index "
        "with these queries' labels: not a result, and never used to choose a setting (no config "
        "entry reaches it; its folders are `oracle-fit-*` and `era-report` refuses them). Where even "
        "the fit stays below a reference, no recipe of the class reaches it on that task, whatever its "
        "labels; where the fit clears it and era_plus does not, the gap is generalisation from few "
        "labels. With hundreds of thousands of weights against tens to thousands of queries per task "
        "a fit can memorise: clearing a reference shows that the index admits query vectors, within "
        "the class, that rank as well, not that a map learnt from other queries finds them (the "
        f"era_plus {RATIOS[-1]} column shows how far {RATIOS[-1] / 0.2:g}× the labels of 0.2 go). "
        f"Stage 2: lr {first['lr']:g}, "
        + ("in-batch negatives, " if first["objective"].get("in_batch_negatives") else "")
        + f"{first['nominal_epochs']} nominal epochs (era_plus: "
        f"{final[('plus', 0.2)]['config']['stage2']['nominal_epochs']}), patience {first['patience']}; "
        "one set of weights for all tasks, "
        "kept on the mean over tasks, so a task's own fit could go higher, and a fit that ran to its "
        "nominal end could go further. The MLP adds `mlp([Q(q), D(q)])` (hidden "
        f"{fits[CEILINGS[-1].key]['config']['adapter']['module'].get('hidden', '—')}, its last layer "
        "zero at the start) to the doc residual, which it contains (`adapter=doc_residual_mlp`).",
        "",
        *task_table(columns, list(columns)),
        "",
        "| fit | train pairs | epochs run | kept epoch | test nDCG@10 (mean over tasks) | Stage-2 minutes |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for ceiling in CEILINGS:
        fit = fits[ceiling.key]
        stage = fit["stages"]["adaptation"]
        cells = [
            ceiling.label,
            str(stage["train_pairs"]),
            str(stage["epochs"]),
            str(stage["best_epoch"]),
            pct(fit["overall"]["ndcg@10"]),
            f"{fit['profile']['stage2']['seconds'] / 60:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    if common:
        mpnet = columns["mpnet zero-shot"]
        below = [(t, best_fit(t), score(mpnet, t)) for t in common if best_fit(t) <= score(mpnet, t)]
        gap = [
            (t, best_fit(t), score(mpnet, t))
            for t in common
            if best_fit(t) > score(mpnet, t) >= score(plus, t)
        ]
        ahead = [t for t in common if score(plus, t) > score(mpnet, t)]
        lines += [
            f"- **Even the best fit stays below mpnet zero-shot** on {len(below)} of {len(common)} tasks "
            "(best fit vs mpnet): "
            f"{_task_list(below)}. "
            + (
                "There the target is out of reach for these classes on the MiniLM index: the documents' "
                "MiniLM vectors do not rank as mpnet's do, whatever the labels."
                if below
                else "On every task a fit of these classes ranks the MiniLM index above mpnet's zero-shot: "
                "the documents' MiniLM vectors are not what keeps era_plus below it."
            ),
            f"- **The fit clears mpnet zero-shot where era_plus 0.2 does not** on {len(gap)} task(s) "
            "(best fit vs mpnet): "
            f"{_task_list(gap)}. "
            + ("There the gap is generalisation from few labels, not the index." if gap else "")
            + f" era_plus 0.2 is already above mpnet zero-shot on {len(ahead)} of {len(common)}.",
        ]
    low = [(t, score(plus, t), score(zero, t)) for t in tasks if score(plus, t) <= score(zero, t)]
    low_fit = [(t, best_fit(t), score(zero, t)) for t in tasks if best_fit(t) <= score(zero, t)]
    lines += [
        f"- **Below MiniLM zero-shot** (score vs MiniLM zero-shot): era_plus 0.2 on {len(low)} of "
        f"{len(tasks)} tasks ({_task_list(low)}); the best fit on {len(low_fit)} ({_task_list(low_fit)}).",
    ]
    headroom = [best_fit(t) - score(plus, t) for t in tasks]
    lines.append(
        f"- **Headroom over era_plus 0.2** (best fit − era_plus, mean over the {len(tasks)} tasks): "
        f"{100 * sum(headroom) / len(tasks):+.1f} points, from {100 * min(headroom):+.1f} to "
        f"{100 * max(headroom):+.1f}."
    )
    base, wide = fits[CEILINGS[0].key], fits[CEILINGS[-1].key]
    higher = [
        (t, score(wide, t), score(base, t)) for t in tasks if score(wide, t) - score(base, t) > CEILING_MARGIN
    ]
    lower = [
        (t, score(wide, t), score(base, t)) for t in tasks if score(base, t) - score(wide, t) > CEILING_MARGIN
    ]
    lines += [
        f"- **Capacity.** {CEILINGS[-1].label} against {CEILINGS[0].label}: "
        f"{100 * (wide['overall']['ndcg@10'] - base['overall']['ndcg@10']):+.1f} points on the mean; "
        f"more than {100 * CEILING_MARGIN:.0f} point higher on {len(higher)} task(s) ({_task_list(higher)}), "
        f"lower on {len(lower)} ({_task_list(lower)}).",
        "",
    ]
    return lines


def ideas_table(ideas: Results) -> list[str]:
    """Validation nDCG@10 (mean over tasks and mean of domain means) of every idea at each idea ratio."""
    header = " | ".join(f"{ratio}: tasks | {ratio}: domains" for ratio in IDEA_RATIOS)
    lines = [f"| idea | overrides | {header} |", "|---|---|" + "---:|" * (2 * len(IDEA_RATIOS))]
    rows = [("MiniLM zero-shot", ("pair=minilm_to_minilm", "method=zero_shot"), "zero-shot")]
    rows += [(idea.label, idea.overrides, idea.key) for idea in IDEAS]
    for label, overrides, key in rows:
        cells = []
        for ratio in IDEA_RATIOS:
            validation = ideas[(key, 0.0 if key == "zero-shot" else ratio)]["validation"]["overall"]
            cells += [pct(validation["ndcg@10"]), pct(validation["ndcg@10_domain_mean"])]
        lines.append(f"| {label} | `{' '.join(overrides)}` | " + " | ".join(cells) + " |")
    return lines


def selection_lines(ideas: Results) -> list[str]:
    """How each Stage 2 ended: epochs run and the epoch it kept (-1: the weights it started from)."""
    lines = [
        "| idea | ratio | epochs run | kept epoch | followed | best value |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for idea in IDEAS:
        if idea.ratio_free:
            continue
        for ratio in IDEA_RATIOS:
            stage = ideas[(idea.key, ratio)]["stages"]["adaptation"]
            monitor = stage.get("monitor", "val_loss")
            best = stage.get("best_monitor", stage.get("best_val_loss"))
            cells = [idea.label, str(ratio), str(stage["epochs"]), str(stage["best_epoch"]), monitor]
            lines.append("| " + " | ".join(cells) + f" | {best:.4f} |")
    return lines


def alignment_lines(ideas: Results) -> list[str]:
    """Stage 1's held-out alignment loss (1 - cosine) of the ERA-style ideas at ratio 0.2."""
    lines = ["| idea | Stage-1 SGD epochs | held-out alignment loss |", "|---|---:|---:|"]
    for idea in IDEAS:
        stage = ideas[(idea.key, IDEA_RATIOS[-1])]["stages"].get("alignment")
        if stage is None or idea.overrides[0] == "method=era_plus":
            continue
        lines.append(f"| {idea.label} | {stage['epochs']} | {stage['val_loss']:.4f} |")
    return lines


# mpnet zero-shot's run: the folder name and overrides of the zero-shot page's, on the mpnet-index tasks.
MPNET_ZERO_SHOT = ("zero_shot-mpnet_to_mpnet", ("pair=mpnet_to_mpnet",))


@dataclass(frozen=True)
class MpnetZeroShot:
    """mpnet zero-shot (mpnet on both sides), run for this page, and the committed column it reproduces."""

    results: dict
    committed: dict | None

    def mismatches(self) -> list[str]:
        """Tasks whose printed score differs from the committed zero-shot page's, or is not on it."""
        committed = self.committed["per_task"] if self.committed else {}
        return [
            task
            for task, row in sorted(self.results["per_task"].items())
            if task not in committed or pct(row["ndcg@10"]) != pct(committed[task]["ndcg@10"])
        ]

    def agreement(self) -> str:
        """One sentence: does the run equal the committed column to the printed rounding?"""
        page = f"[`{ZERO_SHOT_PAGE.name}`]({ZERO_SHOT_PAGE.name})"
        n = len(self.results["per_task"])
        if self.committed is None:
            return f"There is no committed {page} to compare it with."
        if not (wrong := self.mismatches()):
            return (
                f"Its per-task scores equal the mpnet column of {page} to the printed rounding ({n} tasks)."
            )
        committed = self.committed["per_task"]
        cells = ", ".join(
            f"{t} ({pct(self.results['per_task'][t]['ndcg@10'])} here, "
            f"{pct(committed[t]['ndcg@10']) if t in committed else '—'} there)"
            for t in wrong
        )
        return f"Its per-task scores differ from the mpnet column of {page} on {len(wrong)} of {n}: {cells}."


def run_mpnet_zero_shot(
    data_root: str, out_root: Path, tasks: tuple[str, ...] | None, docs: Path
) -> MpnetZeroShot:
    """Run (or reuse) mpnet zero-shot on ``tasks`` and read the committed column it should equal."""
    results = _run(Points(data_root, out_root, tasks), MPNET_ZERO_SHOT[0], MPNET_ZERO_SHOT[1])
    return MpnetZeroShot(results, mpnet_zero_shot(docs / ZERO_SHOT_PAGE.name))


def mpnet_zero_shot(page: Path) -> dict | None:
    """mpnet zero-shot per task from the committed zero-shot page (its mpnet column), as a results dict."""
    if not page.is_file():
        return None
    per_task = {}
    for line in page.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and re.fullmatch(r"\d+\.\d", cells[3]) and not cells[0].startswith("**"):
            per_task[cells[0]] = {"ndcg@10": float(cells[3]) / 100, "domain": cells[1]}
    return _summary(per_task) if per_task else None


def _summary(per_task: dict[str, dict]) -> dict:
    """``overall`` / ``per_domain`` (mean over tasks, mean of domain means) for per-task scores."""
    domains: dict[str, list[float]] = {}
    for row in per_task.values():
        domains.setdefault(row["domain"], []).append(row["ndcg@10"])
    per_domain = {domain: {"ndcg@10": sum(v) / len(v)} for domain, v in domains.items()}
    overall = {
        "ndcg@10": sum(row["ndcg@10"] for row in per_task.values()) / len(per_task),
        "ndcg@10_domain_mean": sum(d["ndcg@10"] for d in per_domain.values()) / len(per_domain),
    }
    return {"per_task": per_task, "per_domain": per_domain, "overall": overall}


def restricted(results: dict, tasks: Sequence[str]) -> dict:
    """A run's test scores on ``tasks`` only, with means recomputed over them."""
    return _summary({task: dict(results["per_task"][task]) for task in tasks})


@functools.cache
def _pooled(run_dir: str) -> tuple[dict, dict]:
    """A run folder's pooled qrels and run, read once however many tests use it."""
    return pooled(Path(run_dir))


def significance(first: dict, second: dict) -> tuple[float, float, float, int]:
    """Paired two-sided t-test on per-query nDCG@10 over every query both runs scored (pooled tasks)."""
    (qrels_a, run_a), (qrels_b, run_b) = _pooled(first["_dir"]), _pooled(second["_dir"])
    qids = sorted(set(qrels_a) & set(qrels_b))
    report = compare(
        *ranx_containers(
            {q: qrels_a[q] for q in qids},
            {"a": {q: run_a[q] for q in qids if q in run_a}, "b": {q: run_b[q] for q in qids if q in run_b}},
        ),
        ["ndcg@10"],
        stat_test=STAT_TEST,
        max_p=ALPHA,
        make_comparable=True,
    ).to_dict()
    return (
        report["a"]["scores"]["ndcg@10"],
        report["b"]["scores"]["ndcg@10"],
        report["a"]["comparisons"]["b"]["ndcg@10"],
        len(qids),
    )


def task_mean_test(first: dict, second: dict) -> TaskMeanTest:
    """The test of two runs' difference of means over the first run's tasks (each task alike)."""
    return compare_task_means(Path(first["_dir"]), Path(second["_dir"]), sorted(first["per_task"]), ALPHA)


def ratio_table(study: PairStudy, final: Results, zero: dict) -> list[str]:
    """era_plus against faithful ERA at every ratio: means, both paired tests, per-task wins."""
    lines = [
        "| ratio | ERA | era_plus | Δ | p, mean over tasks | p, pooled queries | queries | ERA, domain mean "
        "| era_plus, domain mean | tasks era_plus > ERA | era_plus − MiniLM zero-shot | p, mean over tasks "
        "| p, pooled queries |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for ratio in RATIOS:
        era, plus = final[("era", ratio)], final[("plus", ratio)]
        _, _, p_value, n = significance(plus, era)
        wins = sum(plus["per_task"][t]["ndcg@10"] > era["per_task"][t]["ndcg@10"] for t in plus["per_task"])
        _, _, p_zero, _ = significance(plus, zero)
        mean, mean_era = plus["overall"], era["overall"]
        cells = [
            str(ratio),
            pct(mean_era["ndcg@10"]),
            pct(mean["ndcg@10"]),
            f"{100 * (mean['ndcg@10'] - mean_era['ndcg@10']):+.1f}",
            task_mean_test(plus, era).p_text(),
            f"{p_value:.2g}",
            str(n),
            pct(mean_era["ndcg@10_domain_mean"]),
            pct(mean["ndcg@10_domain_mean"]),
            f"{wins}/{len(plus['per_task'])}",
            f"{100 * (mean['ndcg@10'] - zero['overall']['ndcg@10']):+.1f}",
            task_mean_test(plus, zero).p_text(),
            f"{p_zero:.2g}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def previous_table(final: Results) -> list[str]:
    """era_plus against the recipe it replaced at every ratio (test): means and the task-mean test."""
    lines = [
        "| ratio | replaced recipe | era_plus | Δ | p, mean over tasks | replaced, domain mean "
        "| era_plus, domain mean | tasks era_plus > replaced |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for ratio in RATIOS:
        previous, plus = final[(PREVIOUS, ratio)], final[("plus", ratio)]
        wins = sum(
            plus["per_task"][t]["ndcg@10"] > previous["per_task"][t]["ndcg@10"] for t in plus["per_task"]
        )
        cells = [
            str(ratio),
            pct(previous["overall"]["ndcg@10"]),
            pct(plus["overall"]["ndcg@10"]),
            f"{100 * (plus['overall']['ndcg@10'] - previous['overall']['ndcg@10']):+.1f}",
            task_mean_test(plus, previous).p_text(),
            pct(previous["overall"]["ndcg@10_domain_mean"]),
            pct(plus["overall"]["ndcg@10_domain_mean"]),
            f"{wins}/{len(plus['per_task'])}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def seeds_section(study: PairStudy, runs: dict[tuple[str, int], dict]) -> list[str]:
    """era_plus against faithful ERA and the zero-shot references at every seed of :data:`SEEDS`."""
    references = [("ERA", "era"), ("MiniLM zero-shot", "zero-shot")]
    references += [("mpnet zero-shot", "mpnet")] if ("mpnet", SEEDS[0]) in runs else []
    plus = {seed: runs[("plus", seed)] for seed in SEEDS}
    comparisons = [
        SeedComparison(label, plus, {seed: runs[(key, seed)] for seed in SEEDS}) for label, key in references
    ]
    per_task = plus[SEEDS[0]]["per_task"]
    domains = {
        task: per_task[task]["domain"] for task in sorted(per_task, key=lambda t: (per_task[t]["domain"], t))
    }
    tasks = list(domains)
    scope = (
        f"On the {len(tasks)} tasks mpnet indexes, so that mpnet zero-shot is measured on every task of the "
        "table; every run here trains on those tasks only, so seed 42's column is not the 13-task runs above."
        if ("mpnet", SEEDS[0]) in runs and study.tasks != tuple(tasks)
        else f"On the study's {len(tasks)} tasks; seed {SEEDS[0]}'s column is the runs of the tables above."
    )
    lines = [
        f"### Across seeds at train ratio {SEED_RATIO} (test)",
        "",
        f"Seeds {', '.join(map(str, SEEDS))}: each seed draws its own split (so its own test queries), "
        "Stage-1 sample, mined negatives and training order; everything else is as above. Each cell is "
        "era_plus minus the reference on that seed's test queries (nDCG@10, points). " + scope,
        "",
        *seed_table(comparisons, SEEDS, domains),
        "",
    ]
    for comparison in comparisons:
        everywhere = comparison.below_everywhere(SEEDS, tasks)
        somewhere = comparison.below_somewhere(SEEDS, tasks)
        above_all = len(tasks) - len(everywhere) - len(somewhere)
        lines.append(
            f"- **Against {comparison.label}:** above at every seed on {above_all} of {len(tasks)} tasks; "
            f"not above at any seed on {len(everywhere)}"
            + (f" ({', '.join(everywhere)})" if everywhere else "")
            + f"; not above at some seeds on {len(somewhere)}"
            + (f" ({', '.join(somewhere)})" if somewhere else "")
            + "."
        )
    return [*lines, ""]


def _not_above(plus: dict, other: dict, level: str) -> list[str]:
    """Tasks or domains (``level``: per_task / per_domain) where ``plus`` is not above ``other``."""
    return [
        name
        for name in other[level]
        if name in plus[level] and plus[level][name]["ndcg@10"] <= other[level][name]["ndcg@10"]
    ]


def task_tests(plus: dict, other: dict) -> dict[str, PairedTest]:
    """era_plus against ``other`` on every task both ran: the paired test on that task's test queries."""
    tasks = [task for task in sorted(other["per_task"]) if task in plus["per_task"]]
    return {task: compare_task(Path(plus["_dir"]), Path(other["_dir"]), task, ALPHA) for task in tasks}


def p_text(p_value: float) -> str:
    """A p-value as the page prints it ("n/a" where both runs score every query alike)."""
    return "n/a" if math.isnan(p_value) else f"{p_value:.2g}"


def _scores(plus: dict, other: dict, tasks: Sequence[str], tests: dict[str, PairedTest]) -> str:
    """Each task's two scores with its paired test: ``MBPP (79.4 vs 80.0, p = 0.71, 214 queries)``."""
    return ", ".join(
        f"{t} ({pct(plus['per_task'][t]['ndcg@10'])} vs {pct(other['per_task'][t]['ndcg@10'])}, "
        f"p = {p_text(tests[t].p_value)}, {tests[t].num_queries} queries)"
        for t in tasks
    )


def significantly(tests: dict[str, PairedTest], below: bool) -> list[str]:
    """Tasks where era_plus is significantly below (or above) the reference."""
    return [t for t, test in tests.items() if test.significant and (test.difference < 0) == below]


def _significance_counts(tests: dict[str, PairedTest], lost: Sequence[str]) -> str:
    """How many of the ``lost`` tasks are significant losses, and how many tasks significant wins."""
    below = [t for t in significantly(tests, below=True) if t in lost]
    above = significantly(tests, below=False)
    return (
        f"significantly below on {len(below)}{': ' + ', '.join(below) if below else ''}; "
        f"significantly above on {len(above)} of {len(tests)}"
    )


def _references(final: Results, ratio: float, zero: dict, mpnet: dict | None) -> list[tuple[str, dict]]:
    """What era_plus at ``ratio`` is held against: faithful ERA at that ratio, and both zero-shots."""
    others = [("faithful ERA", final[("era", ratio)]), ("MiniLM zero-shot", zero)]
    if mpnet is not None:
        others.append(("mpnet zero-shot", mpnet))
    return others


def losses(study: PairStudy, final: Results, zero: dict, mpnet: dict | None) -> list[str]:
    """Every ratio and reference: the tasks and domains where era_plus is not above it, each task with
    its paired test, and how many tasks are significant either way."""
    lines = [
        f"Per task: the paired t-test on that task's test queries (p ≤ {ALPHA} significant, no correction "
        "for the many tasks); a task not above the reference counts as a loss whatever its p. Domains: "
        "means over the tasks the reference ran.",
        "",
    ]
    for ratio in RATIOS:
        plus = final[("plus", ratio)]
        for name, other in _references(final, ratio, zero, mpnet):
            tests = task_tests(plus, other)
            mine = restricted(plus, sorted(tests))
            tasks, domains = _not_above(plus, other, "per_task"), _not_above(mine, other, "per_domain")
            counts = _significance_counts(tests, tasks)
            head = (
                f"not above {name} on {len(tasks)} of {len(tests)} tasks: "
                + _scores(plus, other, tasks, tests)
                if tasks
                else f"above {name} on all {len(tests)} tasks"
            )
            lines.append(f"- {ratio}: {head}; {counts}; domain(s) not above: {', '.join(domains) or 'none'}.")
    return lines


def _cost(runs: Sequence[dict]) -> str:
    """Compute time of the distinct runs behind the page, from their profiles (encoding excluded)."""
    unique = {run["_dir"]: run for run in runs}.values()
    seconds = sum(
        phase.get("seconds", 0.0)
        for run in unique
        for name, phase in run.get("profile", {}).items()
        if name != "encode"
    )
    return f"{len(unique)} runs, {seconds / 60:.1f} minutes of stage, evaluation and validation time"


def findings(ideas: Results) -> list[str]:
    """What the ideas say about ERA's weak points, in numbers from the runs (validation, 0.05 / 0.2)."""

    def both(key: str) -> str:
        return " / ".join(pct(ideas[(key, r)]["validation"]["overall"]["ndcg@10"]) for r in IDEA_RATIOS)

    zero_value = ideas[("zero-shot", 0.0)]["validation"]["overall"]["ndcg@10"]
    align, ridge, score_matching = (
        ideas[(key, IDEA_RATIOS[0])]["validation"]["overall"]["ndcg@10"]
        for key in ("align-only", "align-only-ridge", "align-only-score-matching")
    )
    zero = pct(zero_value)
    label = ideas[("label-only", 0.2)]["stages"]["adaptation"]

    def mean(key: str) -> float:
        return sum(ideas[(key, r)]["validation"]["overall"]["ndcg@10"] for r in IDEA_RATIOS) / len(
            IDEA_RATIOS
        )

    best = max((idea for idea in IDEAS if idea.key != "plus"), key=lambda idea: mean(idea.key))
    return [
        "Validation nDCG@10 at train ratio 0.05 / 0.2:",
        "",
        f"- **Best on this pair's validation** (mean of the two ratios): {best.label}, {both(best.key)}; "
        f"era_plus as shipped {both('plus')}. era_plus's first settings were chosen on MiniLM→MiniLM's "
        "validation, whose embeddings were cached first; every later change was judged on both pairs "
        "(the rounds after the pairs).",
        f"- **Align-only vs zero-shot.** Faithful align-only {both('align-only')} against MiniLM zero-shot's "
        f"{zero}; the closed-form ridge map alone {both('align-only-ridge')}. "
        + (
            "An adapter that reads only the query model must first rebuild the index model's space, and "
            "what that map loses, Stage 2 starts from."
            if align < zero_value
            else "With the same model on both sides the map is close to the identity and loses nothing."
        ),
        f"- **Matching scores instead of vectors.** The score-matching map alone "
        "(`adapter=score_matching`: the query map whose scores against the index model's vectors best "
        "reproduce the query model's own scores on the alignment texts, the transpose of a ridge "
        f"regression predicting a text's query-model vector from its index-model vector) "
        f"{both('align-only-score-matching')}; as era_plus's aligned branch {both('plus-score-matching')}, "
        f"against the pointwise branch's {both(BALANCED)} (both balanced, 100 nominal epochs). "
        + (
            "Those scores need the query model's vectors of the documents, which the map in effect "
            "predicts from their index-model vectors: on this pair that loses more than mapping the "
            "query onto the index model's space does."
            if score_matching < ridge
            else "Reproducing the query model's scores keeps more than mapping onto the index model's "
            "vectors."
            if score_matching > ridge + 0.005
            else "With these two models the two maps retrieve alike."
        ),
        f"- **Label-only collapses.** From PyTorch's random init at lr 1e-5, Stage 2 (ratio 0.2) ran "
        f"{label['epochs']} epochs and kept epoch {label['best_epoch']}: its validation loss was still "
        f"falling when the 1000 nominal epochs ran out, at {both('label-only')}. Started from the document "
        f"model's zero-shot (doc residual) with era_plus's Stage 2: {both('label-only-sound')}.",
        f"- **Stage 2's schedule.** Faithful ERA {both('era')}; with the converging schedule and nDCG "
        f"selection {both('era-converge')}; with the closed-form Stage 1 too {both('era-ridge-converge')}.",
        f"- **Keeping the document model's query vector.** The doc residual's first try {both('plus-first')};"
        f" without its ridge branch {both('plus-residual-only')}; selecting on the pairs' loss instead of "
        f"nDCG {both('plus-val-loss')}; the paper's Stage 2 {both('plus-paper-stage2')}.",
        f"- **In-batch negatives** {both('plus-in-batch')}; with lr 3e-4 and patience 30 (the recipe "
        f"before balancing) {both(BEFORE_BALANCE)}.",
        *challenger_findings(ideas),
    ]


def ratio_mean(ideas: Results, key: str, metric: str) -> float:
    """An idea's validation ``metric`` averaged over :data:`IDEA_RATIOS`."""
    return sum(ideas[(key, r)]["validation"]["overall"][metric] for r in IDEA_RATIOS) / len(IDEA_RATIOS)


def _delta(ideas: Results, key: str, base: str, metric: str) -> float:
    """Idea ``key``'s validation ``metric`` minus its round's base, averaged over :data:`IDEA_RATIOS`."""
    return ratio_mean(ideas, key, metric) - ratio_mean(ideas, base, metric)


def challenger_findings(ideas: Results) -> list[str]:
    """A bullet per round: each idea's means against the recipe it was tried against."""

    def cells(key: str) -> str:
        return " / ".join(pct(ratio_mean(ideas, key, metric)) for metric, _ in MEANS)

    def delta(key: str, base: str) -> str:
        return " / ".join(f"{100 * _delta(ideas, key, base, metric):+.2f}" for metric, _ in MEANS)

    return [
        f"- **Tried against {stage.recipe}** (mean of the two ratios, over tasks / of domain means; "
        f"Δ against it in points): that recipe {cells(stage.base)}; "
        + "; ".join(f"{_label(key)} {cells(key)} ({delta(key, stage.base)})" for key in stage.challengers)
        + ". Whether one replaces it: the section after the pairs."
        for stage in ROUNDS
    ]


def _round_lines(stage: Round, studies: Sequence[PairStudy], ideas: dict[str, Results]) -> list[str]:
    """One round's table (each idea's Δ on every pair and mean) and which ideas pass the rule."""
    columns = [(study, metric, name) for study in studies for metric, name in MEANS]
    lines = [
        f"### Against {stage.recipe} (“{_label(stage.base)}”)",
        "",
        "| idea | "
        + " | ".join(f"{study.label}: Δ {name}" for study, _, name in columns)
        + " | replaces it |",
        "|---|" + "---:|" * len(columns) + "---|",
    ]
    winners: dict[str, float] = {}  # idea -> its mean Δ over the columns
    for key in stage.challengers:
        deltas = [_delta(ideas[study.pair], key, stage.base, metric) for study, metric, _ in columns]
        if all(d > 0 for d in deltas):
            winners[key] = sum(deltas) / len(deltas)
        cells = " | ".join(f"{100 * d:+.2f}" for d in deltas)
        lines.append(f"| {_label(key)} | {cells} | {'yes' if key in winners else 'no'} |")
    return [*lines, "", f"- **Decision:** {_decision(stage, winners)}", ""]


def _decision(stage: Round, winners: dict[str, float]) -> str:
    """Which idea of a round replaces its recipe: the one passer, or of several the highest mean Δ."""
    if not winners:
        return f"no idea passes the rule on every pair and both means; {stage.recipe} stays."
    if len(winners) == 1:
        return f"“{_label(next(iter(winners)))}” passes the rule."
    best = max(winners, key=winners.__getitem__)
    names = ", ".join(f"“{_label(key)}”" for key in winners)
    return (
        f"{names} pass the rule; of them “{_label(best)}”, the highest mean Δ over the columns, "
        f"replaces {stage.recipe}."
    )


def recipe_decision(studies: Sequence[PairStudy], ideas: dict[str, Results]) -> list[str]:
    """Round by round, whether an idea replaces the recipe it was tried against (higher on every pair
    and both means), and which of them era_plus as shipped is (the same run keys)."""
    lines = [
        "## Ideas against the recipe, round by round (validation)",
        "",
        "An idea replaces the recipe it was tried against only if its validation nDCG@10, averaged over "
        f"the ratios {' and '.join(map(str, IDEA_RATIOS))}, is higher on every pair, both as the mean "
        "over tasks and as the mean of domain means. Δ: the idea minus that recipe, in points.",
        "",
    ]
    for stage in ROUNDS:
        lines += _round_lines(stage, studies, ideas)

    def shipped_is(key: str) -> bool:
        return all(
            ideas[study.pair][(SHIPPED, r)]["run_key"] == ideas[study.pair][(key, r)]["run_key"]
            for study in studies
            for r in IDEA_RATIOS
        )

    tried = dict.fromkeys(key for stage in ROUNDS for key in (stage.base, *stage.challengers))
    shipped = [key for key in tried if shipped_is(key)]
    lines += [
        "- **era_plus as shipped** is "
        + (
            f"“{_label(shipped[0])}” (the same run keys), so every era_plus column of the test tables is "
            "its runs."
            if shipped
            else "none of these ideas."
        ),
        "",
    ]
    return lines


def _verdict(holds: bool) -> str:
    return "**holds**" if holds else "**does not hold**"


def targets(study: PairStudy, final: Results, zero: dict, mpnet: dict | None) -> list[str]:
    """Which of era_plus's targets hold on this pair's tasks (test), each stated with its numbers; the
    per-task targets are strict (a task not above fails them), their paired tests are added information."""
    plus, era = final[("plus", 0.2)], final[("era", 0.2)]
    n_tasks = len(plus["per_task"])
    beaten = [t for t, row in plus["per_task"].items() if row["ndcg@10"] > era["per_task"][t]["ndcg@10"]]
    lost = [t for t in plus["per_task"] if t not in beaten]
    tests = task_tests(plus, era)
    lines = [
        f"- Ratio 0.2, above faithful ERA on every task: {_verdict(len(beaten) == n_tasks)} "
        f"({len(beaten)} of {n_tasks} tasks"
        + (f"; not above on {_scores(plus, era, lost, tests)}" if lost else "")
        + f"; {_significance_counts(tests, lost)})."
    ]
    if mpnet is not None:
        mine, ref = restricted(plus, sorted(mpnet["per_task"]))["overall"], mpnet["overall"]
        keys = ("ndcg@10", "ndcg@10_domain_mean")
        _, _, p_pooled, n_pooled = significance(plus, mpnet)
        mpnet_tests = task_tests(plus, mpnet)
        mpnet_lost = _not_above(plus, mpnet, "per_task")
        lines.append(
            "- Ratio 0.2, above mpnet zero-shot (mean over tasks, mean of domain means): "
            f"{_verdict(all(mine[k] > ref[k] for k in keys))} "
            + ", ".join(f"{pct(mine[k])} vs {pct(ref[k])}" for k in keys)
            + f", on the {len(mpnet['per_task'])} tasks mpnet ran (paired t-test pooled over their "
            f"{n_pooled} queries: p = {p_text(p_pooled)}). Per task it is not above mpnet zero-shot on "
            f"{len(mpnet_lost)} of {len(mpnet_tests)}"
            + (f": {_scores(plus, mpnet, mpnet_lost, mpnet_tests)}" if mpnet_lost else "")
            + f"; {_significance_counts(mpnet_tests, mpnet_lost)}."
        )
        era_mine = restricted(era, sorted(mpnet["per_task"]))["overall"]["ndcg@10"]
        lines.append(
            "- For reference, faithful ERA at ratio 0.2 against mpnet zero-shot on the same tasks: "
            f"{pct(era_mine)} vs {pct(ref['ndcg@10'])} (mean over tasks), "
            + ("below it." if era_mine < ref["ndcg@10"] else "not below it.")
        )
    task_wins, query_wins = [], []
    for ratio in RATIOS:
        ratio_plus, ratio_era = final[("plus", ratio)], final[("era", ratio)]
        test = task_mean_test(ratio_plus, ratio_era)
        task_wins.append(test.difference > 0 and test.significant)
        mean_plus, mean_era, p_value, _ = significance(ratio_plus, ratio_era)
        query_wins.append(mean_plus > mean_era and p_value <= ALPHA)
    lines.append(
        f"- Above faithful ERA at every ratio, significant at p ≤ {ALPHA}: on the mean over tasks "
        f"(paired randomization test, each task alike) {_verdict(all(task_wins))} (higher and significant "
        f"at {sum(task_wins)} of {len(RATIOS)} ratios); on the mean over queries (paired t-test pooled over "
        f"the tasks' queries, each query alike) {_verdict(all(query_wins))} (at {sum(query_wins)} of "
        f"{len(RATIOS)} ratios)."
    )
    low = final[("plus", RATIOS[0])]
    below = [t for t, row in low["per_task"].items() if row["ndcg@10"] < zero["per_task"][t]["ndcg@10"]]
    zero_tests = task_tests(low, zero)
    lines.append(
        f"- Ratio {RATIOS[0]}, not below MiniLM zero-shot: "
        f"{_verdict(low['overall']['ndcg@10'] >= zero['overall']['ndcg@10'])} on the mean "
        f"({pct(low['overall']['ndcg@10'])} vs {pct(zero['overall']['ndcg@10'])}); per task it falls below "
        f"on {len(below)} of {len(low['per_task'])}"
        + (f": {_scores(low, zero, below, zero_tests)}" if below else "")
        + f"; {_significance_counts(zero_tests, below)}."
    )
    lines += [
        "",
        "A per-task target holds only where era_plus is above the reference on every task: a task below "
        "it fails the target whether or not its difference is significant. The p-values say which of "
        "those losses a test split of that size can tell from a draw.",
    ]
    return lines


def per_task_tests_table(plus: dict, references: Sequence[tuple[str, dict]], ratio: float) -> list[str]:
    """era_plus at ``ratio`` minus each reference, task by task, with its paired test (bold: p ≤ α)."""
    tests = {name: task_tests(plus, other) for name, other in references}
    domain_of = {task: row["domain"] for task, row in plus["per_task"].items()}
    tasks = sorted(domain_of, key=lambda task: (domain_of[task], task))
    header = " | ".join(f"era_plus − {name} | p" for name, _ in references)
    lines = [
        f"| task | domain | queries | era_plus {ratio} | {header} |",
        "|---|---|---:|---:|" + "---:|---:|" * len(references),
    ]
    for task in tasks:
        cells = [task, domain_of[task], "", pct(plus["per_task"][task]["ndcg@10"])]
        for name, other in references:
            test = tests[name].get(task)
            if test is None:
                cells += ["—", "—"]
                continue
            cells[2] = str(test.num_queries)
            delta = 100 * (plus["per_task"][task]["ndcg@10"] - other["per_task"][task]["ndcg@10"])
            mark = "**" if test.significant else ""
            cells += [f"{mark}{delta:+.1f}{mark}", f"{mark}{p_text(test.p_value)}{mark}"]
        lines.append("| " + " | ".join(cells) + " |")
    for label in ("not above", "significantly above", "significantly below"):
        cells = []
        for name, other in references:
            found = (
                _not_above(plus, other, "per_task")
                if label == "not above"
                else significantly(tests[name], below=label.endswith("below"))
            )
            cells += [f"{len(found)} of {len(tests[name])}", ""]
        lines.append(f"| **{label}** | | | | " + " | ".join(cells) + " |")
    return lines


def study_section(
    study: PairStudy, ideas: Results, final: Results, traces: Results, mpnet_zero: MpnetZeroShot | None
) -> list[str]:
    """The ideas (validation) and the results (test) of one pair on its own task set."""
    zero = ideas[("zero-shot", 0.0)]
    tasks = sorted(zero["per_task"])
    patience = int(final[("plus", RATIOS[0])]["config"]["stage2"]["patience"])
    at = {
        "MiniLM zero-shot": zero,
        "align-only": ideas[("align-only", 0.2)],
        "label-only 0.2": ideas[("label-only", 0.2)],
        "sound label-only 0.2": ideas[("label-only-sound", 0.2)],
        "ERA 0.2": final[("era", 0.2)],
        "era_plus 0.2": final[("plus", 0.2)],
    }
    curve = {"MiniLM zero-shot": zero}
    for ratio in RATIOS:
        curve[f"ERA {ratio}"] = final[("era", ratio)]
        curve[f"era_plus {ratio}"] = final[("plus", ratio)]
    lines = [
        f"## {study.label} ({len(tasks)} tasks)",
        "",
        f"Tasks: {', '.join(tasks)}. Query model {study.label.split('→')[0]}, MiniLM index.",
        "",
        "### Ideas, on validation",
        "",
        "Validation nDCG@10 × 100 (mean over tasks, and mean of domain means). Ideas whose Stage 2",
        "follows validation nDCG@10 read the validation split while training, so their validation scores",
        "lean optimistic; the test tables below do not.",
        "",
        *ideas_table(ideas),
        "",
        *findings(ideas),
        "",
        "How each Stage 2 ended (kept epoch -1: the weights Stage 2 started from):",
        "",
        *selection_lines(ideas),
        "",
        "Stage 1's held-out alignment loss (1 − cosine on the 10% held-out sampled documents):",
        "",
        *alignment_lines(ideas),
        "",
        "### Per-task selection, on validation (split halves)",
        "",
        "era_plus keeps one Stage-2 epoch for all tasks, the best on the mean over tasks, so a task "
        "where training hurts has no say. The rules below let each task choose instead, on its own "
        "validation queries: its own epoch, a fall-back to the starting weights, or weights shrunk "
        "toward them.",
        "",
        *selection_lines_per_task(selection_scores(traces, patience), patience),
        "",
        "### era_plus against faithful ERA at every ratio (test)",
        "",
        "Means over tasks unless a column says domain mean; Δ in points; significant at p ≤ "
        f"{ALPHA}. Two paired tests of each difference: *mean over tasks* tests the Δ printed (each task "
        f"alike) with a two-sided paired randomization test ({RANDOMIZATION_ROUNDS:,} seeded sign flips "
        "of the per-query differences, each query weighted 1 / (tasks × its task's queries); "
        f"`< {1 / RANDOMIZATION_ROUNDS:.0e}`: no flip reached the observed difference); *pooled queries* "
        f"is the two-sided paired t-test (ranx `compare`, `{STAT_TEST}`) on per-query nDCG@10 pooled over "
        "the tasks, which weighs each query alike, so the tasks with the most test queries weigh most.",
        "",
        *ratio_table(study, final, zero),
        "",
        "### era_plus against the recipe it replaced (test)",
        "",
        f"The recipe era_plus replaced, “{_label(REPLACED)}”, on the same test queries (Δ in "
        "points; p: the mean-over-tasks randomization test above). era_plus was chosen against it on "
        "validation (“Ideas against the recipe, round by round”, after the pairs); this table was read "
        "after that choice and chose nothing.",
        "",
        *previous_table(final),
        "",
        "### Per task at train ratio 0.2 (test)",
        "",
        *task_table(at, list(at)),
        "",
        *domain_table(at, list(at)),
        "",
        "### Train-ratio curve (test)",
        "",
        *task_table(curve, list(curve)),
        "",
    ]
    if mpnet_zero is not None and (common := sorted(set(mpnet_zero.results["per_task"]) & set(tasks))):
        mpnet = {**restricted(mpnet_zero.results, common), "_dir": mpnet_zero.results["_dir"]}
        reference = {
            "MiniLM zero-shot": restricted(zero, common),
            "mpnet zero-shot": mpnet,
            "ERA 0.2": restricted(final[("era", 0.2)], common),
            **{f"era_plus {ratio}": restricted(final[("plus", ratio)], common) for ratio in RATIOS},
        }
        unmeasured = sorted(set(tasks) - set(common))
        lines += [
            f"### Against mpnet zero-shot ({len(common)} tasks)",
            "",
            f"mpnet zero-shot is this page's own run of `{' '.join(MPNET_ZERO_SHOT[1])} method=zero_shot` "
            f"(`{Path(mpnet_zero.results['_dir']).name}` in the out-root, from cached embeddings; same split "
            "and protocol), so its per-query scores enter the paired tests below. It needs mpnet over "
            "whole corpora, "
            + (
                f"which the cache has on {len(common)} of these {len(tasks)} tasks (`--mpnet-index-tasks`; "
                f"not on {', '.join(unmeasured)}). "
                if unmeasured
                else f"which it has on all {len(tasks)} tasks. "
            )
            + mpnet_zero.agreement()
            + f" The other columns are this section's runs, their means taken over these {len(common)} "
            "tasks only.",
            "",
            *task_table(reference, list(reference)),
            "",
            *domain_table(reference, list(reference)),
            "",
        ]
    else:
        mpnet = None
    references = _references(final, 0.2, zero, mpnet)
    lines += [
        "### Per-task paired tests at train ratio 0.2 (test)",
        "",
        "era_plus 0.2 minus each reference on each task (points; − ERA: faithful ERA at 0.2), and the "
        f"paired two-sided t-test (`{STAT_TEST}`, as above) on that task's own test queries; **bold**: "
        f"p ≤ {ALPHA}. Each task is tested on its own, without a correction for testing "
        f"{len(tasks)} tasks. p-values read the runs' TREC files (scores to 6 decimals, so a tie may fall "
        "otherwise than in the tables' scores, by hundredths of a point); — where mpnet did not run.",
        "",
        *per_task_tests_table(final[("plus", 0.2)], references, 0.2),
        "",
    ]
    lines += [
        f"### Targets ({study.label}, test)",
        "",
        *targets(study, final, zero, mpnet),
        "",
        f"### Where era_plus loses ({study.label}, test)",
        "",
        *losses(study, final, zero, mpnet),
        "",
    ]
    return lines


def page(command: str, sections: list[list[str]], runs: Sequence[dict]) -> str:
    """The markdown page: how it was made, then one section per pair."""
    lines = [
        "# era_plus: ERA that starts from the index model's own zero-shot",
        "",
        f"Made by `make era-plus` (`{command}`), from cached embeddings. In-domain (both stages train on",
        "every task's train split), seed 42 (split, Stage-1 sample, mining, training; the across-seeds",
        f"tables add seeds {', '.join(map(str, SEEDS[1:]))}), the MiniLM index",
        "(all-MiniLM-L6-v2 documents), nDCG@10 × 100. The ideas tables (what chose era_plus's settings),",
        "the per-task selection tables and the built-in task's section are the **validation** split;",
        "every other table is the **test** split, read once per number.",
        f"Cost: {_cost(runs)}, on 2 shared CPU cores with `OMP_NUM_THREADS=1`.",
        "",
    ]
    for section in sections:
        lines += section
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry: run (or reuse) the ideas and the final runs of each pair, write the page."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="../shared/data/mair-lite")
    parser.add_argument("--out-root", default="outputs/results/era-plus")
    parser.add_argument("--docs", default="docs/results")
    parser.add_argument("--tasks", type=names, default=None, help="MiniLM→MiniLM tasks (default: all)")
    parser.add_argument(
        "--mpnet-tasks",
        type=names,
        default=None,
        help="mpnet→MiniLM tasks: mpnet on the query side only (default: --tasks; none: skip)",
    )
    parser.add_argument(
        "--mpnet-index-tasks",
        type=names,
        default=None,
        help="tasks (of --tasks) whose corpora mpnet indexes, for mpnet zero-shot (default: --tasks; "
        "none: no mpnet zero-shot)",
    )
    parser.add_argument(
        "--ideas-only", action="store_true", help="run the ideas, print their tables, no page"
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="runs computed at once, one process each (set OMP_NUM_THREADS=1)"
    )
    args = parser.parse_args(argv)
    setup_logging(Path(args.out_root) / "era-plus.log")
    command = " ".join(["python -m era_exp.cli.era_plus", *(argv if argv is not None else sys.argv[1:])])
    out_root = Path(args.out_root)
    studies = [PairStudy("minilm_to_minilm", "MiniLM→MiniLM", Points(args.data_root, out_root, args.tasks))]
    mpnet_tasks = args.mpnet_tasks if args.mpnet_tasks is not None else args.tasks
    if mpnet_tasks != ("none",):
        studies.insert(
            0, PairStudy("mpnet_to_minilm", "mpnet→MiniLM", Points(args.data_root, out_root, mpnet_tasks))
        )
    start = time.perf_counter()
    index_tasks = args.mpnet_index_tasks if args.mpnet_index_tasks is not None else args.tasks
    if index_tasks and args.tasks:
        index_tasks = tuple(task for task in index_tasks if task in args.tasks)
    seed_index_tasks = None if index_tasks == ("none",) else index_tasks
    if args.jobs > 1 and not args.ideas_only:
        prefetch(studies, args.jobs, seed_index_tasks)
    mpnet_zero = None
    if index_tasks != ("none",) and not args.ideas_only:
        mpnet_zero = run_mpnet_zero_shot(args.data_root, out_root, index_tasks, Path(args.docs))
    sections, runs = [], [] if mpnet_zero is None else [mpnet_zero.results]
    all_ideas: dict[str, Results] = {}
    for study in reversed(studies):  # MiniLM->MiniLM first: it needs no mpnet embedding
        ideas = all_ideas[study.pair] = run_ideas(study)
        print("\n".join([f"{study.label}:", *ideas_table(ideas), "", *selection_lines(ideas), ""]))
        if args.ideas_only:
            continue
        final, traces = run_final(study), run_traces(study)
        sections.insert(0, study_section(study, ideas, final, traces, mpnet_zero))
        fits = run_ceilings(study)
        mpnet = None if mpnet_zero is None else mpnet_zero.results
        sections[0] += ceiling_section(ideas[("zero-shot", 0.0)], final, fits, mpnet)
        seeds = run_seeds(study, seed_index_tasks)
        sections[0] += seeds_section(study, seeds)
        runs += [*ideas.values(), *final.values(), *traces.values(), *fits.values(), *seeds.values()]
    if args.ideas_only:
        return
    sections.append(recipe_decision(studies, all_ideas))
    demo = demo_runs(out_root)
    sections.append(demo_section(demo))
    runs += list(demo.values())
    text = page(command, sections, runs)
    path = atomic_write_text(Path(args.docs) / "era-plus.md", text)
    print(text)
    print(f"written: {path} ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
