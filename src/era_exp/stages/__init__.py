"""Training stages on tensors: Stage 1 alignment, Stage 2 adaptation, negative mining, teachers."""

from era_exp.stages.adaptation import (
    AdaptationDataModule,
    AdaptationModule,
    BestWeights,
    info_nce_logits,
    train_adaptation,
    warmup_linear,
)
from era_exp.stages.alignment import (
    AlignmentDataModule,
    AlignmentModule,
    alignment_loss,
    sample_alignment_docs,
    train_alignment,
)
from era_exp.stages.config import AdaptationConfig, AlignmentConfig, MinerConfig
from era_exp.stages.negatives import mine_negatives
from era_exp.stages.pairs import PairSet, build_pairs, concat_pairs
from era_exp.stages.teachers import Teacher, teacher_for

__all__ = [
    "AdaptationConfig",
    "AdaptationDataModule",
    "AdaptationModule",
    "AlignmentConfig",
    "AlignmentDataModule",
    "AlignmentModule",
    "BestWeights",
    "MinerConfig",
    "PairSet",
    "Teacher",
    "alignment_loss",
    "build_pairs",
    "concat_pairs",
    "info_nce_logits",
    "mine_negatives",
    "sample_alignment_docs",
    "teacher_for",
    "train_adaptation",
    "train_alignment",
    "warmup_linear",
]
