"""Building a MAIR-shaped replica for a test session."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest


def build_replica(
    tmp_path_factory: pytest.TempPathFactory, name: str, scale: float, tasks: Sequence[str]
) -> Path:
    """A local mirror (``MAIR-Queries/``, ``MAIR-Docs/``, ``replica.json``) of ``tasks`` at ``scale``."""
    from era_exp.data.replica import ReplicaSpec, generate_replica

    root = tmp_path_factory.mktemp(name)
    generate_replica(root, ReplicaSpec(seed=0, docs_scale=scale, tasks=tuple(tasks)))
    return root
