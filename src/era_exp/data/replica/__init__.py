"""A MAIR-shaped replica of the hub datasets: the real task names, splits and sizes, generated texts."""

from era_exp.data.replica.generate import ReplicaSpec, generate_replica, read_manifest
from era_exp.data.replica.shape import (
    DOCS_REPO_DIR,
    QUERIES_REPO_DIR,
    SplitShape,
    TaskShape,
    mair_shape,
    shape_document,
)

__all__ = [
    "DOCS_REPO_DIR",
    "QUERIES_REPO_DIR",
    "ReplicaSpec",
    "SplitShape",
    "TaskShape",
    "generate_replica",
    "mair_shape",
    "read_manifest",
    "shape_document",
]
