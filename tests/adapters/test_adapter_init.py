"""Closed-form initialisations solve the problems they claim to solve."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from era_exp.adapters import (
    LeastSquaresInit,
    LinearAdapter,
    ResidualMLPAdapter,
    identity_init,
    least_squares_init,
    procrustes_init,
)


def _orthonormal_rows(rows: int, cols: int, seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(
        torch.randn(cols, rows, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    )
    return q.T  # (rows, cols) with orthonormal rows


def test_least_squares_recovers_an_affine_map() -> None:
    g = torch.Generator().manual_seed(0)
    X, W, b = torch.randn(50, 6, generator=g), torch.randn(4, 6, generator=g), torch.randn(4, generator=g)
    adapter = least_squares_init(LinearAdapter(6, 4), X, X @ W.T + b)
    torch.testing.assert_close(adapter.linear.weight, W, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(adapter.linear.bias, b, atol=1e-4, rtol=1e-4)


def test_least_squares_interpolates_when_underdetermined() -> None:
    g = torch.Generator().manual_seed(1)
    X, Y = torch.randn(5, 12, generator=g), torch.randn(5, 3, generator=g)
    adapter = least_squares_init(LinearAdapter(12, 3), X, Y)
    torch.testing.assert_close(adapter.linear(X), Y, atol=1e-4, rtol=1e-4)


def test_ridge_satisfies_its_normal_equations_and_leaves_the_bias_unpenalised() -> None:
    g = torch.Generator().manual_seed(2)
    X, Y = (
        torch.randn(40, 6, generator=g, dtype=torch.float64),
        torch.randn(40, 3, generator=g, dtype=torch.float64),
    )
    ridge = 3.0
    adapter = least_squares_init(LinearAdapter(6, 3).double(), X, Y, ridge=ridge)
    W, b = adapter.linear.weight.detach(), adapter.linear.bias.detach()
    residual = X @ W.T + b - Y
    torch.testing.assert_close(residual.T @ X + ridge * W, torch.zeros_like(W), atol=1e-8, rtol=0)
    torch.testing.assert_close(residual.sum(0), torch.zeros(3, dtype=torch.float64), atol=1e-8, rtol=0)

    heavy = least_squares_init(LinearAdapter(6, 3).double(), X, Y, ridge=1e9)
    assert heavy.linear.weight.abs().max() < 1e-6
    torch.testing.assert_close(heavy.linear.bias.detach(), Y.mean(0), atol=1e-6, rtol=0)


def test_procrustes_recovers_an_orthogonal_map_with_offset() -> None:
    g = torch.Generator().manual_seed(3)
    Q = _orthonormal_rows(8, 8, seed=4).float()
    X, offset = torch.randn(60, 8, generator=g), torch.randn(8, generator=g)
    adapter = procrustes_init(LinearAdapter(8, 8), X, X @ Q.T + offset)
    torch.testing.assert_close(adapter.linear.weight, Q, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(adapter.linear.bias, offset, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(("d_in", "d_out"), [(10, 4), (4, 10)])
def test_procrustes_is_semi_orthogonal_for_unequal_dims(d_in: int, d_out: int) -> None:
    # Whitened inputs (X^T X = I), where the SVD solution is also the least-squares optimum.
    X = _orthonormal_rows(d_in, 80, seed=5).T.float()
    if d_out <= d_in:
        Q = _orthonormal_rows(d_out, d_in, seed=6).float()
    else:
        Q = _orthonormal_rows(d_in, d_out, seed=6).T.float()
    adapter = procrustes_init(LinearAdapter(d_in, d_out, bias=False), X, X @ Q.T)
    W = adapter.linear.weight.detach()
    gram = W @ W.T if d_out <= d_in else W.T @ W
    torch.testing.assert_close(gram, torch.eye(min(d_in, d_out)), atol=1e-5, rtol=0)
    torch.testing.assert_close(W, Q, atol=1e-4, rtol=1e-4)


def test_identity_init_passes_queries_through() -> None:
    x = torch.randn(5, 6)
    adapter = identity_init(LinearAdapter(6, 6))
    torch.testing.assert_close(adapter(x), torch.nn.functional.normalize(x, dim=-1))
    with pytest.raises(ValueError, match="d_in == d_out"):
        identity_init(LinearAdapter(6, 4))


def test_init_sets_the_projection_of_a_residual_adapter() -> None:
    g = torch.Generator().manual_seed(7)
    X, W = torch.randn(30, 5, generator=g), torch.randn(3, 5, generator=g)
    adapter = LeastSquaresInit(ridge=0.0)(ResidualMLPAdapter(5, 3, hidden=4), X, X @ W.T)
    torch.testing.assert_close(
        adapter(X), torch.nn.functional.normalize(X @ W.T, dim=-1), atol=1e-4, rtol=1e-4
    )


def test_init_errors() -> None:
    adapter = LinearAdapter(4, 3)
    with pytest.raises(ValueError, match="ridge must be >= 0"):
        LeastSquaresInit(ridge=-1.0)
    with pytest.raises(ValueError, match="do not fit an adapter 4 -> 3"):
        LeastSquaresInit(ridge=1.0)(adapter, torch.randn(10, 5), torch.randn(10, 3))


@pytest.mark.parametrize(("entry", "ridge"), [("least_squares", 0.0), ("ridge", 1.0), ("ridge", 3.0)])
def test_the_least_squares_and_ridge_entries_fit_what_they_name(run_config, entry: str, ridge: float) -> None:
    """``adapter=least_squares`` is ordinary least squares; ``adapter=ridge`` takes its λ from the config."""
    cfg = run_config("method=era", f"adapter={entry}", f"adapter.init.ridge={ridge}")
    g = torch.Generator().manual_seed(3)
    X, Y = (
        torch.randn(40, 6, generator=g, dtype=torch.float64),
        torch.randn(40, 3, generator=g, dtype=torch.float64),
    )
    built = instantiate(cfg.adapter.init)(instantiate(cfg.adapter.module)(6, 3).double(), X, Y)
    expected = least_squares_init(LinearAdapter(6, 3).double(), X, Y, ridge=ridge)
    torch.testing.assert_close(built.linear.weight, expected.linear.weight)
    torch.testing.assert_close(built.linear.bias, expected.linear.bias)
