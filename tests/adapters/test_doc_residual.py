"""The doc_residual adapter starts as the document model's zero-shot and learns only what Q adds."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from hydra.utils import instantiate

from era_exp.adapters import (
    AdapterMeta,
    DocResidualAdapter,
    DocResidualMLPAdapter,
    adapt,
    load_adapter,
    save_adapter,
)
from era_exp.config import compose

D_QUERY, D_DOC = 12, 6


def _inputs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, D_QUERY, generator=g), dim=-1), F.normalize(
        torch.randn(n, D_DOC, generator=g), dim=-1
    )


def test_a_fresh_adapter_is_the_document_models_own_query_vector() -> None:
    strong, base = _inputs(20, 0)
    adapter = DocResidualAdapter(D_QUERY + D_DOC, D_DOC)
    torch.testing.assert_close(adapt(adapter, torch.cat([strong, base], dim=1)), base)


def test_the_input_must_hold_both_models_vectors() -> None:
    with pytest.raises(ValueError, match="d_query \\+ d_out"):
        DocResidualAdapter(D_DOC, D_DOC)


def test_the_ridge_init_fits_the_aligned_branch_on_the_query_columns_only() -> None:
    g = torch.Generator().manual_seed(1)
    strong, _ = _inputs(200, 2)
    mapping = torch.randn(D_DOC, D_QUERY, generator=g)
    target = strong @ mapping.T
    adapter = DocResidualAdapter(D_QUERY + D_DOC, D_DOC)
    cfg = compose(["method=era_plus", "adapter.init.ridge=0.0"], return_hydra_config=False)
    instantiate(cfg.adapter.init)(adapter, torch.cat([strong, target], dim=1), target)
    torch.testing.assert_close(adapter.linear.weight, mapping, atol=1e-4, rtol=1e-4)
    # The gate is still closed: the fitted branch changes nothing until Stage 2 opens it.
    torch.testing.assert_close(
        adapt(adapter, torch.cat([strong, target], dim=1)), F.normalize(target, dim=-1)
    )
    with torch.no_grad():
        adapter.gate.fill_(1.0)
    torch.testing.assert_close(
        adapt(adapter, torch.cat([strong, target], dim=1)),
        F.normalize(2 * target, dim=-1),
        atol=1e-4,
        rtol=1e-4,
    )


def test_gradients_reach_the_residual_and_the_gate_from_the_start() -> None:
    strong, base = _inputs(8, 3)
    adapter = DocResidualAdapter(D_QUERY + D_DOC, D_DOC)
    with torch.no_grad():
        adapter.linear.weight.normal_()
    target = F.normalize(torch.randn(8, D_DOC, generator=torch.Generator().manual_seed(4)), dim=-1)
    loss = 1 - F.cosine_similarity(adapter(torch.cat([strong, base], dim=1)), target).mean()
    loss.backward()
    assert adapter.residual.weight.grad.abs().sum() > 0 and adapter.gate.grad.abs() > 0


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    adapter = DocResidualAdapter(D_QUERY + D_DOC, D_DOC)
    with torch.no_grad():
        for parameter in adapter.parameters():
            parameter.normal_()
    meta = AdapterMeta(
        "q", "q-model", "d", "d-model", D_QUERY + D_DOC, D_DOC, "doc_residual", "era_plus", 0.2, 42, "h"
    )
    save_adapter(tmp_path, adapter, meta)
    loaded, _ = load_adapter(tmp_path, "q", "d", d_in=D_QUERY + D_DOC, d_out=D_DOC)
    x = torch.cat(_inputs(5, 5), dim=1)
    torch.testing.assert_close(adapt(loaded, x), adapt(adapter, x))


def test_the_mlp_variant_starts_where_the_doc_residual_starts_and_contains_it() -> None:
    """doc_residual_mlp after the same ridge init is the doc residual; its MLP learns from the start."""
    strong, base = _inputs(30, 5)
    inputs = torch.cat([strong, base], dim=1)
    cfg = compose(["method=era_plus", "adapter=doc_residual_mlp"], return_hydra_config=False)
    assert cfg.adapter.inputs == "query_and_doc" and cfg.adapter.init.ridge == 1.0
    plain, wide = (
        DocResidualAdapter(D_QUERY + D_DOC, D_DOC),
        DocResidualMLPAdapter(D_QUERY + D_DOC, D_DOC, 16),
    )
    for adapter in (plain, wide):
        instantiate(cfg.adapter.init)(adapter, inputs, base)
        with torch.no_grad():
            adapter.gate.fill_(0.5)
    torch.testing.assert_close(adapt(wide, inputs), adapt(plain, inputs))
    F.cosine_similarity(wide(inputs), base).sum().backward()
    assert wide.mlp[-1].weight.grad.abs().sum() > 0
