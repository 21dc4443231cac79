"""Closed-form initialisations solve the problems they claim to solve."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from era_exp.adapters import (
    LeastSquaresInit,
    LinearAdapter,
    ResidualMLPAdapter,
    ScoreMatchingInit,
    identity_init,
    least_squares_init,
    procrustes_init,
    score_matching_init,
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


def _score_mismatch(W: torch.Tensor, X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """sum_ij (x_i^T W^T y_j - x_i^T x_j)^2: the adapted scores against the query model's own."""
    return ((X @ W.T @ Y.T - X @ X.T) ** 2).sum()


def test_score_matching_minimises_the_score_mismatch_over_all_pairs_of_texts() -> None:
    """With ridge 0 the fit is the least-squares solution of the n^2 score equations, solved directly."""
    g = torch.Generator().manual_seed(4)
    X = torch.randn(30, 5, generator=g, dtype=torch.float64)  # query model: 5-d
    Y = X @ torch.randn(5, 3, generator=g, dtype=torch.float64) + 0.1 * torch.randn(30, 3, generator=g)
    W = score_matching_init(LinearAdapter(5, 3).double(), X, Y, ridge=0.0).linear.weight.detach()
    # score_ij = x_i^T W^T y_j = sum_ab W_ab y_ja x_ib: one row of kron(y_j, x_i) per pair (i, j).
    design = torch.einsum("ja,ib->ijab", Y, X).reshape(-1, 3 * 5)
    direct = torch.linalg.lstsq(design, (X @ X.T).reshape(-1)).solution.reshape(3, 5)
    torch.testing.assert_close(W, direct, atol=1e-8, rtol=1e-8)
    pointwise = least_squares_init(LinearAdapter(5, 3).double(), X, Y).linear.weight.detach()
    assert _score_mismatch(W, X, Y) < _score_mismatch(pointwise, X, Y)


def test_score_matching_is_the_identity_for_one_model_and_keeps_no_bias() -> None:
    g = torch.Generator().manual_seed(5)
    X = torch.randn(40, 4, generator=g, dtype=torch.float64)
    adapter = score_matching_init(LinearAdapter(4, 4).double(), X, X, ridge=0.0)
    torch.testing.assert_close(adapter.linear.weight.detach(), torch.eye(4, dtype=torch.float64))
    assert not adapter.linear.bias.detach().any()
    # A ridge penalty shrinks toward zero: (X^T X + λ I)^{-1} X^T X.
    shrunk = score_matching_init(LinearAdapter(4, 4).double(), X, X, ridge=2.0).linear.weight.detach()
    gram = X.T @ X
    torch.testing.assert_close(shrunk, torch.linalg.solve(gram + 2.0 * torch.eye(4, dtype=X.dtype), gram))


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
    with pytest.raises(ValueError, match=r"adapter\.init\.ridge must be >= 0"):
        ScoreMatchingInit(ridge=-0.5)


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


@pytest.mark.parametrize("entry", ["score_matching", "doc_residual_score_matching"])
def test_the_score_matching_entries_fit_the_query_part_by_score_matching(run_config, entry: str) -> None:
    """Both entries build :class:`ScoreMatchingInit` with the config's λ; the doc residual's branch
    reads only the query model's columns of its input."""
    cfg = run_config("pair=mpnet_to_minilm", "method=era_plus", f"adapter={entry}", "adapter.init.ridge=2.0")
    g = torch.Generator().manual_seed(6)
    X, Y = torch.randn(40, 6, generator=g), torch.randn(40, 3, generator=g)
    module = instantiate(cfg.adapter.module)
    adapter = module(6 + 3, 3) if entry.startswith("doc_residual") else module(6, 3)
    inputs = torch.cat([X, Y], dim=1) if entry.startswith("doc_residual") else X
    built = instantiate(cfg.adapter.init)(adapter, inputs, Y)
    expected = score_matching_init(LinearAdapter(6, 3), X, Y, ridge=2.0)
    torch.testing.assert_close(built.linear.weight, expected.linear.weight)
