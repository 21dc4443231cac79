"""One computation per run key across a sweep: an index of finished points, shared by every job.

Grid points can share a run key: methods without Stage 2 ignore ``train_ratio``, so the four
ratios of ``zero_shot`` (or ``align_only``) are one computation. The index
``<sweep_dir>/.points/<run_key>.json`` names the job folder that computed a key; another point
with the same key gets that folder's outputs hard-linked (copied across file systems) into its own
folder, with results.json restated for its own config. A per-key file lock lets one job compute
while the others wait, and is released by the OS if that job dies.

The index holds pointers, not copies, so a report scanning the sweep folder for results.json sees
each grid point exactly once.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock

from era_exp.io import atomic_write_json, atomic_write_text
from era_exp.logs import console
from era_exp.pipeline.results import DONE_FILE, RESULTS_FILE, RUN_OUTPUTS, clear_outputs, completed_results

log = logging.getLogger(__name__)

POINTS_DIR = ".points"


class PointStore:
    """The run-key index of one sweep folder."""

    def __init__(self, sweep_dir: str | Path) -> None:
        self.sweep_dir = Path(sweep_dir).resolve()
        self.root = self.sweep_dir / POINTS_DIR

    @contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Hold the key's lock: one job at a time computes or reuses ``key``."""
        self.root.mkdir(parents=True, exist_ok=True)
        with FileLock(self.root / f"{key}.lock"):
            yield

    def source(self, key: str) -> Path | None:
        """The folder holding complete results for ``key``, or None if none is recorded or it broke."""
        try:
            entry = json.loads((self.root / f"{key}.json").read_text())
        except (OSError, ValueError):
            return None
        folder = self.sweep_dir / entry.get("dir", "")
        return folder if completed_results(folder, key) else None

    def publish(self, out_dir: Path, key: str) -> None:
        """Record ``out_dir`` (complete for ``key``) as the folder other points reuse."""
        relative = Path(os.path.relpath(Path(out_dir).resolve(), self.sweep_dir))
        atomic_write_json(self.root / f"{key}.json", {"run_key": key, "dir": relative.as_posix()})

    def materialize(self, key: str, source: Path, out_dir: Path, restate: Callable[[dict], dict]) -> dict:
        """Give ``out_dir`` the outputs of ``source``; its results.json is ``restate(source results)``.

        ``restate`` rewrites what describes the grid point rather than the computation (its config,
        its train ratio); the metrics stay the source's, and ``reused_from`` names the source.
        """
        out_dir = Path(out_dir)
        clear_outputs(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in RUN_OUTPUTS[1:]:
            if (source / name).is_dir():
                shutil.copytree(source / name, out_dir / name, copy_function=_link_or_copy)
            elif (source / name).is_file():
                _link_or_copy(str(source / name), str(out_dir / name))
        results = completed_results(source, key)
        if results is None:
            raise RuntimeError(f"{source} lost its results for run {key} while being reused")
        results = {**restate(results), "reused_from": os.path.relpath(source.resolve(), out_dir.resolve())}
        atomic_write_json(out_dir / RESULTS_FILE, results)
        atomic_write_text(out_dir / DONE_FILE, key + "\n")
        console().info("run %s reused from %s", key, source)
        return results


def _link_or_copy(src: str, dst: str) -> None:
    """Hard-link a finished output (outputs are replaced, never edited, so links stay correct)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
