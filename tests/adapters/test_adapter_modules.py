"""Adapter modules: normalised outputs, the residual branch's neutral start, the factory."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from era_exp.adapters import LinearAdapter, ResidualMLPAdapter, adapt, build_adapter


def test_linear_adapter_outputs_unit_vectors() -> None:
    torch.manual_seed(0)
    adapter = LinearAdapter(12, 5)
    out = adapter(torch.randn(7, 12) * 3)
    assert out.shape == (7, 5)
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(7))


def test_linear_adapter_without_bias() -> None:
    adapter = LinearAdapter(4, 3, bias=False)
    assert adapter.linear.bias is None
    assert adapter.options() == {"bias": False}


def test_residual_adapter_starts_as_its_linear_map() -> None:
    torch.manual_seed(0)
    adapter = ResidualMLPAdapter(10, 6, hidden=8)
    x = torch.randn(9, 10)
    out = adapter(x)
    torch.testing.assert_close(out, F.normalize(adapter.linear(x), dim=-1))
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(9))


def test_build_adapter_by_kind() -> None:
    assert isinstance(build_adapter("linear", 4, 3), LinearAdapter)
    residual = build_adapter("residual_mlp", 4, 3, hidden=16, dropout=0.1)
    assert isinstance(residual, ResidualMLPAdapter)
    assert residual.options() == {"hidden": 16, "dropout": 0.1}
    with pytest.raises(ValueError, match="unknown adapter kind 'mlp'"):
        build_adapter("mlp", 4, 3)


def test_adapt_batches_in_eval_mode_and_keeps_training_mode() -> None:
    torch.manual_seed(0)
    adapter = ResidualMLPAdapter(6, 4, hidden=8, dropout=0.5)
    adapter.train()
    x = torch.randn(11, 6)
    out = adapt(adapter, x, batch_size=4)
    assert adapter.training
    adapter.eval()
    torch.testing.assert_close(out, adapter(x))
