"""Synthetic Stage-2 pairs whose positives are a known rotation of the queries."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from era_exp.stages.pairs import PairSet


def synthetic_pairs(n: int, mapping: torch.Tensor, seed: int) -> PairSet:
    """``n`` random unit queries, positives ``mapping @ q`` (normalised), 5 random negatives each."""
    g = torch.Generator().manual_seed(seed)
    q = F.normalize(torch.randn(n, mapping.shape[1], generator=g), dim=-1)
    negatives = F.normalize(torch.randn(n, 5, mapping.shape[0], generator=g), dim=-1)
    return PairSet(q, F.normalize(q @ mapping.T, dim=-1), negatives)


def rotation(d: int, theta: float) -> torch.Tensor:
    """Rotation by ``theta`` in each coordinate plane (0,1), (2,3), ..."""
    r = torch.zeros(d, d)
    for i in range(0, d, 2):
        r[i, i] = r[i + 1, i + 1] = math.cos(theta)
        r[i, i + 1], r[i + 1, i] = -math.sin(theta), math.sin(theta)
    return r
