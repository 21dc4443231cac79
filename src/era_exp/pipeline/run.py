"""One run: compose data, embeddings, stages, retrieval and evaluation into results.json."""

from __future__ import annotations

from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig

from era_exp.adapters.store import AdapterMeta, save_adapter
from era_exp.config import validate
from era_exp.embed.cache import EmbeddingCache
from era_exp.logs import console
from era_exp.pipeline.embeddings import RunEmbeddings, prefetch
from era_exp.pipeline.objective import optimized_metric, validation_objective
from era_exp.pipeline.plan import MethodStages, plan_from_config
from era_exp.pipeline.profiling import phase
from era_exp.pipeline.results import (
    TRACE_FILE,
    clear_outputs,
    completed_results,
    data_fingerprint,
    run_key,
    run_lock,
    run_record,
    write_results,
)
from era_exp.pipeline.score import score_tasks, score_validation, summarize
from era_exp.pipeline.threads import cpu_threads, run_threads
from era_exp.pipeline.train import TRACE_KEY, check_buildable, train_stages
from era_exp.stages.trainer import Engine


def run(
    cfg: DictConfig, out_dir: str | Path, trainer_kwargs: dict | None = None, engine: Engine = "loop"
) -> dict:
    """Execute the run ``cfg`` describes, writing everything under ``out_dir``; return its results.

    The stages train on ``engine`` (the in-memory loop, or Lightning's Trainer with
    ``trainer_kwargs``: the same numbers). The folder's lock is held from the check for finished
    results to DONE, so a second run into the same folder waits and then returns what the first
    stored.
    """
    out_dir = Path(out_dir)
    validate(cfg)
    optimized_metric(cfg)  # an optimised metric the run does not compute fails before any work
    check_buildable(cfg)
    key = run_key(cfg)
    skip = cfg.get("skip_completed", True)
    if skip and (done := completed_results(out_dir, key)):
        console().info("%s already holds complete results for run %s: skipped", out_dir, key)
        return done
    with run_lock(out_dir):
        if skip and (done := completed_results(out_dir, key)):
            console().info("%s: run %s was completed by another process meanwhile: skipped", out_dir, key)
            return done
        clear_outputs(out_dir)
        threads = run_threads(cfg.get("threads"))
        with cpu_threads(threads):
            return _compute(cfg, out_dir, key, trainer_kwargs, threads, engine)


def _compute(
    cfg: DictConfig, out_dir: Path, key: str, trainer_kwargs: dict | None, threads: int, engine: Engine
) -> dict:
    console().info("run %s -> %s", key, out_dir)
    profile: dict[str, dict[str, float]] = {}
    with phase(profile, "load_data"):
        source = instantiate(cfg.data)
        tasks = source.load()
        method, method_stages = cfg.method, MethodStages.of(cfg.method)
        plans = plan_from_config(tasks, cfg)
    cache = EmbeddingCache(cfg.paths.cache_dir)
    emb = RunEmbeddings(cache, instantiate(cfg.query_embedder), instantiate(cfg.doc_embedder))
    with phase(profile, "encode"):
        prefetch(plans, emb, cfg)
    adapter, stages = train_stages(plans, emb, cfg, trainer_kwargs, profile, engine)
    if (trace := stages.get("adaptation", {}).pop(TRACE_KEY, None)) is not None:
        trace.save(out_dir / TRACE_FILE)
        stages["adaptation"]["trace_file"] = TRACE_FILE
    if adapter is not None:
        _save_adapter(out_dir, adapter, emb, cfg, stages)
    with phase(profile, "evaluate"):
        units = score_tasks(plans, emb, adapter, cfg, out_dir)
    with phase(profile, "validate"):
        validation = score_validation(plans, emb, adapter, cfg, out_dir)
    summary = summarize(units, plans, list(cfg.eval.metrics))
    results = {
        "run_key": key,
        "run": {
            "method": method.name,
            "query_embedder": cfg.query_embedder.name,
            "doc_embedder": cfg.doc_embedder.name,
            "query_model_used": cfg.query_embedder.name if method_stages.trains else cfg.doc_embedder.name,
            "train_ratio": None if method_stages.ratio_free else cfg.train_ratio,
            "setting": str(cfg.setting.name),
            "holdout_domain": cfg.holdout_domain,
            "domain": cfg.domain,
            "seed": cfg.seed,
        },
        **summary,
        "per_unit": units,
        "validation": validation,
        "data": {"fingerprint": data_fingerprint(cfg), **source.provenance()},
        "split_sizes": {
            plan.task.name: {
                "labelled": len(plan.task.labelled_queries),
                "train": len(plan.split.train) if plan.trains else 0,
                "val": len(plan.split.val),
                "validated": len(plan.validation_queries),
                "test": len(plan.split.test),
                "scored": len(plan.scored_queries),
                "eval_split": plan.eval_split,
                "trains": plan.trains,
            }
            for plan in plans
        },
        "stages": stages,
        **run_record(cache.stats, profile, threads, cfg),
    }
    write_results(out_dir, results)
    metric = optimized_metric(cfg)
    val = validation_objective(results, metric)
    console().info(
        "%s %.4f test, %s validation (mean over %d tasks) -> %s",
        metric,
        results["overall"][metric],
        "n/a" if val is None else f"{val:.4f}",
        len(summary["per_task"]),
        out_dir,
    )
    return results


def _save_adapter(out_dir: Path, adapter, emb: RunEmbeddings, cfg: DictConfig, stages: dict) -> None:
    meta = AdapterMeta(
        query_identity=emb.query_model.identity,
        query_name=cfg.query_embedder.name,
        doc_identity=emb.doc_model.identity,
        doc_name=cfg.doc_embedder.name,
        d_in=adapter.d_in,
        d_out=adapter.d_out,
        kind=adapter.kind,
        method=cfg.method.name,
        train_ratio=None if MethodStages.of(cfg.method).ratio_free else cfg.train_ratio,
        seed=cfg.seed,
        training_data_hash=run_key(cfg),
        options=adapter.options(),
    )
    save_adapter(out_dir / "adapter", adapter, meta)
