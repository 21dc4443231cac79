"""Query-side adapters: modules, closed-form initialisations, and saving with metadata."""

from era_exp.adapters.init import (
    IdentityInit,
    LeastSquaresInit,
    ProcrustesInit,
    ScoreMatchingInit,
    identity_init,
    least_squares_init,
    procrustes_init,
    score_matching_init,
)
from era_exp.adapters.modules import (
    Adapter,
    DocResidualAdapter,
    DocResidualMLPAdapter,
    LinearAdapter,
    ResidualMLPAdapter,
    adapt,
    build_adapter,
)
from era_exp.adapters.store import AdapterMeta, AdapterMismatchError, load_adapter, save_adapter

__all__ = [
    "Adapter",
    "AdapterMeta",
    "AdapterMismatchError",
    "DocResidualAdapter",
    "DocResidualMLPAdapter",
    "IdentityInit",
    "LeastSquaresInit",
    "LinearAdapter",
    "ProcrustesInit",
    "ResidualMLPAdapter",
    "ScoreMatchingInit",
    "adapt",
    "build_adapter",
    "identity_init",
    "least_squares_init",
    "load_adapter",
    "procrustes_init",
    "save_adapter",
    "score_matching_init",
]
