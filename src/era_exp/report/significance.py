"""Paired significance tests between the methods of a block, with ranx, on the report's per-query metric.

Each run's per-unit TREC files are pooled into one Qrels and one Run by prefixing every query id
with its unit's file name, so the test pairs the same query across methods over all tasks at once.
Only queries scored by every compared run enter the test (zero-shot may score more queries).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ranx import Qrels, Run, compare

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

    def superscript(self, method: str) -> str:
        """Superscript letters of the methods that ``method`` significantly beats."""
        beaten = []
        for test in self.pairs:
            if not test.significant:
                continue
            if test.first == method and test.mean_first > test.mean_second:
                beaten.append(test.second)
            elif test.second == method and test.mean_second > test.mean_first:
                beaten.append(test.first)
        return "".join(
            SUPERSCRIPTS[LETTERS.index(self.letters[m])] for m in sorted(beaten, key=self.letters.get)
        )


def pooled(run_dir: Path) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, float]]]:
    """One run's qrels and run over all its units, query ids prefixed ``<unit file>::``."""
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, dict[str, float]] = {}
    qrels_files = sorted((run_dir / "qrels").glob("*.qrels"))
    if not qrels_files:
        raise FileNotFoundError(f"{run_dir / 'qrels'}: no .qrels files to test significance with")
    for qrels_file in qrels_files:
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
    ranx_qrels = Qrels({q: reference[q] for q in qids})
    # make_comparable gives a query a run did not retrieve anything for an empty ranking (scores 0).
    ranx_runs = [
        Run({q: run[q] for q in qids if q in run}, name=method) for method, (_, run) in loaded.items()
    ]
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
