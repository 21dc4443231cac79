"""results.json and the DONE marker: a run folder is finished only when DONE names its run key."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from era_exp.io import atomic_write_json, atomic_write_text
from era_exp.pipeline.plan import MethodStages

RESULTS_FILE = "results.json"
DONE_FILE = "DONE"
# Config keys that change where or how a run is logged, not what it computes.
_NOT_IDENTITY = {"paths", "logger", "hydra", "skip_completed", "sweep"}


def run_key(cfg: DictConfig) -> str:
    """Hash of everything that determines a run's numbers (not its output folder or logger)."""
    container = OmegaConf.to_container(cfg, resolve=False)
    identity = {k: v for k, v in container.items() if k not in _NOT_IDENTITY}
    if MethodStages.of(cfg.method).ratio_free:
        identity["train_ratio"] = None
    return hashlib.sha1(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]


def completed_results(out_dir: Path, key: str) -> dict | None:
    """The results of a finished run with this key in ``out_dir``, or ``None`` if absent or broken."""
    try:
        if (out_dir / DONE_FILE).read_text().strip() != key:
            return None
        results = json.loads((out_dir / RESULTS_FILE).read_text())
    except (OSError, ValueError):
        return None
    return results if results.get("run_key") == key and "overall" in results else None


def write_results(out_dir: Path, results: dict) -> Path:
    """Write results.json, then DONE last, so a half-written run never counts as finished."""
    path = atomic_write_json(out_dir / RESULTS_FILE, results)
    atomic_write_text(out_dir / DONE_FILE, results["run_key"] + "\n")
    return path
