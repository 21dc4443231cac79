"""Stage settings with the paper's defaults; the Hydra config is mapped onto these."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AlignmentConfig:
    """Stage 1: identical-text alignment of the query model onto the document model."""

    samples_per_task: int = 1000
    holdout: float = 0.1
    loss: str = "cosine"
    lr: float = 1e-3
    weight_decay: float = 0.01
    batch_size: int = 256
    epochs: int = 100


@dataclass(frozen=True)
class MinerConfig:
    """Hard-negative mining (TopK-PercPos by default)."""

    strategy: str = "topk_percpos"
    n_negatives: int = 5
    top_k: int = 2000
    margin: float = 0.95
    pool: int = 10


@dataclass(frozen=True)
class AdaptationConfig:
    """Stage 2: supervised InfoNCE adaptation with early stopping on validation loss."""

    lr: float = 1e-5
    weight_decay: float = 1e-4
    batch_size: int = 256
    temperature: float = 0.05
    warmup_fraction: float = 0.1
    nominal_epochs: int = 1000
    patience: int = 5
    in_batch_negatives: bool = False
