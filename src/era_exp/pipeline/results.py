"""A run folder: results.json, the DONE marker, and the lock that gives it one writer at a time.

A run folder is finished only when DONE names its run key. Every run takes the folder's lock before
it checks DONE again, clears a previous attempt and computes, so two runs launched into one folder
compute once: the second waits, then finds DONE and returns the stored results.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock, Timeout
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from era_exp import faults
from era_exp.io import TEMP_SUFFIX, atomic_write, atomic_write_text
from era_exp.logs import console
from era_exp.pipeline.plan import MethodStages
from era_exp.pipeline.profiling import peak_rss_mib

if TYPE_CHECKING:
    from era_exp.embed.cache import CacheStats

RESULTS_FILE = "results.json"
DONE_FILE = "DONE"
LOCK_FILE = ".run.lock"
# Sub-folder of a run holding the validation split's TREC run and qrels files.
VALIDATION_DIR = "validation"
# What the pipeline writes into a run folder besides DONE: shared between points, cleared before a redo.
TRACE_FILE = "stage2_trace.npz"
RUN_OUTPUTS = (RESULTS_FILE, "runs", "qrels", VALIDATION_DIR, "adapter", TRACE_FILE)
# The results.json key marking an oracle fit (pipeline/ceiling.py): trained on the split it scores.
ORACLE_FIT = "oracle_fit"
# Config keys that change where or how a run is logged, not what it computes.
_NOT_IDENTITY = {"paths", "logger", "hydra", "skip_completed", "sweep", "threads", "reuse_stage1"}
# Data keys that say where the data lies or which version to fetch; the data fingerprint stands for
# what is actually read, so a moved folder keeps the key and changed data changes it.
_DATA_LOCATION = {"root", "queries", "docs", "queries_revision", "docs_revision", "cache_dir"}
# Data keys that say how much of the data is held in memory at once, which changes no number.
_DATA_MEMORY = {"resident_mib"}
# File digests of the data, kept beside the embedding cache so each data file is read once.
DIGEST_CACHE = "data-digests.json"


def data_fingerprint(cfg: DictConfig) -> str:
    """Content fingerprint of the tasks ``cfg.data`` selects (see :mod:`era_exp.data.fingerprint`)."""
    return instantiate(cfg.data).fingerprint(Path(cfg.paths.cache_dir) / DIGEST_CACHE)


def run_key(cfg: DictConfig) -> str:
    """Hash of everything that determines a run's numbers, and nothing else.

    The config groups the method reads (:attr:`MethodStages.unread_groups` are left out), the data by
    content (not its paths), each embedder by what its vectors depend on (:func:`embedder_identity`,
    not its config entry) and, for a trained adapter, the device it trains on. Not the output folder,
    logger, threads or data paths. So a method without Stage 2 has one key at every train ratio, and
    zero-shot one key for every query model.
    """
    container = OmegaConf.to_container(cfg, resolve=False)
    identity = {k: v for k, v in container.items() if k not in _NOT_IDENTITY}
    identity["data"] = {k: v for k, v in identity["data"].items() if k not in _DATA_LOCATION | _DATA_MEMORY}
    identity["data_fingerprint"] = data_fingerprint(cfg)
    # Which computed metric a search optimises changes no number.
    identity["eval"] = {k: v for k, v in identity["eval"].items() if k != "optimized_metric"}
    stages = MethodStages.of(cfg.method)
    for name in stages.unread_groups:
        group, _, key = name.partition(".")
        if not key:
            identity.pop(group, None)
        elif isinstance(node := identity.get(group), dict):
            identity[group] = {k: v for k, v in node.items() if k != key}
    for side in ("query_embedder", "doc_embedder"):
        if side in identity:
            identity[side] = embedder_identity(cfg[side])
    if stages.ratio_free:
        identity["train_ratio"] = None
    if stages.trains:
        from era_exp.stages.alignment_store import device_label
        from era_exp.stages.trainer import stage_device

        identity["stage_device"] = device_label(stage_device())
    return hashlib.sha1(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]


def embedder_identity(node: DictConfig) -> dict[str, str]:
    """What of an embedder entry reaches a run's numbers: its cache identity and its query template.

    The cache identity names everything a text's vector depends on (weights, pooling, truncation,
    dtypes, batching as resolved on this machine), so a changed model is another run and settings
    that change no cached vector (batch size, the cap on a batch's tokens) are not. Building the
    embedder reads the model's files, not its weights into memory.
    """
    embedder = instantiate(node)
    return {"identity": embedder.identity, "query_template": embedder.query_template}


def completed_results(out_dir: Path, key: str) -> dict | None:
    """The results of a finished run with this key in ``out_dir``, or ``None`` if absent or broken."""
    try:
        if (out_dir / DONE_FILE).read_text().strip() != key:
            return None
        results = json.loads((out_dir / RESULTS_FILE).read_text())
    except (OSError, ValueError):
        return None
    complete = results.get("run_key") == key and "overall" in results and "validation" in results
    return results if complete else None


@contextmanager
def run_lock(out_dir: str | Path) -> Iterator[None]:
    """Hold ``out_dir``'s lock (re-entrant in one process; the OS releases it if the holder dies)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(out_dir.resolve() / LOCK_FILE, is_singleton=True)
    try:
        lock.acquire(timeout=1)
    except Timeout:
        console().info("waiting for another process writing %s", out_dir)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def clear_outputs(out_dir: Path) -> None:
    """Remove a run's outputs, DONE first, and temporary files of killed writers (lock held)."""
    (out_dir / DONE_FILE).unlink(missing_ok=True)
    for name in RUN_OUTPUTS:
        path = out_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    if out_dir.is_dir():
        for temp in out_dir.glob(f".*{TEMP_SUFFIX}"):
            temp.unlink(missing_ok=True)


def _write_json(tmp: Path, results: dict) -> None:
    tmp.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    faults.hit("results.write")


def run_record(cache_stats: CacheStats, profile: dict, threads: int, cfg: DictConfig) -> dict:
    """What every results.json records of how its run ran: cache hits and encodes, the phases'
    seconds and memory, the threads, the process's peak memory, and the resolved config."""
    return {
        "cache": asdict(cache_stats),
        "profile": profile,
        "threads": threads,
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "config": OmegaConf.to_container(cfg, resolve=True),
    }


def write_results(out_dir: Path, results: dict) -> Path:
    """Write results.json, then DONE last, so a half-written run never counts as finished."""
    path = atomic_write(out_dir / RESULTS_FILE, lambda tmp: _write_json(tmp, results), "run results")
    faults.hit("results.done")
    atomic_write_text(out_dir / DONE_FILE, results["run_key"] + "\n", "run completion marker")
    return path
