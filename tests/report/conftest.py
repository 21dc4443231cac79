"""Fixtures for the report tests: a synthetic sweep folder with finished and unfinished runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from era_exp.io import atomic_write_text
from helpers.fake_sweep import SWEEP, FakeRun, write_fake_run


@pytest.fixture(scope="module")
def fake_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A multirun-like folder (``0``, ``1``, ...) of finished runs, a reused twin, three unfinished runs."""
    root = tmp_path_factory.mktemp("sweep")
    for number, spec in enumerate(SWEEP):
        write_fake_run(root / str(number), spec)
    # A ratio-free point reused at a second grid point: same run key, so the same run.
    zero_shot = SWEEP.index(FakeRun("minilm", "minilm", "zero_shot"))
    write_fake_run(root / "twin", FakeRun("minilm", "minilm", "zero_shot"), key=f"key-{zero_shot}")
    write_fake_run(root / "no_done", FakeRun("minilm", "minilm", "era", 0.4), done=False)
    (root / "crashed" / ".hydra").mkdir(parents=True)
    write_fake_run(root / "stale", FakeRun("minilm", "minilm", "label_only", 0.2))
    atomic_write_text(root / "stale" / "DONE", "another-key\n")
    return root
