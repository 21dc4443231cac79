"""One run: compose data, embeddings, stages, retrieval and evaluation into results.json."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from era_exp.adapters.store import AdapterMeta, save_adapter
from era_exp.config import validate
from era_exp.embed.cache import EmbeddingCache
from era_exp.evaluate.aggregate import aggregate
from era_exp.logs import console
from era_exp.pipeline.embeddings import RunEmbeddings, prefetch
from era_exp.pipeline.plan import MethodStages, plan_from_config
from era_exp.pipeline.profiling import peak_rss_mib, phase
from era_exp.pipeline.results import completed_results, run_key, write_results
from era_exp.pipeline.score import score_tasks
from era_exp.pipeline.train import check_buildable, train_stages


def run(cfg: DictConfig, out_dir: str | Path, trainer_kwargs: dict | None = None) -> dict:
    """Execute the run ``cfg`` describes, writing everything under ``out_dir``; return its results."""
    out_dir = Path(out_dir)
    validate(cfg)
    check_buildable(cfg)
    key = run_key(cfg)
    if cfg.get("skip_completed", True) and (done := completed_results(out_dir, key)):
        console().info("%s already holds complete results for run %s: skipped", out_dir, key)
        return done
    console().info("run %s -> %s", key, out_dir)
    profile: dict[str, dict[str, float]] = {}
    with phase(profile, "load_data"):
        tasks = instantiate(cfg.data).load()
        method, method_stages = cfg.method, MethodStages.of(cfg.method)
        plans = plan_from_config(tasks, cfg)
    cache = EmbeddingCache(cfg.paths.cache_dir)
    emb = RunEmbeddings(cache, instantiate(cfg.query_embedder), instantiate(cfg.doc_embedder))
    with phase(profile, "encode"):
        prefetch(plans, emb, cfg)
    adapter, stages = train_stages(plans, emb, cfg, trainer_kwargs, profile)
    if adapter is not None:
        _save_adapter(out_dir, adapter, emb, cfg, stages)
    with phase(profile, "evaluate"):
        units = score_tasks(plans, emb, adapter, cfg, out_dir)
    metrics = list(cfg.eval.metrics)
    summary = aggregate(
        {unit: values for unit, values in units.items()},
        {plan.task.name: plan.task.task for plan in plans},
        {plan.task.task: plan.task.domain for plan in plans},
        metrics,
    )
    for plan in plans:
        summary["per_task"][plan.task.task].update(domain=plan.task.domain)
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
        "split_sizes": {
            plan.task.name: {
                "labelled": len(plan.task.labelled_queries),
                "train": len(plan.split.train) if plan.trains else 0,
                "val": len(plan.split.val),
                "test": len(plan.split.test),
                "scored": len(plan.scored_queries),
                "eval_split": plan.eval_split,
                "trains": plan.trains,
            }
            for plan in plans
        },
        "stages": stages,
        "cache": asdict(cache.stats),
        "profile": profile,
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    write_results(out_dir, results)
    console().info(
        "nDCG@10 %.4f (mean over %d tasks) -> %s",
        results["overall"]["ndcg@10"],
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
        d_in=emb.query_model.dim,
        d_out=emb.doc_model.dim,
        kind=adapter.kind,
        method=cfg.method.name,
        train_ratio=None if MethodStages.of(cfg.method).ratio_free else cfg.train_ratio,
        seed=cfg.seed,
        training_data_hash=run_key(cfg),
        options=adapter.options(),
    )
    save_adapter(out_dir / "adapter", adapter, meta)
