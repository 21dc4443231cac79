"""The fit ceiling of an adapter class on an index: Stage 2 trained on the queries it is scored on.

An *oracle fit* runs a method's pipeline unchanged (Stage 1 on sampled documents, the method's
teacher and miner, its adapter, init and Stage-2 objective, exact search, ranx metrics) except
that each task's **test** queries are Stage 2's training queries *and* its validation queries,
so early stopping keeps the epoch with the best test nDCG@10, and the same test queries are
scored. What it reaches is an upper estimate of what that adapter class and recipe can do over
that index with labels of these queries: where even the fit stays below a reference, no recipe
of the class reaches the reference there, whatever its labels; where it clears it, what is
missing is generalisation from the few training labels. (It is itself bounded by the
optimisation: a fit that ran out of nominal epochs could go further.)

It is never a result and never a selection input. Nothing in ``conf/`` reaches it: only
:func:`oracle_fit`, called explicitly, computes one. Its ``results.json`` carries
:data:`ORACLE_FIT` (what it was trained, stopped and scored on), its run key differs from the
config's own, it scores no validation split and saves no adapter, and ``era-report`` refuses its
folders (``report/collect.py``).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig

from era_exp.config import validate
from era_exp.data.split import Split
from era_exp.embed.cache import EmbeddingCache
from era_exp.logs import console
from era_exp.pipeline.embeddings import RunEmbeddings, prefetch
from era_exp.pipeline.plan import MethodStages, TaskPlan, plan_from_config
from era_exp.pipeline.profiling import phase
from era_exp.pipeline.results import (
    ORACLE_FIT,
    clear_outputs,
    completed_results,
    data_fingerprint,
    run_key,
    run_lock,
    run_record,
    write_results,
)
from era_exp.pipeline.score import score_tasks, summarize
from era_exp.pipeline.threads import cpu_threads, run_threads
from era_exp.pipeline.train import check_buildable, train_stages
from era_exp.stages.monitor import RetrievalMonitor

# What an oracle fit's results.json says under ORACLE_FIT.
NOTE = (
    "Stage 2 trained on the test queries, early-stopped on their nDCG@10 and scored on them: an upper "
    "estimate of what this adapter class reaches on this index, never a result or a selection input"
)


class OracleFitError(ValueError):
    """A config an oracle fit cannot be made of."""


def oracle_key(cfg: DictConfig) -> str:
    """The fit's run key: the config's own key, marked, so a normal run never takes it for its own."""
    return hashlib.sha1(f"{ORACLE_FIT}:{run_key(cfg)}".encode()).hexdigest()[:16]


def check_oracle_config(cfg: DictConfig) -> None:
    """A fit needs a method with Stage 2, selection on retrieval, and every task scored on its test split."""
    if not MethodStages.of(cfg.method).adaptation:
        raise OracleFitError(f"method={cfg.method.name} has no Stage 2 to fit on the test queries")
    if str(cfg.stage2.monitor) != RetrievalMonitor.name:
        raise OracleFitError(
            f"stage2.monitor is {cfg.stage2.monitor!r}: an oracle fit keeps the epoch with the best "
            f"test nDCG@10, so it needs stage2.monitor={RetrievalMonitor.name}"
        )
    if str(cfg.setting.name) != "in_domain" or str(cfg.eval.split) != "test":
        raise OracleFitError(
            f"an oracle fit trains on every task's test split: setting={cfg.setting.name}, "
            f"eval.split={cfg.eval.split} (needs setting=in_domain, eval.split=test)"
        )
    if cfg.stage2.get("trace") is not None:
        raise OracleFitError(
            "stage2.trace replays selection rules on validation queries; an oracle fit has none"
        )


def oracle_plans(plans: list[TaskPlan]) -> list[TaskPlan]:
    """Each plan with its test queries as Stage 2's train and validation queries, and scored."""
    return [replace(plan, split=Split(plan.split.test, plan.split.test, plan.split.test)) for plan in plans]


def oracle_fit(cfg: DictConfig, out_dir: str | Path) -> dict:
    """The oracle fit of the run ``cfg`` describes, in ``out_dir`` (reused when complete); its results."""
    out_dir = Path(out_dir)
    validate(cfg)
    check_oracle_config(cfg)
    check_buildable(cfg)
    key = oracle_key(cfg)
    if done := completed_results(out_dir, key):
        console().info("%s already holds the oracle fit %s: skipped", out_dir, key)
        return done
    with run_lock(out_dir):
        if done := completed_results(out_dir, key):
            return done
        clear_outputs(out_dir)
        threads = run_threads(cfg.get("threads"))
        with cpu_threads(threads):
            return _fit(cfg, out_dir, key, threads)


def _fit(cfg: DictConfig, out_dir: Path, key: str, threads: int) -> dict:
    console().info("oracle fit %s (trained and scored on the test split) -> %s", key, out_dir)
    profile: dict[str, dict[str, float]] = {}
    with phase(profile, "load_data"):
        source = instantiate(cfg.data)
        plans = oracle_plans(plan_from_config(source.load(), cfg))
    cache = EmbeddingCache(cfg.paths.cache_dir)
    emb = RunEmbeddings(cache, instantiate(cfg.query_embedder), instantiate(cfg.doc_embedder))
    with phase(profile, "encode"):
        prefetch(plans, emb, cfg)
    adapter, stages = train_stages(plans, emb, cfg, profile=profile)
    with phase(profile, "evaluate"):
        units = score_tasks(plans, emb, adapter, cfg, out_dir)
    summary = summarize(units, plans, list(cfg.eval.metrics))
    results = {
        "run_key": key,
        ORACLE_FIT: {
            "trained_on": "test",
            "early_stopped_on": "test",
            "scored_on": "test",
            "config_run_key": run_key(cfg),
            "note": NOTE,
        },
        "run": {
            "method": cfg.method.name,
            "query_embedder": cfg.query_embedder.name,
            "doc_embedder": cfg.doc_embedder.name,
            "adapter": adapter.kind,
            "setting": str(cfg.setting.name),
            "seed": cfg.seed,
        },
        **summary,
        "per_unit": units,
        "validation": None,
        "data": {"fingerprint": data_fingerprint(cfg), **source.provenance()},
        "split_sizes": {
            plan.task.name: {"trained": len(plan.split.train), "scored": len(plan.scored_queries)}
            for plan in plans
        },
        "stages": stages,
        **run_record(cache.stats, profile, threads, cfg),
    }
    write_results(out_dir, results)
    console().info(
        "oracle fit: ndcg@10 %.4f on the test split it trained on -> %s",
        results["overall"]["ndcg@10"],
        out_dir,
    )
    return results
