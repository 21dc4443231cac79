"""Closed-form initialisations of an adapter's affine projection from alignment pairs.

``X`` (n, d_in) holds query-model embeddings and ``Y`` (n, d_out) the document model's embeddings
of the same texts. Each function sets ``adapter.linear`` in place (a residual branch, which starts
at zero, is left alone) and returns the adapter. An adapter that reads more than the query model's
vector (``doc_residual``) names the columns its ``linear`` reads with ``query_part``. Solves run
in float64 for stability. The classes at the end are what the ``adapter.init`` config nodes
build: callables ``init(adapter, X, Y)``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn


def _projection(adapter: nn.Module) -> nn.Linear:
    linear = getattr(adapter, "linear", None)
    if not isinstance(linear, nn.Linear):
        raise TypeError(f"{type(adapter).__name__} has no affine projection 'linear' to initialise")
    return linear


def _pairs(adapter: nn.Module, linear: nn.Linear, X: Tensor, Y: Tensor) -> tuple[Tensor, Tensor]:
    query_part = getattr(adapter, "query_part", None)
    if query_part is not None and X.ndim == 2 and X.shape[1] == adapter.d_in:
        X = query_part(X)
    if X.ndim != 2 or Y.ndim != 2 or len(X) != len(Y):
        raise ValueError(
            f"alignment pairs must be (n, d_in) and (n, d_out); got {tuple(X.shape)}, {tuple(Y.shape)}"
        )
    if X.shape[1] != linear.in_features or Y.shape[1] != linear.out_features:
        raise ValueError(
            f"pairs of dims ({X.shape[1]} -> {Y.shape[1]}) do not fit an adapter "
            f"{linear.in_features} -> {linear.out_features}"
        )
    if len(X) == 0:
        raise ValueError("no alignment pairs to initialise from")
    return X.detach().to(torch.float64), Y.detach().to(torch.float64)


@torch.no_grad()
def _assign(linear: nn.Linear, weight: Tensor, bias: Tensor | None) -> None:
    linear.weight.copy_(weight.to(linear.weight))
    if linear.bias is not None:
        linear.bias.copy_((bias if bias is not None else torch.zeros(linear.out_features)).to(linear.bias))


def least_squares_init(adapter: nn.Module, X: Tensor, Y: Tensor, ridge: float = 0.0) -> nn.Module:
    """Set W, b to argmin ||X W^T + b - Y||^2 + ridge ||W||^2 (minimum-norm when underdetermined).

    The bias is fitted through an appended column of ones and the ridge penalty covers only W.
    Solved through the (d_in+1)-square normal equations, so cost does not grow with n beyond one
    Gram product (computed on the pairs' device).
    """
    if ridge < 0:
        raise ValueError(f"ridge must be >= 0, got {ridge}")
    linear = _projection(adapter)
    X, Y = _pairs(adapter, linear, X, Y)
    d_in = X.shape[1]
    has_bias = linear.bias is not None
    A = torch.cat([X, torch.ones(len(X), 1, dtype=X.dtype, device=X.device)], dim=1) if has_bias else X
    gram, rhs = (A.T @ A).cpu(), (A.T @ Y).cpu()
    gram.diagonal()[:d_in] += ridge
    # gelsd on the normal equations gives the pseudo-inverse (minimum-norm) solution when singular.
    solution = torch.linalg.lstsq(gram, rhs, driver="gelsd").solution  # (d_in [+1], d_out)
    _assign(linear, solution[:d_in].T, solution[d_in] if has_bias else None)
    return adapter


def score_matching_init(adapter: nn.Module, X: Tensor, Y: Tensor, ridge: float = 1.0) -> nn.Module:
    """Set W so the adapter's scores against document-model vectors match the query model's own.

    Pointwise alignment (:func:`least_squares_init`) maps a query-model vector onto the document
    model's vector of the same text, so the adapted query scores documents as the document model
    would: the query model's advantage is trained away. Here W minimises, over the alignment texts,
    sum_ij (x_i^T W^T y_j - x_i^T x_j)^2: the adapted query's score of text j through its
    document-model vector y_j matches the query model's own score x_i^T x_j. With X^T X invertible
    the minimiser is W = (Y^T Y + ridge I)^{-1} Y^T X (ridge 0), the transpose of the ridge
    regression that predicts a text's query-model vector from its document-model vector: ranking the
    index with W x is ranking by x^T x_hat(d), the query model's score against each document's
    predicted query-model vector. No bias: it would add a constant to every score of a query.
    """
    if ridge < 0:
        raise ValueError(f"ridge must be >= 0, got {ridge}")
    linear = _projection(adapter)
    X, Y = _pairs(adapter, linear, X, Y)
    gram, rhs = (Y.T @ Y).cpu(), (Y.T @ X).cpu()
    gram.diagonal()[:] += ridge
    weight = torch.linalg.lstsq(gram, rhs, driver="gelsd").solution  # (d_out, d_in)
    _assign(linear, weight, None)
    return adapter


def procrustes_init(adapter: nn.Module, X: Tensor, Y: Tensor) -> nn.Module:
    """Set W to the (semi-)orthogonal map best aligning X to Y, and b to the mean residual.

    With a bias both sides are centred first. W = U V^T from the thin SVD of Y^T X: orthonormal
    rows when d_out <= d_in, orthonormal columns otherwise. It maximises tr(W X^T Y); that is the
    least-squares optimum when d_in == d_out (or the inputs are whitened) and the usual
    semi-orthogonal approximation otherwise.
    """
    linear = _projection(adapter)
    X, Y = _pairs(adapter, linear, X, Y)
    has_bias = linear.bias is not None
    Xc, Yc = (X - X.mean(0), Y - Y.mean(0)) if has_bias else (X, Y)
    U, _, Vh = torch.linalg.svd(Yc.T @ Xc, full_matrices=False)
    weight = U @ Vh  # (d_out, d_in)
    bias = (Y - X @ weight.T).mean(0) if has_bias else None
    _assign(linear, weight, bias)
    return adapter


def identity_init(adapter: nn.Module) -> nn.Module:
    """Set W = I and b = 0, so the adapter starts as the raw query embedding (needs d_in == d_out)."""
    linear = _projection(adapter)
    if linear.in_features != linear.out_features:
        raise ValueError(
            f"identity init needs d_in == d_out; adapter maps {linear.in_features} -> {linear.out_features}"
        )
    _assign(linear, torch.eye(linear.in_features), None)
    return adapter


class _PenalisedInit:
    """A closed-form init with a ridge penalty λ: checks it once and passes it to ``fit``."""

    fit: Callable[..., nn.Module]

    def __init__(self, ridge: float) -> None:
        if ridge < 0:
            raise ValueError(f"adapter.init.ridge must be >= 0, got {ridge}")
        self.ridge = ridge

    def __call__(self, adapter: nn.Module, X: Tensor, Y: Tensor) -> nn.Module:
        return type(self).fit(adapter, X, Y, ridge=self.ridge)


class LeastSquaresInit(_PenalisedInit):
    """The ``least_squares`` and ``ridge`` adapter entries: :func:`least_squares_init`, penalty ``ridge``."""

    fit = staticmethod(least_squares_init)


class ScoreMatchingInit(_PenalisedInit):
    """The ``score_matching`` adapter entries: :func:`score_matching_init`, penalty ``ridge``."""

    fit = staticmethod(score_matching_init)


class ProcrustesInit:
    """The ``procrustes`` adapter entry: :func:`procrustes_init`."""

    def __call__(self, adapter: nn.Module, X: Tensor, Y: Tensor) -> nn.Module:
        return procrustes_init(adapter, X, Y)


class IdentityInit:
    """The ``identity`` adapter entry: :func:`identity_init` (the pairs are not needed)."""

    def __call__(self, adapter: nn.Module, X: Tensor, Y: Tensor) -> nn.Module:
        return identity_init(adapter)
