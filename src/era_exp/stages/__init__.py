"""Training stages on tensors: Stage 1 alignment, Stage 2 adaptation, losses, negative mining, teachers.

The Lightning classes (``AlignmentModule``, ``AdaptationModule``, their DataModules, ``BestWeights``)
are imported from :mod:`era_exp.stages.lightning` on first access, so importing the stages does
not import Lightning.
"""

from typing import Any

from era_exp.stages.adaptation import AdaptationRows, AdaptationStep, train_adaptation, warmup_linear
from era_exp.stages.alignment import AlignmentRows, AlignmentStep, sample_alignment_docs, train_alignment
from era_exp.stages.losses import (
    CosineAlignmentLoss,
    InfoNCE,
    MSEAlignmentLoss,
    SmoothL1AlignmentLoss,
    info_nce_logits,
)
from era_exp.stages.monitor import RetrievalMonitor
from era_exp.stages.negatives import NegativeMiner, mine_negatives
from era_exp.stages.pairs import PairSet, build_pairs, concat_pairs, pair_weights
from era_exp.stages.teachers import (
    DocModelTeacher,
    DocumentSpaceTeacher,
    RawQueryTeacher,
    Stage1AdapterTeacher,
    Teacher,
)

_LIGHTNING = (
    "AdaptationDataModule",
    "AdaptationModule",
    "AlignmentDataModule",
    "AlignmentModule",
    "BestWeights",
)

__all__ = [
    *_LIGHTNING,
    "AdaptationRows",
    "AdaptationStep",
    "AlignmentRows",
    "AlignmentStep",
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
    "pair_weights",
    "sample_alignment_docs",
    "train_adaptation",
    "train_alignment",
    "warmup_linear",
]


def __getattr__(name: str) -> Any:
    if name in _LIGHTNING:
        from era_exp.stages import lightning

        return getattr(lightning, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
