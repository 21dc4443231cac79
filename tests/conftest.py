"""Session fixtures: offline hub, the mair-lite data root, one embedding cache, the config factory."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig

from helpers.config import compose_run
from helpers.replica import build_replica

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]


def _mair_lite_path() -> Path:
    return Path(os.environ.get("ERA_MAIR_LITE", REPO_ROOT.parent / "shared" / "data" / "mair-lite"))


def _missing_shared(reason: str) -> None:
    """Skip a test whose shared input is absent, or fail it under CI, where that input must exist."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def mair_lite_root() -> Path:
    """The mair-lite folder; skipped when absent, a failure under CI where it must exist."""
    root = _mair_lite_path()
    if not (root / "tasks.json").is_file():
        _missing_shared(f"mair-lite data not found at {root} (set ERA_MAIR_LITE to its folder)")
    return root


@pytest.fixture(scope="session")
def mair_task_list() -> Path:
    """MAIR's published task list (mair-tasks.json); skipped when absent, a failure under CI."""
    path = Path(os.environ.get("ERA_MAIR_TASKS", REPO_ROOT.parent / "shared" / "docs" / "mair-tasks.json"))
    if not path.is_file():
        _missing_shared(f"MAIR task list not found at {path} (set ERA_MAIR_TASKS to the file)")
    return path


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The project's root folder (holds conf/ and experiments/)."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def embedding_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One embedding cache for the session's runs, so each text is encoded once per session."""
    return tmp_path_factory.mktemp("embedding-cache")


RunConfigFactory = Callable[..., DictConfig]


@pytest.fixture
def run_config(embedding_cache: Path) -> RunConfigFactory:
    """``run_config(*overrides, hydra=False)``: the real composed config on the session's cache.

    A later ``paths.cache_dir=...`` among the overrides replaces the shared cache.
    """

    def make(*overrides: str, hydra: bool = False) -> DictConfig:
        return compose_run(embedding_cache, overrides, hydra=hydra)

    return make


# A small MAIR-shaped mirror (see era_exp.data.replica): one or more tasks per domain, with
# multi-split tasks (CQADupStack, CUAD, MISeD), single-query sub-splits (SWE-Bench-Lite), graded
# labels (NFCorpus, CliniDS_*) and shared corpora (ELI5 reads AY2's; CliniDS_2015 reads CliniDS_2014's).
MAIR_REPLICA_TASKS = (
    "SciFact",
    "Competition-Math",
    "MBPP",
    "SWE-Bench-Lite",
    "FiQA",
    "Apple",
    "CUAD",
    "AILA2019-Statutes",
    "NFCorpus",
    "CliniDS_2014",
    "CliniDS_2015",
    "CQADupStack",
    "MISeD",
    "ELI5",
)
MAIR_REPLICA_SCALE = 0.0005


@pytest.fixture(scope="session")
def mair_replica(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny MAIR replica: ``MAIR-Queries/`` and ``MAIR-Docs/`` in the hub layout, and ``replica.json``."""
    return build_replica(tmp_path_factory, "mair-replica", MAIR_REPLICA_SCALE, MAIR_REPLICA_TASKS)


@pytest.fixture(scope="session")
def mair_replica_tasks() -> tuple[str, ...]:
    """The MAIR tasks the ``mair_replica`` folder holds."""
    return MAIR_REPLICA_TASKS
