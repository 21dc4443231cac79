"""What each stage reads, declared once: the stages and the prefetch before them both ask here.

Stage 1 reads a seeded sample of each training task's corpus, embedded by both models. Stage 2 reads
the labelled train and validation queries of each training task with the query model, and with the
document model too when its teacher mines in that model's space. Which stages run is the method's
declaration (:class:`~era_exp.pipeline.plan.MethodStages`); the teacher is the method's too.
"""

from __future__ import annotations

from collections.abc import Sequence

from hydra.utils import instantiate
from omegaconf import DictConfig

from era_exp.data.schema import Corpus, Query
from era_exp.pipeline.plan import TaskPlan
from era_exp.stages.alignment import sample_alignment_docs
from era_exp.stages.teachers import Teacher


def training_plans(plans: Sequence[TaskPlan]) -> list[TaskPlan]:
    """The plans of the tasks the stages train on."""
    return [plan for plan in plans if plan.trains]


def alignment_samples(plans: Sequence[TaskPlan], cfg: DictConfig) -> list[tuple[Corpus, list[int]]]:
    """Stage 1's input: corpus rows sampled from every training task (``stage1.samples_per_task``)."""
    return sample_alignment_docs(
        [plan.task for plan in training_plans(plans)], cfg.stage1.samples_per_task, cfg.seed
    )


def adaptation_parts(plan: TaskPlan) -> list[tuple[str, tuple[Query, ...]]]:
    """Stage 2's input from one training task: its non-empty ``train`` and ``val`` query lists."""
    return [
        (part, queries) for part, queries in (("train", plan.split.train), ("val", plan.split.val)) if queries
    ]


def method_teacher(cfg: DictConfig, symmetric: bool) -> Teacher:
    """The method's teacher (``method.teacher``) resolved for this pair."""
    return instantiate(cfg.method.teacher).resolve(symmetric)
