"""The order ``ranx.Run`` gives a query's hits, compiled by numba once per machine (cached on disk).

``ranx.Run`` sorts each query's documents with numba's ``np.argsort`` of the negated scores;
numba's quicksort is not NumPy's, so tied scores come out in its order only from numba itself.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def ranx_order(scores: np.ndarray) -> np.ndarray:
    """Indices that rank ``scores`` (float64) best first, ties as ``ranx.Run`` breaks them."""
    return np.argsort(-scores)
