"""Training stages on tensors: Stage 1 alignment, Stage 2 adaptation, losses, negative mining, teachers."""

from era_exp.stages.adaptation import (
    AdaptationDataModule,
    AdaptationModule,
    BestWeights,
    train_adaptation,
    warmup_linear,
)
from era_exp.stages.alignment import (
    AlignmentDataModule,
    AlignmentModule,
    sample_alignment_docs,
    train_alignment,
)
from era_exp.stages.losses import (
    CosineAlignmentLoss,
    InfoNCE,
    MSEAlignmentLoss,
    SmoothL1AlignmentLoss,
    info_nce_logits,
)
from era_exp.stages.monitor import RetrievalMonitor
from era_exp.stages.negatives import NegativeMiner, mine_negatives
from era_exp.stages.pairs import PairSet, build_pairs, concat_pairs
from era_exp.stages.teachers import (
    DocModelTeacher,
    DocumentSpaceTeacher,
    RawQueryTeacher,
    Stage1AdapterTeacher,
    Teacher,
)

__all__ = [
    "AdaptationDataModule",
    "AdaptationModule",
    "AlignmentDataModule",
    "AlignmentModule",
    "BestWeights",
    "CosineAlignmentLoss",
    "DocModelTeacher",
    "DocumentSpaceTeacher",
    "InfoNCE",
    "MSEAlignmentLoss",
    "NegativeMiner",
    "PairSet",
    "RawQueryTeacher",
    "RetrievalMonitor",
    "SmoothL1AlignmentLoss",
    "Stage1AdapterTeacher",
    "Teacher",
    "build_pairs",
    "concat_pairs",
    "info_nce_logits",
    "mine_negatives",
    "sample_alignment_docs",
    "train_adaptation",
    "train_alignment",
    "warmup_linear",
]
