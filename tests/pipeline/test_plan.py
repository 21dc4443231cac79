"""The run plan: which tasks train and which queries each setting scores."""

from __future__ import annotations

import pytest

from era_exp.data.schema import Corpus, Query, Task
from era_exp.pipeline.plan import MethodStages, PlanError, plan_run


def _task(name: str, domain: str, n_queries: int = 40) -> Task:
    corpus = Corpus(
        key=f"{name}-corpus", ids=tuple(f"d{i}" for i in range(n_queries)), texts=("x",) * n_queries
    )
    queries = tuple(Query(f"q{i}", "find it", f"query {i}", {f"d{i}": 1}) for i in range(n_queries))
    return Task(name=name, task=name, domain=domain, queries=queries, corpus=corpus)


TASKS = [_task("A", "Code"), _task("B", "Legal"), _task("C", "Legal", 60)]
ERA = MethodStages(alignment=True, adaptation=True)
ALIGN_ONLY = MethodStages(alignment=True, adaptation=False)
ZERO_SHOT = MethodStages(alignment=False, adaptation=False)


def test_in_domain_trains_everywhere_and_scores_test_splits() -> None:
    plans = plan_run(TASKS, setting="in_domain", stages=ERA, train_ratio=0.2, seed=42)
    assert all(plan.trains and plan.eval_split == "test" for plan in plans)
    for plan in plans:
        assert len(plan.split.train) == int(len(plan.task.queries) * 0.2)
        assert [q.qid for q in plan.scored_queries] == [q.qid for q in plan.split.test]
        assert not {q.qid for q in plan.split.train} & {q.qid for q in plan.split.test}


def test_lodo_holds_out_a_domain_and_scores_all_its_queries() -> None:
    plans = {
        p.task.name: p
        for p in plan_run(TASKS, setting="lodo", stages=ERA, train_ratio=0.2, seed=42, holdout_domain="Legal")
    }
    assert plans["A"].trains and plans["A"].eval_split == "test"
    for name in ("B", "C"):
        assert not plans[name].trains and plans[name].split.train == ()
        assert plans[name].eval_split == "all" and len(plans[name].scored_queries) == len(
            TASKS[1 if name == "B" else 2].queries
        )


def test_domain_specific_trains_on_one_domain_and_scores_every_test_split() -> None:
    plans = {
        p.task.name: p
        for p in plan_run(
            TASKS, setting="domain_specific", stages=ERA, train_ratio=0.2, seed=42, domain="Code"
        )
    }
    assert plans["A"].trains and not plans["B"].trains and not plans["C"].trains
    assert all(plan.eval_split == "test" for plan in plans.values())
    in_domain = {
        p.task.name: p
        for p in plan_run(TASKS, setting="in_domain", stages=ZERO_SHOT, train_ratio=0.2, seed=42)
    }
    assert plans["B"].scored_queries == in_domain["B"].scored_queries, "same test queries whatever trains"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"setting": "lodo"}, "needs holdout_domain"),
        ({"setting": "lodo", "holdout_domain": "Finance"}, "has no selected task"),
        ({"setting": "domain_specific"}, "needs domain"),
        ({"setting": "nowhere"}, "unknown setting"),
        ({"setting": "in_domain", "eval_split": "all"}, "test split only"),
    ],
)
def test_bad_settings_are_clear_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        plan_run(TASKS, stages=ERA, train_ratio=0.2, seed=42, **kwargs)


def test_zero_shot_can_score_every_labelled_query() -> None:
    plans = plan_run(TASKS, setting="in_domain", stages=ZERO_SHOT, train_ratio=0.2, seed=42, eval_split="all")
    assert [len(p.scored_queries) for p in plans] == [40, 40, 60]


def test_align_only_trains_without_splitting_by_ratio() -> None:
    """Stage 1 reads no labels: the tasks train, but no train query is set aside (validation
    queries are only scored, like every method's)."""
    for ratio in (0.001, 0.2, 1.0):  # 0.001 and 1.0 leave no valid ratio split: never asked for
        plans = plan_run(TASKS, setting="in_domain", stages=ALIGN_ONLY, train_ratio=ratio, seed=42)
        assert all(plan.trains and plan.split.train == () for plan in plans)
    era = plan_run(TASKS, setting="in_domain", stages=ERA, train_ratio=0.2, seed=42)
    assert [p.scored_queries for p in plans] == [p.scored_queries for p in era], "same test queries"
    assert [p.validation_queries for p in plans] == [p.validation_queries for p in era]


def test_the_ratio_free_rule() -> None:
    assert ZERO_SHOT.ratio_free and ALIGN_ONLY.ratio_free and not ERA.ratio_free
    assert MethodStages.of({"alignment": False, "adaptation": True}).reads_labels
    assert ALIGN_ONLY.trains and not ZERO_SHOT.trains


def test_every_test_split_has_its_validation_split_beside_it_whoever_trains() -> None:
    trained = plan_run(TASKS, setting="in_domain", stages=ERA, train_ratio=0.2, seed=42)
    zero_shot = plan_run(TASKS, setting="in_domain", stages=ZERO_SHOT, train_ratio=0.2, seed=42)
    for with_training, without in zip(trained, zero_shot, strict=True):
        assert without.split.train == ()
        assert without.validation_queries == with_training.validation_queries == with_training.split.val
        assert without.scored_queries == with_training.scored_queries
        assert len(without.validation_queries) == int(len(without.task.queries) * 0.1)
        assert not {q.qid for q in without.validation_queries} & {q.qid for q in without.scored_queries}


def test_a_task_scored_on_all_its_queries_has_no_validation_queries() -> None:
    plans = plan_run(TASKS, setting="lodo", stages=ERA, train_ratio=0.2, seed=42, holdout_domain="Legal")
    assert [bool(plan.validation_queries) for plan in plans] == [True, False, False]
    every = plan_run(TASKS, setting="in_domain", stages=ZERO_SHOT, train_ratio=0.2, seed=42, eval_split="all")
    assert not any(plan.validation_queries for plan in every)


def test_a_task_too_small_for_the_ratio_trains_on_nothing_but_is_still_tested(caplog) -> None:
    # MAIR's SParC has 14 labelled queries: int(14 * 0.05) = 0 train queries.
    tasks = [_task("SParC", "Code", 14), *TASKS]
    with caplog.at_level("WARNING", logger="era_exp.pipeline.plan"):
        plans = {
            p.task.name: p
            for p in plan_run(tasks, setting="in_domain", stages=ERA, train_ratio=0.05, seed=42)
        }
    assert plans["SParC"].trains and plans["SParC"].split.train == ()
    assert len(plans["SParC"].split.val) == 1 and len(plans["SParC"].scored_queries) == 7
    assert [len(plans[name].split.train) for name in ("A", "B", "C")] == [2, 2, 3]
    assert "no train query in 1 of 4 training tasks" in caplog.text and "SParC (14 labelled)" in caplog.text


def test_a_ratio_leaving_every_training_task_without_a_train_query_is_an_error() -> None:
    with pytest.raises(
        PlanError, match=r"train_ratio=0.05 leaves no train query in any training task.*at most 19"
    ):
        plan_run(
            [_task("A", "Code", 14), _task("B", "Legal", 19)],
            setting="in_domain",
            stages=ERA,
            train_ratio=0.05,
            seed=42,
        )
    zero_shot = plan_run(
        [_task("A", "Code", 14)], setting="in_domain", stages=ZERO_SHOT, train_ratio=0.05, seed=42
    )
    assert len(zero_shot[0].scored_queries) == 7
