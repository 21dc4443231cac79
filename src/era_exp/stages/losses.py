"""The stages' training losses, each a ``_target_`` of a config entry.

Stage 1 (``conf/stage1/loss/``) compares adapted query-model vectors with document-model vectors of
the same texts. Stage 2 (``conf/stage2/objective/``) scores each query against its candidates
[positive, mined negatives]. Adapter outputs are unit vectors, so targets are L2-normalised where
the loss is not scale-free.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


class CosineAlignmentLoss:
    """1 - mean cosine between prediction and target (the paper's Stage-1 loss)."""

    def __call__(self, pred: Tensor, target: Tensor) -> Tensor:
        return 1.0 - F.cosine_similarity(pred, target, dim=-1).mean()


class MSEAlignmentLoss:
    """Mean squared error against the L2-normalised target."""

    def __call__(self, pred: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(pred, F.normalize(target, dim=-1))


class SmoothL1AlignmentLoss:
    """Smooth L1 (beta 1) against the L2-normalised target."""

    def __call__(self, pred: Tensor, target: Tensor) -> Tensor:
        return F.smooth_l1_loss(pred, F.normalize(target, dim=-1))


def info_nce_candidates(positive: Tensor, negatives: Tensor) -> Tensor:
    """Each query's [positive, k negatives] as unit vectors, (B, 1+k, d).

    Row by row: the candidates of a query are the same whichever rows they are computed with.
    """
    return F.normalize(torch.cat([positive.unsqueeze(1), negatives], dim=1), dim=-1)


def info_nce_logits(
    anchor: Tensor, positive: Tensor, negatives: Tensor, temperature: float, in_batch: bool = False
) -> tuple[Tensor, Tensor]:
    """Logits (cosine / temperature) and targets for InfoNCE.

    Without in-batch negatives each query scores its own [positive, k negatives]: logits (B, 1+k),
    target 0. With them each query scores every candidate of the batch: logits (B, B*(1+k)),
    target i*(1+k) (its own positive); other queries' documents act as extra negatives.
    """
    return candidate_logits(anchor, info_nce_candidates(positive, negatives), temperature, in_batch)


def candidate_logits(
    anchor: Tensor, candidates: Tensor, temperature: float, in_batch: bool = False
) -> tuple[Tensor, Tensor]:
    """:func:`info_nce_logits` on candidates already made by :func:`info_nce_candidates`."""
    anchor = F.normalize(anchor, dim=-1)
    per_query = candidates.shape[1]
    if in_batch:
        logits = anchor @ candidates.reshape(-1, candidates.shape[-1]).T
        target = torch.arange(len(anchor), device=anchor.device) * per_query
    else:
        logits = torch.einsum("bd,bkd->bk", anchor, candidates)
        target = torch.zeros(len(anchor), dtype=torch.long, device=anchor.device)
    return logits / temperature, target


class InfoNCE:
    """Cross-entropy over [positive, negatives] cosines / ``temperature`` (the paper's Stage-2 objective).

    ``in_batch_negatives`` adds the other queries' candidates of a training batch as negatives. The
    validation loss always uses each query's own candidates only, so it does not depend on how
    batches are composed and early stopping compares like with like.
    """

    def __init__(self, temperature: float, in_batch_negatives: bool) -> None:
        if temperature <= 0:
            raise ValueError(f"stage2.objective.temperature must be > 0, got {temperature}")
        self.temperature, self.in_batch_negatives = temperature, in_batch_negatives

    def __call__(self, anchor: Tensor, positive: Tensor, negatives: Tensor, validation: bool) -> Tensor:
        return self.on_candidates(anchor, self.candidates(positive, negatives), validation)

    def candidates(self, positive: Tensor, negatives: Tensor) -> Tensor:
        """What the loss compares anchors with: fixed document vectors, so a stage makes them once."""
        return info_nce_candidates(positive, negatives)

    def on_candidates(
        self, anchor: Tensor, candidates: Tensor, validation: bool, weights: Tensor | None = None
    ) -> Tensor:
        """The loss of ``anchor`` against :meth:`candidates`' rows.

        ``weights`` (one per row, e.g. :func:`~era_exp.stages.pairs.pair_weights`) make it the
        mean of the rows' weighted losses; without them every row counts the same.
        """
        in_batch = self.in_batch_negatives and not validation
        logits, target = candidate_logits(anchor, candidates, self.temperature, in_batch)
        if weights is None:
            return F.cross_entropy(logits, target)
        return (F.cross_entropy(logits, target, reduction="none") * weights).mean()
