"""The per-task paired test on real tiny runs of the built-in task: the p of ranx and scipy, and refusals."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from ranx import Qrels, Run, compare, evaluate
from scipy.stats import ttest_rel

from era_exp.data.builtin import TASK_NAME
from era_exp.pipeline.run import run
from era_exp.report.significance import compare_task, paired_test, task_units
from era_exp.retrieve.trec import read_qrels, write_qrels
from helpers.config import TINY_BUILTIN, compose_run

ZERO_SHOT = (*TINY_BUILTIN, "pair=minilm_to_minilm", "method=zero_shot")
# era_plus with MiniLM on both sides (no second model to encode with), a few Stage-2 epochs.
PLUS = (
    *TINY_BUILTIN,
    "pair=minilm_to_minilm",
    "method=era_plus",
    "stage1.epochs=0",
    "stage2.nominal_epochs=6",
)


@pytest.fixture(scope="module")
def tiny_runs(
    embedding_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Path, dict]]:
    """Zero-shot and era_plus on the same 160 built-in queries, and zero-shot on 120 of them."""
    root = tmp_path_factory.mktemp("task-significance")
    specs = {
        "zero": ZERO_SHOT,
        "plus": PLUS,
        "fewer": (*ZERO_SHOT, "data.max_queries=120"),
    }
    return {
        name: (root / name, run(compose_run(embedding_cache, overrides), root / name))
        for name, overrides in specs.items()
    }


def test_the_per_task_p_is_ranx_compare_and_scipy_ttest_rel(tiny_runs) -> None:
    (plus_dir, plus), (zero_dir, zero) = tiny_runs["plus"], tiny_runs["zero"]
    test = compare_task(plus_dir, zero_dir, TASK_NAME, alpha=0.05)
    qrels, plus_run = task_units(plus_dir, TASK_NAME)
    _, zero_run = task_units(zero_dir, TASK_NAME)
    ranx_qrels = Qrels(qrels)
    runs = [Run(plus_run, name="plus"), Run(zero_run, name="zero")]
    report = compare(ranx_qrels, runs, ["ndcg@10"], stat_test="student", max_p=0.05).to_dict()
    assert test.p_value == pytest.approx(report["plus"]["comparisons"]["zero"]["ndcg@10"], rel=1e-9)
    per_query = [np.asarray(evaluate(ranx_qrels, r, "ndcg@10", return_mean=False)) for r in runs]
    assert test.p_value == pytest.approx(ttest_rel(*per_query).pvalue, rel=1e-9)
    assert test.num_queries == len(qrels) == plus["per_unit"][TASK_NAME]["num_queries"]
    assert test.num_queries == zero["per_unit"][TASK_NAME]["num_queries"]
    assert test.mean_first == pytest.approx(per_query[0].mean())
    assert test.difference == pytest.approx(per_query[0].mean() - per_query[1].mean())
    assert test.significant == (test.p_value <= 0.05)
    reverse = compare_task(zero_dir, plus_dir, TASK_NAME, alpha=0.05)
    assert reverse.p_value == pytest.approx(test.p_value) and reverse.difference == -test.difference


def test_alpha_is_the_threshold_and_a_run_against_itself_has_no_p(tiny_runs) -> None:
    (plus_dir, _), (zero_dir, _) = tiny_runs["plus"], tiny_runs["zero"]
    p_value = compare_task(plus_dir, zero_dir, TASK_NAME, alpha=0.05).p_value
    assert compare_task(plus_dir, zero_dir, TASK_NAME, alpha=p_value).significant
    assert not compare_task(plus_dir, zero_dir, TASK_NAME, alpha=p_value / 2).significant
    itself = compare_task(zero_dir, zero_dir, TASK_NAME, alpha=0.05)
    assert math.isnan(itself.p_value) and not itself.significant and itself.difference == 0


def test_runs_on_different_queries_are_refused(tiny_runs) -> None:
    (zero_dir, _), (fewer_dir, _) = tiny_runs["zero"], tiny_runs["fewer"]
    with pytest.raises(ValueError, match=r"scored different queries \(\d+ vs \d+; \d+ only in the first"):
        compare_task(zero_dir, fewer_dir, TASK_NAME, alpha=0.05)
    with pytest.raises(ValueError, match="a paired test needs the same queries"):
        paired_test({"q1": 0.5, "q2": 0.1}, {"q1": 0.4}, alpha=0.05)


def test_runs_that_label_a_query_differently_are_refused(tiny_runs, tmp_path: Path) -> None:
    (zero_dir, _), (plus_dir, _) = tiny_runs["zero"], tiny_runs["plus"]
    relabelled = shutil.copytree(plus_dir, tmp_path / "relabelled")
    qrels_file = relabelled / "qrels" / f"{TASK_NAME}.qrels"
    qrels = read_qrels(qrels_file)
    first = sorted(qrels)[0]
    qrels[first] = {doc: grade + 1 for doc, grade in qrels[first].items()}
    write_qrels(qrels_file, qrels)
    with pytest.raises(ValueError, match=rf"judge 1 queries differently \(qrels differ, e.g. {TASK_NAME}::"):
        compare_task(zero_dir, relabelled, TASK_NAME, alpha=0.05)


def test_a_task_the_run_did_not_score_is_named(tiny_runs) -> None:
    zero_dir, _ = tiny_runs["zero"]
    with pytest.raises(FileNotFoundError, match=r"no qrels of task 'TMDB'"):
        compare_task(zero_dir, zero_dir, "TMDB", alpha=0.05)
