"""Adapter modules mapping query-model embeddings into the document model's space.

Every adapter exposes ``linear`` (its affine projection, the part closed-form initialisations set),
``kind``, ``inputs`` (what it reads per text: ``query``, the query model's vector, or
``query_and_doc``, that vector followed by the document model's) and ``options()`` (constructor
keywords beyond the dimensions) so it can be rebuilt from saved metadata. Outputs are
L2-normalised because retrieval scores are cosines.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class LinearAdapter(nn.Module):
    """The paper's adapter: one affine layer R^d_in -> R^d_out, output L2-normalised."""

    kind = "linear"
    inputs = "query"

    def __init__(self, d_in: int, d_out: int, bias: bool = True) -> None:
        super().__init__()
        self.d_in, self.d_out = d_in, d_out
        self.linear = nn.Linear(d_in, d_out, bias=bias)

    def options(self) -> dict[str, Any]:
        """Constructor keywords besides the dimensions (saved with the weights)."""
        return {"bias": self.linear.bias is not None}

    def forward(self, x: Tensor) -> Tensor:
        return F.normalize(self.linear(x), dim=-1)


def zero_output_mlp(d_in: int, hidden: int, d_out: int, dropout: float) -> nn.Sequential:
    """Linear → GELU → dropout → linear, its last layer zero, so it adds nothing until trained."""
    mlp = nn.Sequential(nn.Linear(d_in, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, d_out))
    nn.init.zeros_(mlp[-1].weight)
    nn.init.zeros_(mlp[-1].bias)
    return mlp


class ResidualMLPAdapter(nn.Module):
    """Affine projection plus a small MLP residual branch, output L2-normalised.

    The branch's last layer starts at zero, so a fresh (or closed-form initialised) adapter is
    exactly its linear projection and the branch only learns a correction on top of it.
    """

    kind = "residual_mlp"
    inputs = "query"

    def __init__(self, d_in: int, d_out: int, hidden: int = 512, dropout: float = 0.0) -> None:
        super().__init__()
        self.d_in, self.d_out = d_in, d_out
        self.hidden, self.dropout = hidden, dropout
        self.linear = nn.Linear(d_in, d_out)
        self.mlp = zero_output_mlp(d_in, hidden, d_out, dropout)

    def options(self) -> dict[str, Any]:
        """Constructor keywords besides the dimensions (saved with the weights)."""
        return {"hidden": self.hidden, "dropout": self.dropout}

    def forward(self, x: Tensor) -> Tensor:
        return F.normalize(self.linear(x) + self.mlp(x), dim=-1)


class DocResidualAdapter(nn.Module):
    """The document model's own query vector plus a learned contribution of the query model.

    Input: ``[Q(x), D(x)]`` (``d_in = d_Q + d_D``, ``d_out = d_D``). Output:
    ``normalize(D(x) + gate * linear(Q(x)) + residual(Q(x)))``. ``linear`` is the aligned map a
    closed-form init fits on the Stage-1 pairs (zero otherwise); ``gate`` (a scalar) and
    ``residual`` (affine) start at zero, so a fresh adapter is exactly the document model's
    zero-shot query embedding and training learns only what the query model adds to it.
    """

    kind = "doc_residual"
    inputs = "query_and_doc"

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        if d_in <= d_out:
            raise ValueError(
                f"doc_residual reads [query-model vector, document-model vector]: d_in ({d_in}) must be "
                f"d_query + d_out (d_out = {d_out})"
            )
        self.d_in, self.d_out = d_in, d_out
        self.d_query = d_in - d_out
        self.linear = nn.Linear(self.d_query, d_out)
        self.gate = nn.Parameter(torch.zeros(()))
        self.residual = nn.Linear(self.d_query, d_out)
        for layer in (self.linear, self.residual):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def options(self) -> dict[str, Any]:
        """Constructor keywords besides the dimensions (none)."""
        return {}

    def query_part(self, x: Tensor) -> Tensor:
        """The query model's columns of an input."""
        return x[..., : self.d_query]

    def forward(self, x: Tensor) -> Tensor:
        strong, base = x[..., : self.d_query], x[..., self.d_query :]
        return F.normalize(base + self.gate * self.linear(strong) + self.residual(strong), dim=-1)


class DocResidualMLPAdapter(DocResidualAdapter):
    """:class:`DocResidualAdapter` plus an MLP branch reading both vectors, for more capacity.

    Output: ``normalize(D(x) + gate * linear(Q(x)) + residual(Q(x)) + mlp([Q(x), D(x)]))``. The
    MLP's last layer starts at zero, so a fresh (or closed-form initialised) adapter is exactly the
    doc residual's start, and with ``mlp = 0`` it is the doc residual: this class contains it.
    """

    kind = "doc_residual_mlp"

    def __init__(self, d_in: int, d_out: int, hidden: int = 1024, dropout: float = 0.0) -> None:
        super().__init__(d_in, d_out)
        self.hidden, self.dropout = hidden, dropout
        self.mlp = zero_output_mlp(d_in, hidden, d_out, dropout)

    def options(self) -> dict[str, Any]:
        """Constructor keywords besides the dimensions (saved with the weights)."""
        return {"hidden": self.hidden, "dropout": self.dropout}

    def forward(self, x: Tensor) -> Tensor:
        strong, base = x[..., : self.d_query], x[..., self.d_query :]
        shift = self.gate * self.linear(strong) + self.residual(strong) + self.mlp(x)
        return F.normalize(base + shift, dim=-1)


Adapter = LinearAdapter | ResidualMLPAdapter | DocResidualAdapter | DocResidualMLPAdapter

ADAPTERS: dict[str, type[Adapter]] = {
    LinearAdapter.kind: LinearAdapter,
    ResidualMLPAdapter.kind: ResidualMLPAdapter,
    DocResidualAdapter.kind: DocResidualAdapter,
    DocResidualMLPAdapter.kind: DocResidualMLPAdapter,
}


def build_adapter(kind: str, d_in: int, d_out: int, **kwargs: Any) -> Adapter:
    """A fresh adapter of ``kind`` (a key of :data:`ADAPTERS`) with its default init."""
    if kind not in ADAPTERS:
        raise ValueError(f"unknown adapter kind {kind!r}; expected one of {sorted(ADAPTERS)}")
    return ADAPTERS[kind](d_in, d_out, **kwargs)


@torch.no_grad()
def adapt(adapter: nn.Module, vectors: Tensor, batch_size: int = 8192) -> Tensor:
    """Apply ``adapter`` in eval mode to ``vectors`` in batches, on the adapter's device; float32 CPU out."""
    device = next(adapter.parameters()).device
    was_training = adapter.training
    adapter.eval()
    try:
        out = [
            adapter(vectors[i : i + batch_size].to(device, torch.float32)).cpu()
            for i in range(0, len(vectors), batch_size)
        ]
    finally:
        adapter.train(was_training)
    d_out = getattr(adapter, "d_out", 0)
    return torch.cat(out) if out else torch.empty(0, d_out)
