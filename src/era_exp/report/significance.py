"""Paired significance tests on per-query metrics: pooled over tasks, one task at a time, or of the
mean over tasks.

Each run's per-unit TREC files are pooled into one Qrels and one Run by prefixing every query id
with its unit's file name, so the test pairs the same query across methods over all tasks at once.
Only queries scored by every compared run enter the pooled test (zero-shot may score more queries).
The per-task test (:func:`compare_task`) pairs the queries of one task and refuses two runs that did
not score the same queries of it: a per-task difference is only read on one query set. The test of
the mean over tasks (:func:`compare_task_means`) weighs every task alike, as the mean the tables print
does, with a seeded paired randomization (sign-flip) test.
"""

from __future__ import annotations

import functools
import glob
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ranx import Qrels, Run, compare
from scipy.stats import ttest_rel

from era_exp.evaluate.metrics import evaluate_run
from era_exp.report.grid import Block
from era_exp.report.metrics import metric_label
from era_exp.retrieve.trec import read_qrels, read_run

STAT_TEST = "student"
LETTERS = "abcdefghijklmnopqrstuvwxyz"
SUPERSCRIPTS = "ᵃᵇᶜᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖᑫʳˢᵗᵘᵛʷˣʸᶻ"


def describe_test(alpha: float, metric: str) -> str:
    """The exact rule the report applies, stated once for tables and the dashboard."""
    return (
        "Two-sided paired Student's t-test "
        f"(ranx.compare, stat_test={STAT_TEST!r}, i.e. scipy.stats.ttest_rel) "
        f"on per-query {metric_label(metric)} over every query scored by all methods of a block, "
        "pooled across tasks. "
        f"A difference counts as significant when p ≤ α = {alpha:g} (passed to ranx as max_p). "
        "No correction for multiple comparisons is applied (ranx applies none, e.g. no Bonferroni): "
        "each pair of methods is tested on its own. A superscript letter marks each method of the same "
        "block that a result beats with a higher mean and a significant difference."
    )


@dataclass(frozen=True)
class PairComparison:
    """The test of two methods of one block."""

    first: str
    second: str
    mean_first: float
    mean_second: float
    p_value: float
    significant: bool


@dataclass(frozen=True)
class BlockComparison:
    """All pairwise tests of one block and the letters and superscripts they give."""

    letters: dict[str, str]
    num_queries: int
    pairs: list[PairComparison]

    def superscript(self, method: str, shown: dict[str, float | None]) -> str:
        """Superscript letters of the methods that ``method`` significantly beats.

        The test compares query means pooled over tasks, while a table prints each method's mean
        over tasks (``shown``); the two can order a pair differently, so a letter needs both to
        agree: a significant pooled difference and a higher printed value.
        """
        beaten = []
        for test in self.pairs:
            if not test.significant:
                continue
            if test.first == method and test.mean_first > test.mean_second:
                other = test.second
            elif test.second == method and test.mean_second > test.mean_first:
                other = test.first
            else:
                continue
            if _higher(shown.get(method), shown.get(other)):
                beaten.append(other)
        return "".join(
            SUPERSCRIPTS[LETTERS.index(self.letters[m])] for m in sorted(beaten, key=self.letters.get)
        )


def _higher(value: float | None, other: float | None) -> bool:
    return value is not None and other is not None and value > other


QrelsDict = dict[str, dict[str, int]]
RunDict = dict[str, dict[str, float]]


# ranx.Qrels and ranx.Run store document ids as NumPy strings as wide as the longest id, and numba
# compiles their code once per width (tens of seconds each on a small machine). Renamed to one
# width, every task's ids share one compilation, cached on disk.
DOC_ID_WIDTH = 12


def ranx_containers(qrels: QrelsDict, runs: dict[str, RunDict]) -> tuple[Qrels, list[Run]]:
    """``ranx.Qrels`` of ``qrels`` and a named ``ranx.Run`` per entry of ``runs``, ids renamed.

    Each distinct document id becomes its rank among all ids, zero-padded to :data:`DOC_ID_WIDTH`:
    a bijection, and every order is kept (each query's hits in their order, the ids' sort order),
    so every metric and test gives the values it gives on the original ids.
    """
    ids = {doc for labels in qrels.values() for doc in labels}
    ids.update(doc for run in runs.values() for hits in run.values() for doc in hits)
    renamed = {doc: f"{rank:0{DOC_ID_WIDTH}d}" for rank, doc in enumerate(sorted(ids))}
    judged = Qrels({q: {renamed[doc]: grade for doc, grade in labels.items()} for q, labels in qrels.items()})
    ranked = [
        Run({q: {renamed[doc]: score for doc, score in hits.items()} for q, hits in run.items()}, name=name)
        for name, run in runs.items()
    ]
    return judged, ranked


def pooled(run_dir: Path) -> tuple[QrelsDict, RunDict]:
    """One run's qrels and run over all its units, query ids prefixed ``<unit file>::``."""
    qrels_files = sorted((run_dir / "qrels").glob("*.qrels"))
    if not qrels_files:
        raise FileNotFoundError(f"{run_dir / 'qrels'}: no .qrels files to test significance with")
    return _read_units(qrels_files)


def task_units(run_dir: Path, task: str) -> tuple[QrelsDict, RunDict]:
    """One run's qrels and run on one task: its unit files ``<task>`` or ``<task>__<split>``, pooled."""
    return _read_units(_task_files(run_dir, task))


def _task_files(run_dir: Path, task: str) -> list[Path]:
    qrels_dir = run_dir / "qrels"
    files = [qrels_dir / f"{task}.qrels", *sorted(qrels_dir.glob(f"{glob.escape(task)}__*.qrels"))]
    qrels_files = [path for path in files if path.is_file()]
    if not qrels_files:
        raise FileNotFoundError(f"{qrels_dir}: no qrels of task {task!r} ({task}.qrels or {task}__*.qrels)")
    return qrels_files


def _read_units(qrels_files: list[Path]) -> tuple[QrelsDict, RunDict]:
    """The qrels files and their runs (``runs/<unit>.trec`` beside ``qrels/``), ids prefixed by unit."""
    qrels: QrelsDict = {}
    run: RunDict = {}
    for qrels_file in qrels_files:
        run_dir = qrels_file.parent.parent
        run_file = run_dir / "runs" / f"{qrels_file.stem}.trec"
        if not run_file.is_file():
            raise FileNotFoundError(f"{run_file}: missing, yet {qrels_file} exists")
        unit = qrels_file.stem
        qrels.update({f"{unit}::{qid}": labels for qid, labels in read_qrels(qrels_file).items()})
        run.update({f"{unit}::{qid}": docs for qid, docs in read_run(run_file).items()})
    return qrels, run


def compare_block(block: Block, alpha: float, metric: str) -> BlockComparison | None:
    """Pairwise tests between the block's methods; ``None`` with fewer than two methods."""
    if len(block.runs) < 2:
        return None
    loaded = {method: pooled(record.path) for method, record in block.runs.items()}
    common = set.intersection(*(set(qrels) for qrels, _ in loaded.values()))
    reference = next(iter(loaded.values()))[0]
    for method, (qrels, _) in loaded.items():
        changed = sorted(q for q in common if qrels[q] != reference[q])
        if changed:
            raise ValueError(
                f"{block.runs[method].path}: qrels differ from the block's other runs, e.g. {changed[0]}"
            )
    letters = {method: LETTERS[i] for i, method in enumerate(block.runs)}
    if not common:
        return BlockComparison(letters, 0, [])
    qids = sorted(common)
    # make_comparable gives a query a run did not retrieve anything for an empty ranking (scores 0).
    ranx_qrels, ranx_runs = ranx_containers(
        {q: reference[q] for q in qids},
        {method: {q: run[q] for q in qids if q in run} for method, (_, run) in loaded.items()},
    )
    report = compare(
        ranx_qrels, ranx_runs, [metric], stat_test=STAT_TEST, max_p=alpha, make_comparable=True
    ).to_dict()
    methods = list(block.runs)
    pairs = []
    # Each later method (in table order) against each earlier one, so Δ > 0 means an improvement.
    for i, first in enumerate(methods):
        for second in methods[:i]:
            p_value = float(report[first]["comparisons"][second][metric])
            pairs.append(
                PairComparison(
                    first,
                    second,
                    float(report[first]["scores"][metric]),
                    float(report[second]["scores"][metric]),
                    p_value,
                    not math.isnan(p_value) and p_value <= alpha,
                )
            )
    return BlockComparison(letters, len(qids), pairs)


@dataclass(frozen=True)
class TaskScores:
    """One run's per-query metric on one task, with the labels it was scored against."""

    run_dir: Path
    qrels: QrelsDict
    scores: dict[str, float]


def task_scores(run_dir: Path, task: str, metric: str = "ndcg@10") -> TaskScores:
    """Per-query ``metric`` of one run on one task, from its TREC files (read again only once they change)."""
    run_dir = Path(run_dir)
    files = [(path, run_dir / "runs" / f"{path.stem}.trec") for path in _task_files(run_dir, task)]
    stamps = tuple(path.stat().st_mtime_ns if path.is_file() else None for pair in files for path in pair)
    return _task_scores(run_dir, task, metric, stamps)


@functools.cache
def _task_scores(run_dir: Path, task: str, metric: str, _stamps: tuple) -> TaskScores:
    qrels, run = task_units(run_dir, task)
    _, per_query = evaluate_run(qrels, run, [metric], name=f"{run_dir} {task}")
    return TaskScores(run_dir, qrels, {qid: values[metric] for qid, values in per_query.items()})


@dataclass(frozen=True)
class PairedTest:
    """Two runs' mean metric on the same queries and the paired test of their difference."""

    mean_first: float
    mean_second: float
    p_value: float
    num_queries: int
    alpha: float

    @property
    def difference(self) -> float:
        """First minus second: > 0 where the first run scores higher."""
        return self.mean_first - self.mean_second

    @property
    def significant(self) -> bool:
        """p ≤ α; never where p is undefined (both runs score every query alike)."""
        return not math.isnan(self.p_value) and self.p_value <= self.alpha


def paired_test(first: dict[str, float], second: dict[str, float], alpha: float) -> PairedTest:
    """The two-sided paired Student's t-test of :data:`STAT_TEST` on per-query scores of the same queries.

    It is what ranx ``compare(stat_test="student")`` computes (``scipy.stats.ttest_rel``), on scores
    already evaluated, so a page with hundreds of per-task tests evaluates each run once.
    """
    if set(first) != set(second):
        raise ValueError(
            f"a paired test needs the same queries: {len(first)} vs {len(second)}, "
            f"{len(set(first) ^ set(second))} in one only"
        )
    if not first:
        raise ValueError("a paired test needs at least one query")
    qids = sorted(first)
    a, b = np.array([first[q] for q in qids]), np.array([second[q] for q in qids])
    if len(qids) < 2 or np.array_equal(a, b):
        p_value = math.nan  # no spread of differences: the t statistic is undefined
    else:
        p_value = float(ttest_rel(a, b, alternative="two-sided").pvalue)
    return PairedTest(float(a.mean()), float(b.mean()), p_value, len(qids), alpha)


def _paired_task_scores(
    first_dir: Path, second_dir: Path, task: str, metric: str
) -> tuple[dict[str, float], dict[str, float]]:
    """Both runs' per-query ``metric`` on one task, refused unless the queries and labels match."""
    first, second = task_scores(first_dir, task, metric), task_scores(second_dir, task, metric)
    if set(first.qrels) != set(second.qrels):
        only_first = sorted(set(first.qrels) - set(second.qrels))
        only_second = sorted(set(second.qrels) - set(first.qrels))
        example = (
            f"{only_first[0]} only in the first" if only_first else f"{only_second[0]} only in the second"
        )
        raise ValueError(
            f"task {task!r}: {first_dir} and {second_dir} scored different queries "
            f"({len(first.qrels)} vs {len(second.qrels)}; {len(only_first)} only in the first, "
            f"{len(only_second)} only in the second, e.g. {example}): a paired test needs the same ones"
        )
    relabelled = sorted(q for q in first.qrels if first.qrels[q] != second.qrels[q])
    if relabelled:
        raise ValueError(
            f"task {task!r}: {first_dir} and {second_dir} judge {len(relabelled)} queries differently "
            f"(qrels differ, e.g. {relabelled[0]}): a paired test needs the same labels"
        )
    return first.scores, second.scores


def compare_task(
    first_dir: Path, second_dir: Path, task: str, alpha: float, metric: str = "ndcg@10"
) -> PairedTest:
    """Two runs on one task, query by query; refused unless both scored the same queries, labelled alike."""
    return paired_test(*_paired_task_scores(first_dir, second_dir, task, metric), alpha)


# Sign-flip rounds of the test of the mean over tasks, and the seed of their generator.
RANDOMIZATION_ROUNDS = 10_000
RANDOMIZATION_SEED = 0


@dataclass(frozen=True)
class TaskMeanTest(PairedTest):
    """Two runs' mean over tasks of the per-task mean metric, and the randomization test of it."""

    num_tasks: int
    rounds: int

    @property
    def at_floor(self) -> bool:
        """No sign flip was as far from zero as the observed difference: p is the test's smallest value."""
        return self.p_value * (self.rounds + 1) < 1.5

    def p_text(self) -> str:
        """p as a page prints it: ``< 1e-04`` where no sign flip reached the observed difference."""
        return f"< {1 / self.rounds:.0e}" if self.at_floor else f"{self.p_value:.2g}"


def task_mean_statistic(differences: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-query differences as one vector and the weights that make their weighted sum the mean over
    tasks of the per-task mean difference (each query ``1 / (tasks × its task's queries)``)."""
    values = np.concatenate([differences[task] for task in sorted(differences)])
    weights = np.concatenate(
        [
            np.full(len(differences[task]), 1.0 / (len(differences) * len(differences[task])))
            for task in sorted(differences)
        ]
    )
    return values, weights


def randomization_p(
    values: np.ndarray,
    weights: np.ndarray,
    rounds: int = RANDOMIZATION_ROUNDS,
    seed: int = RANDOMIZATION_SEED,
) -> float:
    """Two-sided paired randomization test of ``sum(weights * values)`` against zero.

    Under the null each query's two scores are exchangeable, so each difference's sign is a fair coin:
    ``rounds`` seeded sign flips give the statistic's null distribution, and p = (1 + rounds at least as
    far from zero as the observed) / (1 + rounds), which is never 0.
    """
    observed = abs(float(np.dot(weights, values)))
    weighted = weights * values
    rng = np.random.default_rng(seed)
    extreme, chunk = 0, 1_000
    for start in range(0, rounds, chunk):
        size = min(chunk, rounds - start)
        signs = rng.integers(0, 2, size=(size, len(values)), dtype=np.int8) * 2 - 1
        extreme += int(np.count_nonzero(np.abs(signs @ weighted) >= observed * (1 - 1e-12)))
    return (1 + extreme) / (1 + rounds)


def compare_task_means(
    first_dir: Path,
    second_dir: Path,
    tasks: list[str],
    alpha: float,
    metric: str = "ndcg@10",
    rounds: int = RANDOMIZATION_ROUNDS,
    seed: int = RANDOMIZATION_SEED,
) -> TaskMeanTest:
    """Two runs' mean over ``tasks`` of the per-task mean ``metric``, with a paired randomization test.

    The pooled t-test weighs each query alike, so a task with many queries weighs most; this test is of
    the difference of means over tasks (each task alike), the figure the tables print. Every task must
    have the same queries, labelled alike, in both runs (as :func:`compare_task` requires).
    """
    if not tasks:
        raise ValueError("a test of the mean over tasks needs at least one task")
    firsts, seconds, differences = [], [], {}
    for task in tasks:
        first, second = _paired_task_scores(first_dir, second_dir, task, metric)
        qids = sorted(first)
        a, b = np.array([first[q] for q in qids]), np.array([second[q] for q in qids])
        firsts.append(a.mean())
        seconds.append(b.mean())
        differences[task] = a - b
    values, weights = task_mean_statistic(differences)
    return TaskMeanTest(
        float(np.mean(firsts)),
        float(np.mean(seconds)),
        randomization_p(values, weights, rounds, seed),
        len(values),
        alpha,
        len(tasks),
        rounds,
    )
