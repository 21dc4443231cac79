"""What every drill shares: its outcome record, the run it drives, and the invariants it checks."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from era_exp.config import compose
from era_exp.io import TEMP_SUFFIX
from era_exp.pipeline.results import RESULTS_FILE
from era_exp.stages.alignment_store import PROVENANCE

# The parts of results.json a resumed run must reproduce bit for bit (timings, memory, cache
# statistics and the config's paths legitimately differ between attempts).
COMPARED = ("run_key", "overall", "per_domain", "per_task", "per_unit", "split_sizes")


@dataclass
class Check:
    """One thing a drill requires, and whether it held."""

    requirement: str
    held: bool
    observed: str


@dataclass
class Drill:
    """A drill's record for docs/reliability.md."""

    name: str
    command: str
    checks: list[Check] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None
    seconds: float = 0.0
    table: list[dict[str, Any]] = field(default_factory=list)

    def check(self, requirement: str, held: bool, observed: str) -> bool:
        self.checks.append(Check(requirement, bool(held), observed))
        return bool(held)

    @property
    def passed(self) -> bool:
        return self.skipped is None and all(c.held for c in self.checks)


class Timer:
    """Seconds since creation."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    @property
    def seconds(self) -> float:
        return round(time.monotonic() - self.start, 1)


def config(overrides: Sequence[str]) -> DictConfig:
    """The real run config with ``overrides``, as era-run composes it."""
    return compose(list(overrides), return_hydra_config=False)


def run_target(cfg: DictConfig, out_dir: Path) -> Callable[[], dict]:
    """A child target running ``cfg`` into ``out_dir``, returning the figures drills compare."""

    def target() -> dict:
        from era_exp.pipeline.run import run

        results = run(cfg, out_dir)
        return {"run_key": results["run_key"], "cache": results["cache"], "profile": results["profile"]}

    return target


def comparable(out_dir: Path) -> dict[str, Any]:
    """What must be identical between an uninterrupted and a resumed run, read from ``out_dir``."""
    results = json.loads((out_dir / RESULTS_FILE).read_text())
    # Timings, and whether Stage 1 was trained or loaded from the Stage-1 store, may differ.
    dropped = {"seconds", *PROVENANCE}
    stages = {
        stage: {k: v for k, v in report.items() if k not in dropped} if isinstance(report, dict) else report
        for stage, report in results.get("stages", {}).items()
    }
    files = {}
    for sub in ("runs", "qrels", "adapter"):
        for path in sorted((out_dir / sub).glob("*")) if (out_dir / sub).is_dir() else []:
            files[f"{sub}/{path.name}"] = _digest(path)
    return {**{key: results.get(key) for key in COMPARED}, "stages": stages, "files": files}


def _digest(path: Path) -> str:
    """sha256 of a file's content; of the tensors for torch files (their zip carries a random id),
    and without the creation time for the adapter's metadata."""
    if path.suffix == ".pt":
        import torch

        state = torch.load(path, map_location="cpu", weights_only=True)
        digest = hashlib.sha256()
        for name in sorted(state):
            digest.update(name.encode())
            digest.update(state[name].contiguous().numpy().tobytes())
        return digest.hexdigest()
    if path.suffix == ".json":
        meta = json.loads(path.read_text())
        meta.pop("created", None)
        return hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()
    return hashlib.sha256(path.read_bytes()).hexdigest()


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Top-level keys (and output files) on which two comparable records differ."""
    keys = [k for k in a if k != "files" and a[k] != b.get(k)]
    files = sorted(set(a["files"]) ^ set(b["files"])) + [
        name for name in a["files"] if name in b["files"] and a["files"][name] != b["files"][name]
    ]
    return keys + [f"file {name}" for name in files]


def temp_files(folder: Path) -> list[Path]:
    """Temporary files of atomic writes anywhere under ``folder``."""
    return [p for p in folder.rglob(f".*{TEMP_SUFFIX}")] if folder.is_dir() else []


@dataclass
class CacheAudit:
    """Committed shards of a cache checked against their records, independently of the cache code."""

    shards: int = 0
    rows: int = 0
    bad: list[str] = field(default_factory=list)
    keys: set[tuple[str, bytes]] = field(default_factory=set)
    duplicate_rows: int = 0


def audit_cache(cache_dir: Path) -> CacheAudit:
    """Every ``shard-*.json`` record's files exist with the recorded size and sha256; count rows and keys."""
    import numpy as np

    audit = CacheAudit()
    for record_path in sorted(cache_dir.glob("*/shard-*.json")) if cache_dir.is_dir() else []:
        audit.shards += 1
        try:
            record = json.loads(record_path.read_text())
            for part, suffix in (("vectors", ".npy"), ("keys", ".keys.npy")):
                path = record_path.with_suffix(suffix)
                entry = record[part]
                data = path.read_bytes()
                if len(data) != int(entry["bytes"]) or hashlib.sha256(data).hexdigest() != entry["sha256"]:
                    raise ValueError(f"{path.name} does not match its record")
            keys = np.load(record_path.with_suffix(".keys.npy"), allow_pickle=False)
        except (OSError, ValueError, KeyError) as err:
            audit.bad.append(f"{record_path}: {err}")
            continue
        audit.rows += int(record["rows"])
        for key in keys.tolist():
            key = (record_path.parent.name, key)
            if key in audit.keys:
                audit.duplicate_rows += 1
            audit.keys.add(key)
    return audit
