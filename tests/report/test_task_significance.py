"""The per-task paired test on real tiny runs of the built-in task: the p of ranx and scipy, and refusals."""

from __future__ import annotations

import itertools
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from ranx import Qrels, Run, compare, evaluate
from scipy.stats import ttest_rel

from era_exp.data.builtin import TASK_NAME
from era_exp.pipeline.run import run
from era_exp.report.significance import (
    compare_task,
    compare_task_means,
    paired_test,
    randomization_p,
    task_mean_statistic,
    task_units,
)
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


def test_the_randomization_p_is_the_exact_sign_flip_p(tiny_runs) -> None:
    """On 12 real per-query differences every one of the 4,096 sign flips can be enumerated: the seeded
    sampled p is within its sampling error of the exact one, and the same seed gives the same p."""
    (plus_dir, _), (zero_dir, _) = tiny_runs["plus"], tiny_runs["zero"]
    plus_scores, zero_scores = (task_units(d, TASK_NAME) for d in (plus_dir, zero_dir))
    _, per_query = {}, []
    qrels = Qrels(plus_scores[0])
    for _, run_dict in (plus_scores, zero_scores):
        per_query.append(np.asarray(evaluate(qrels, Run(run_dict), "ndcg@10", return_mean=False)))
    differences = (per_query[0] - per_query[1])[np.flatnonzero(per_query[0] != per_query[1])[:12]]
    assert len(differences) == 12
    weights = np.full(12, 1 / 12)
    observed = abs(float(weights @ differences))
    flips = np.array(list(itertools.product((-1, 1), repeat=12)))
    exact = np.mean(np.abs(flips @ (weights * differences)) >= observed * (1 - 1e-12))
    sampled = randomization_p(differences, weights, rounds=40_000, seed=3)
    assert abs(sampled - exact) < 0.01
    assert randomization_p(differences, weights, rounds=40_000, seed=3) == sampled


def test_the_mean_over_tasks_weighs_each_task_alike() -> None:
    """Two tasks of 1 and 3 queries: the statistic is the mean of the two task means, not of 4 queries."""
    values, weights = task_mean_statistic({"a": np.array([1.0]), "b": np.array([0.0, 0.0, 0.0])})
    assert float(weights @ values) == pytest.approx(0.5)
    assert weights.sum() == pytest.approx(1.0)


def test_the_mean_over_tasks_test_on_one_task(tiny_runs) -> None:
    """With one task the tested difference is the task's, a run against itself has p = 1, and runs on
    different queries are refused as the per-task test refuses them."""
    (plus_dir, _), (zero_dir, _), (fewer_dir, _) = tiny_runs["plus"], tiny_runs["zero"], tiny_runs["fewer"]
    test = compare_task_means(plus_dir, zero_dir, [TASK_NAME], alpha=0.05)
    one = compare_task(plus_dir, zero_dir, TASK_NAME, alpha=0.05)
    assert test.difference == pytest.approx(one.difference)
    assert test.num_queries == one.num_queries and test.num_tasks == 1
    assert 0 < test.p_value <= 1 and test.significant == (test.p_value <= 0.05)
    itself = compare_task_means(zero_dir, zero_dir, [TASK_NAME], alpha=0.05)
    assert itself.p_value == 1.0 and not itself.significant
    with pytest.raises(ValueError, match="scored different queries"):
        compare_task_means(zero_dir, fewer_dir, [TASK_NAME], alpha=0.05)
