"""Session fixtures: offline hub, the mair-lite data root, tiny and bundled models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]


def _mair_lite_path() -> Path:
    return Path(os.environ.get("ERA_MAIR_LITE", REPO_ROOT.parent / "shared" / "data" / "mair-lite"))


@pytest.fixture(scope="session")
def mair_lite_root() -> Path:
    """The mair-lite folder; skipped when absent, a failure under CI where it must exist."""
    root = _mair_lite_path()
    if not (root / "tasks.json").is_file():
        reason = f"mair-lite data not found at {root} (set ERA_MAIR_LITE to its folder)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return root


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The project's root folder (holds conf/ and experiments/)."""
    return REPO_ROOT
