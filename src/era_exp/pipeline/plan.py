"""Which tasks a run trains on and which queries it scores, decided once for every method.

Settings (era-method.md): ``in_domain`` trains on every task's train split and scores every test
split; ``lodo`` trains on all domains but ``holdout_domain`` and scores that domain on all its
labelled queries; ``domain_specific`` trains on ``domain`` only and scores every test split.
Every task scored on its test split is also scored on its validation split (the objective of a
hyper-parameter search); a task scored on all its labelled queries has no validation queries left.

What a method reads follows from the stages its config declares (:class:`MethodStages`): only
Stage 2 reads labels, so only a method with Stage 2 splits queries by the train ratio.
The query split is made per MAIR task across all its sub-splits (:func:`era_exp.data.split.split_task`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig

from era_exp.data.schema import Query, Task
from era_exp.data.split import Split, eval_only_split_task, split_task

log = logging.getLogger(__name__)

SETTINGS = ("in_domain", "lodo", "domain_specific")


class PlanError(ValueError):
    """The requested setting cannot be planned on the selected tasks."""


@dataclass(frozen=True)
class MethodStages:
    """The stages a method runs (``method.alignment``, ``method.adaptation``) and what they read.

    Stage 1 aligns on sampled corpus documents and reads no label; Stage 2 reads the labelled train
    and validation queries. A method without Stage 2 is therefore *ratio-free*: the same run at
    every train ratio (one run key, no ratio in its results, repeated in every ratio of a report).
    """

    alignment: bool
    adaptation: bool

    @classmethod
    def of(cls, method: Mapping[str, Any] | DictConfig) -> MethodStages:
        """From a ``method`` node, or the ``method`` dict of a saved results.json config."""
        return cls(bool(method.get("alignment", False)), bool(method.get("adaptation", False)))

    @property
    def trains(self) -> bool:
        """Whether any stage runs (an adapter is trained)."""
        return self.alignment or self.adaptation

    @property
    def reads_labels(self) -> bool:
        """Whether a stage reads labelled queries, so the train split (and ratio) matters."""
        return self.adaptation

    @property
    def ratio_free(self) -> bool:
        """Whether the train ratio changes nothing in the run."""
        return not self.reads_labels

    @property
    def unread_groups(self) -> tuple[str, ...]:
        """Config groups no stage of the method reads, so they change nothing in its runs.

        Without a stage the document model scores its own queries: the query embedder and the
        adapter are unused. Only Stage 1 reads ``stage1``; only Stage 2 reads ``stage2``, the miner
        and ``method.teacher``.
        """
        unread = () if self.trains else ("query_embedder", "adapter")
        unread += () if self.alignment else ("stage1",)
        return unread + (() if self.adaptation else ("stage2", "miner", "method.teacher"))


@dataclass(frozen=True)
class TaskPlan:
    """One evaluation unit with its query split and its role in the run."""

    task: Task
    split: Split
    trains: bool
    eval_split: str

    @property
    def scored_queries(self) -> tuple[Query, ...]:
        """The queries this run scores on the task."""
        return self.task.labelled_queries if self.eval_split == "all" else self.split.test

    @property
    def validation_queries(self) -> tuple[Query, ...]:
        """The validation queries scored beside the test split; none when every query is scored."""
        return () if self.eval_split == "all" else self.split.val


def plan_run(
    tasks: Sequence[Task],
    *,
    setting: str,
    stages: MethodStages,
    train_ratio: float,
    seed: int,
    eval_split: str = "test",
    holdout_domain: str | None = None,
    domain: str | None = None,
) -> list[TaskPlan]:
    """Split every task and mark the ones the stages train on.

    Only a method that reads labels splits its training tasks by ``train_ratio``; every other task
    (and every task of a ratio-free method) keeps just its test split.
    """
    trains = stages.trains
    if setting not in SETTINGS:
        raise PlanError(f"unknown setting {setting!r}; choose one of {', '.join(SETTINGS)}")
    if eval_split not in {"test", "all"}:
        raise PlanError(f"eval.split must be 'test' or 'all', got {eval_split!r}")
    if trains and eval_split == "all":
        raise PlanError(
            "eval.split=all would score training queries; adapter methods are scored on the test split only"
        )
    domains = sorted({task.domain for task in tasks})
    chosen = holdout_domain if setting == "lodo" else domain if setting == "domain_specific" else None
    if setting != "in_domain":
        key = "holdout_domain" if setting == "lodo" else "domain"
        if chosen is None:
            raise PlanError(f"setting={setting} needs {key}=<Domain>; the selected tasks cover {domains}")
        if chosen not in domains:
            raise PlanError(f"{key}={chosen!r} has no selected task; the selected tasks cover {domains}")
    units_of: dict[str, list[Task]] = {}
    for unit in tasks:
        units_of.setdefault(unit.task, []).append(unit)
    plans = []
    for units in units_of.values():
        task_trains = trains and _trains_on(setting, units[0].domain, chosen)
        scores_all = eval_split == "all" or (setting == "lodo" and units[0].domain == chosen)
        if task_trains and stages.reads_labels:
            splits = split_task(units, train_ratio, seed=seed)
        else:
            splits = eval_only_split_task(units, seed=seed)
        plans += [
            TaskPlan(task=unit, split=split, trains=task_trains, eval_split="all" if scores_all else "test")
            for unit, split in zip(units, splits, strict=True)
        ]
    if trains and not any(plan.trains for plan in plans):
        raise PlanError(f"setting={setting} leaves no task to train on among {[t.name for t in tasks]}")
    if trains and stages.reads_labels:
        _check_train_queries(plans, train_ratio)
    return plans


def _check_train_queries(plans: Sequence[TaskPlan], train_ratio: float) -> None:
    """Name the training tasks a ratio leaves without a train query; fail when it leaves all of them."""
    labelled: dict[str, int] = {}
    trained: dict[str, int] = {}
    for plan in plans:
        if plan.trains:
            labelled[plan.task.task] = labelled.get(plan.task.task, 0) + len(plan.task.labelled_queries)
            trained[plan.task.task] = trained.get(plan.task.task, 0) + len(plan.split.train)
    empty = sorted(task for task, count in trained.items() if count == 0)
    if len(empty) == len(trained):
        raise PlanError(
            f"train_ratio={train_ratio:g} leaves no train query in any training task: each has fewer than "
            f"{1 / train_ratio:g} labelled queries (at most {max(labelled.values())}); raise train_ratio"
        )
    if empty:
        log.warning(
            "train_ratio=%g leaves no train query in %d of %d training tasks, which are still validated "
            "and tested: %s",
            train_ratio,
            len(empty),
            len(trained),
            ", ".join(f"{task} ({labelled[task]} labelled)" for task in empty),
        )


def _trains_on(setting: str, task_domain: str, chosen: str | None) -> bool:
    if setting == "lodo":
        return task_domain != chosen
    if setting == "domain_specific":
        return task_domain == chosen
    return True


def plan_from_config(tasks: Sequence[Task], cfg: DictConfig) -> list[TaskPlan]:
    """:func:`plan_run` with the arguments an ``era-run`` config gives."""
    return plan_run(
        tasks,
        setting=str(cfg.setting.name),
        stages=MethodStages.of(cfg.method),
        train_ratio=cfg.train_ratio,
        seed=cfg.seed,
        eval_split=str(cfg.eval.split),
        holdout_domain=cfg.holdout_domain,
        domain=cfg.domain,
    )
