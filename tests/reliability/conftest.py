"""Shared pieces of the reliability tests: one embedding cache, era-run as a subprocess."""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

# The built-in task, small: 40 labelled queries against its full corpus.
BUILTIN = ["data=builtin", "data.max_queries=40"]


@pytest.fixture(scope="session")
def reliability_cache(tmp_path_factory: pytest.TempPathFactory, embedding_cache: Path) -> Path:
    """These tests' own embedding cache, which they may damage: a copy of the session's cache.

    The built-in task is encoded into the session cache first (in this process, where the other
    tests read it too), so the runs here, often child processes on one thread, start warm.
    """
    from era_exp.config import compose
    from era_exp.pipeline.run import run

    warm_up = compose([*BUILTIN, f"paths.cache_dir={embedding_cache}"], return_hydra_config=False)
    run(warm_up, tmp_path_factory.mktemp("reliability-warm-up"))
    cache = tmp_path_factory.mktemp("reliability") / "cache"
    shutil.copytree(embedding_cache, cache)
    return cache


def era_run_command(*overrides: str) -> list[str]:
    """``era-run`` with ``overrides``, through the interpreter running the tests."""
    return [sys.executable, "-m", "era_exp.cli.run", *overrides]


def child_env(**extra: str) -> dict[str, str]:
    """The test environment for a child process: source first on the path, quiet, one thread."""
    src = str(Path(__file__).resolve().parents[2] / "src")
    path = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "ERA_QUIET": "1", "OMP_NUM_THREADS": "1", **extra}


class LineReader:
    """Lines of a child's output as they come, so a test can wait for one without blocking forever."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.process.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, text: str, timeout: float = 600) -> bool:
        """True once a line containing ``text`` arrived; False if the output ended first."""
        while True:
            line = self._queue.get(timeout=timeout)
            if line is None:
                return False
            self.lines.append(line)
            if text in line:
                return True

    def rest(self, timeout: float = 600) -> str:
        """Everything the child printed, once it has exited."""
        self.process.wait(timeout=timeout)
        while (line := self._queue.get(timeout=timeout)) is not None:
            self.lines.append(line)
        return "".join(self.lines)
