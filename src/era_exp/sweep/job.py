"""One job of ``era-run``: skip it if finished, reuse a finished twin in the sweep, or compute it.

Order of checks for a grid point with run key K in folder F of sweep S:
1. F already holds complete results for K (DONE names K): nothing to do.
2. Another folder of S computed K (``S/.points/K.json``): link its outputs into F.
3. Otherwise compute K in F, then record F as K's source for the rest of the sweep.
Steps 2-3 run under K's lock and F's run lock (step 1 is checked again once they are held), so
concurrent jobs compute each key once, even when the same sweep is launched twice; a plain run
takes F's lock alone, so two runs into one folder compute once. A job killed mid-way left
no DONE, so step 1 fails for it and it is redone from scratch on the next run of the sweep.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from era_exp.logs import console
from era_exp.pipeline.results import completed_results, run_key, run_lock
from era_exp.pipeline.run import run
from era_exp.sweep.naming import sweep_group
from era_exp.sweep.store import PointStore
from era_exp.tracking.tracker import plain_config, tracking


def run_job(
    cfg: DictConfig, out_dir: str | Path, store: PointStore | None = None, group: str | None = None
) -> dict:
    """Results of the grid point ``cfg`` in ``out_dir``, computing only what no folder holds yet."""
    out_dir = Path(out_dir)
    key = run_key(cfg)
    reuse = cfg.get("skip_completed", True)
    if reuse and (done := completed_results(out_dir, key)):
        console().info("%s: complete for run %s, skipped", out_dir, key)
        if store is not None and store.source(key) is None:
            store.publish(out_dir, key)
        return done
    with store.lock(key) if store is not None else nullcontext(), run_lock(out_dir):
        if reuse and (done := completed_results(out_dir, key)):
            # Finished by a concurrent process (the same run or sweep launched twice) while we waited.
            console().info("%s: run %s was completed by another process meanwhile, skipped", out_dir, key)
            return done
        source = store.source(key) if store is not None and reuse else None
        if source is not None:
            with tracking(cfg, out_dir, group=group) as tracker:
                results = store.materialize(key, source, out_dir, lambda twin: restate(twin, cfg))
                tracker.log_results(results)
            return results
        results = _compute(cfg, out_dir, group)
        if store is not None:
            store.publish(out_dir, key)
        return results


def hydra_job(cfg: DictConfig) -> dict:
    """:func:`run_job` in Hydra's output folder; a multirun shares one store and W&B group per sweep."""
    hydra_cfg = HydraConfig.get()
    out_dir = Path(hydra_cfg.runtime.output_dir)
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return run_job(cfg, out_dir)
    sweep_dir = Path(hydra_cfg.sweep.dir)
    return run_job(cfg, out_dir, PointStore(sweep_dir), group=sweep_group(sweep_dir))


def _compute(cfg: DictConfig, out_dir: Path, group: str | None) -> dict:
    console().info("%s: computing run %s", out_dir, run_key(cfg))
    with tracking(cfg, out_dir, group=group) as tracker:
        results = run(cfg, out_dir, trainer_kwargs=tracker.trainer_kwargs())
        tracker.log_results(results)
    return results


def restate(results: dict, cfg: DictConfig) -> dict:
    """A twin's results as this point's own: its config, its embedders' names (zero-shot shares a
    key across query models) and its train ratio where one is recorded."""
    run_info = {
        **results["run"],
        "query_embedder": cfg.query_embedder.name,
        "doc_embedder": cfg.doc_embedder.name,
    }
    if run_info.get("train_ratio") is not None:
        run_info["train_ratio"] = cfg.train_ratio
    return {**results, "config": plain_config(cfg), "run": run_info}
