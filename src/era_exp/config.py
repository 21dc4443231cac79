"""The run config's schema, its validation, and composing it outside the command line.

The schema is a tree of dataclasses registered in Hydra's ConfigStore as ``era_run_schema`` and
named first in ``conf/run.yaml``'s defaults, so every YAML entry and command-line override is merged
into typed nodes: a mistyped key, a string where a number belongs or a value outside a choice
(``miner.strategy=bogus``) fails while Hydra composes. The dataclass defaults are the paper's
settings and the only place they are written; a YAML entry states only what sets it apart.
:func:`validate` then checks ranges and cross-field rules (``stage2.lr > 0``, ``0 < train_ratio <= 1``,
a LODO run names its held-out domain...) before anything is loaded. This module imports neither
torch nor Lightning, so a bad config fails in about a second.

Swappable parts (adapter module and init, miner, Stage-1 loss, Stage-2 objective, teacher, tracker,
data source, embedders) are nodes with a ``_target_``, built with :func:`hydra.utils.instantiate`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from omegaconf import MISSING, DictConfig, OmegaConf, open_dict
from omegaconf.errors import MissingMandatoryValue

SCHEMA_NAME = "era_run_schema"
# A config node of a swappable part: its ``_target_`` and keyword arguments (or any mapping).
Node = dict[str, Any]
# The nodes built with ``instantiate``, which must name what they build.
COMPONENTS = (
    "data",
    "query_embedder",
    "doc_embedder",
    "method.teacher",
    "adapter.module",
    "adapter.init",
    "stage1.loss",
    "stage2.objective",
    "miner",
    "logger",
)


class ConfigError(ValueError):
    """A composed config that cannot describe a run; the message names the offending key."""


def _choice(name: str, values: Sequence[str]) -> type[StrEnum]:
    """A string enum whose members are ``values`` (names may hold '-'): OmegaConf checks membership."""
    return StrEnum(name, {value: value for value in values})


MinerStrategy = _choice("MinerStrategy", ["topk_percpos", "naive_topk", "random"])
SettingName = _choice("SettingName", ["in_domain", "lodo", "domain_specific"])
EvalSplit = _choice("EvalSplit", ["test", "all"])
SearchBackend = _choice("SearchBackend", ["auto", "faiss", "faiss-gpu", "torch"])
AdapterInputs = _choice("AdapterInputs", ["query", "query_and_doc"])
Stage2Monitor = _choice("Stage2Monitor", ["val_loss", "val_ndcg@10"])
Stage2Balance = _choice("Stage2Balance", ["none", "task", "sqrt"])


def _check(ok: bool, key: str, requirement: str, value: object) -> None:
    if not ok:
        raise ConfigError(f"{key} must be {requirement}, got {value!r}")


@dataclass
class MethodConfig:
    """Which stages a method runs, and the teacher that ranks candidates for Stage 2's negatives.

    ``alignment``: Stage 1 (identical-text alignment, reads sampled corpus documents only).
    ``adaptation``: Stage 2 (supervised, reads the labelled train and validation queries).
    ``teacher``: a ``_target_`` node (``era_exp.stages.teachers``), required exactly when Stage 2 runs.
    """

    name: str = MISSING
    alignment: bool = False
    adaptation: bool = False
    teacher: Node | None = None

    def __post_init__(self) -> None:
        if self.adaptation and self.teacher is None:
            raise ConfigError(f"method.teacher must be set: method {self.name!r} runs Stage 2, which mines")
        if not self.adaptation and self.teacher is not None:
            raise ConfigError(f"method.teacher must be null: method {self.name!r} has no Stage 2 to mine for")


@dataclass
class AdapterConfig:
    """The adapter module (a partial: the dimensions come from the embedders) and its init.

    ``init`` is null for PyTorch's default initialisation, or a closed-form init fitted on the
    Stage-1 alignment pairs (``era_exp.adapters.init``). ``inputs`` is what the adapter reads per
    text: the query model's vector (``query``, the paper's adapter) or that vector followed by the
    document model's vector of the same text (``query_and_doc``, e.g. ``doc_residual``); it must be
    what the module declares.
    """

    module: Node = MISSING
    init: Node | None = None
    inputs: AdapterInputs = AdapterInputs.query  # type: ignore[attr-defined]


@dataclass
class AlignmentConfig:
    """Stage 1: identical-text alignment of the query model onto the document model (paper settings).

    ``loss`` is the alignment loss (a ``_target_`` node in the config, the built loss in code).
    ``epochs=0`` keeps the adapter as its closed-form init left it (the held-out loss is still reported).
    """

    samples_per_task: int = 1000
    holdout: float = 0.1
    lr: float = 1.0e-3
    weight_decay: float = 0.01
    batch_size: int = 256
    epochs: int = 100
    loss: Node = MISSING

    def __post_init__(self) -> None:
        _check(self.samples_per_task >= 1, "stage1.samples_per_task", ">= 1", self.samples_per_task)
        _check(0.0 <= self.holdout < 1.0, "stage1.holdout", "in [0, 1)", self.holdout)
        _check(self.lr > 0, "stage1.lr", "> 0", self.lr)
        _check(self.weight_decay >= 0, "stage1.weight_decay", ">= 0", self.weight_decay)
        _check(self.batch_size >= 1, "stage1.batch_size", ">= 1", self.batch_size)
        _check(self.epochs >= 0, "stage1.epochs", ">= 0", self.epochs)


@dataclass
class AdaptationConfig:
    """Stage 2: supervised adaptation with early stopping on the validation loss (paper settings).

    ``objective`` is the training objective (InfoNCE over [positive, mined negatives] by default).
    ``monitor`` is what early stopping and the kept weights follow: the validation pairs' loss
    (``val_loss``, the paper's), or nDCG@10 of the validation queries retrieved from their full
    corpora (``val_ndcg@10``), where the weights Stage 2 starts from are a candidate too.
    ``trace`` (``stage2/trace``, with ``val_ndcg@10``) records every epoch's per-query validation
    nDCG@10 to ``stage2_trace.npz``, to judge selection rules afterwards; it changes no number.
    ``balance`` is how much each training pair weighs in the training loss: equally (``none``, the
    paper's, so big tasks dominate), ``task``: each task in total as much as any other (a pair
    weighs 1 / its task's pair count, normalised to a mean of 1), or ``sqrt``: between the two, a
    task in total in proportion to the square root of its pair count (a pair weighs
    1 / sqrt(its task's pair count); temperature-2 task sampling); the validation loss is unweighted.
    """

    lr: float = 1.0e-5
    weight_decay: float = 1.0e-4
    batch_size: int = 256
    warmup_fraction: float = 0.1
    nominal_epochs: int = 1000
    patience: int = 5
    monitor: Stage2Monitor = Stage2Monitor.val_loss  # type: ignore[attr-defined]
    objective: Node = MISSING
    trace: Node | None = None
    balance: Stage2Balance = Stage2Balance.none  # type: ignore[attr-defined]

    def __post_init__(self) -> None:
        _check(self.lr > 0, "stage2.lr", "> 0", self.lr)
        _check(self.weight_decay >= 0, "stage2.weight_decay", ">= 0", self.weight_decay)
        _check(self.batch_size >= 1, "stage2.batch_size", ">= 1", self.batch_size)
        _check(0.0 <= self.warmup_fraction < 1.0, "stage2.warmup_fraction", "in [0, 1)", self.warmup_fraction)
        _check(self.nominal_epochs >= 1, "stage2.nominal_epochs", ">= 1", self.nominal_epochs)
        _check(self.patience >= 1, "stage2.patience", ">= 1", self.patience)
        if self.trace is not None and str(self.monitor) != "val_ndcg@10":
            raise ConfigError(
                "stage2.trace records the validation retrieval monitor: it needs stage2.monitor=val_ndcg@10"
            )


@dataclass
class MinerConfig:
    """Hard-negative mining; TopK-PercPos with the paper's settings by default."""

    _target_: str = "era_exp.stages.negatives.NegativeMiner"
    strategy: MinerStrategy = MinerStrategy.topk_percpos  # type: ignore[attr-defined]
    n_negatives: int = 5
    top_k: int = 2000
    margin: float = 0.95
    pool: int = 10

    def __post_init__(self) -> None:
        for key in ("n_negatives", "top_k", "pool"):
            _check(getattr(self, key) >= 1, f"miner.{key}", ">= 1", getattr(self, key))
        _check(self.margin > 0, "miner.margin", "> 0", self.margin)


@dataclass
class SettingConfig:
    """What trains and what is scored; the domain it needs is a top-level key (``???`` until set).

    (A ``???`` cannot replace a default in a merge, so the domain keys have none in the schema.)
    """

    name: SettingName = SettingName.in_domain  # type: ignore[attr-defined]


@dataclass
class EvalConfig:
    """Exact search and ranx metrics; ``optimized_metric`` is the one a search maximises."""

    split: EvalSplit = EvalSplit.test  # type: ignore[attr-defined]
    k: int = 100
    metrics: list[str] = field(default_factory=lambda: ["ndcg@10", "map@100", "recall@100", "mrr@100"])
    optimized_metric: str = "ndcg@10"
    backend: SearchBackend = SearchBackend.auto  # type: ignore[attr-defined]
    batch_size: int = 4096

    def __post_init__(self) -> None:
        _check(self.k >= 1, "eval.k", ">= 1", self.k)
        _check(self.batch_size >= 1, "eval.batch_size", ">= 1", self.batch_size)
        _check(bool(self.metrics), "eval.metrics", "a non-empty list", self.metrics)
        _check(
            self.optimized_metric in self.metrics,
            "eval.optimized_metric",
            f"one of eval.metrics {list(self.metrics)}",
            self.optimized_metric,
        )


@dataclass
class RunConfig:
    """One era-run: the groups of conf/run.yaml plus the run's own keys."""

    paths: Node = MISSING
    data: Node = MISSING
    query_embedder: Node = MISSING
    doc_embedder: Node = MISSING
    method: MethodConfig = MISSING
    adapter: AdapterConfig = MISSING
    stage1: AlignmentConfig = MISSING
    stage2: AdaptationConfig = MISSING
    miner: MinerConfig = MISSING
    setting: SettingConfig = MISSING
    eval: EvalConfig = MISSING
    logger: Node = MISSING
    # Fraction of each task's labelled queries Stage 2 trains on (nested prefixes of one shuffle).
    train_ratio: float = 0.2
    # Seed of the query split, alignment sampling, negative mining and training.
    seed: int = 42
    # Held-out domain for setting=lodo, training domain for setting=domain_specific: each setting
    # entry sets both (``???`` where it needs one, so a run that lacks it fails at once).
    holdout_domain: str | None = MISSING
    domain: str | None = MISSING
    # Skip the run when its output folder already holds complete results (resumable sweeps).
    skip_completed: bool = True
    # CPU threads the run computes on; null: what the environment gives (OMP_NUM_THREADS, the
    # parallel launcher's share of the cores per job), at most the usable CPUs. Not in the run key.
    threads: int | None = None
    # Reuse a Stage-1 outcome another run computed from the same inputs (paths.stage1_dir); the
    # numbers are bit-identical either way. Not in the run key.
    reuse_stage1: bool = True

    def __post_init__(self) -> None:
        _check(0.0 < self.train_ratio <= 1.0, "train_ratio", "in (0, 1]", self.train_ratio)
        _check(self.threads is None or self.threads >= 1, "threads", ">= 1 or null", self.threads)
        if self.adapter.init is not None and not self.method.alignment:
            raise ConfigError(
                f"adapter.init must be null for method {self.method.name!r}: a closed-form init is fitted "
                "on Stage-1 alignment pairs, and this method has no Stage 1"
            )


def register_configs() -> None:
    """Put the schema in Hydra's ConfigStore (idempotent); conf/run.yaml names it first."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name=SCHEMA_NAME, node=RunConfig)


def validate(cfg: DictConfig) -> RunConfig:
    """Check a composed run config against the schema's rules; the typed view of it.

    Raises :class:`ConfigError` naming the key: a mandatory value left ``???`` (e.g. ``holdout_domain``
    for ``setting=lodo``), a value out of range, or keys that contradict each other.
    """
    node = cfg.copy()
    with open_dict(node):
        node.pop("hydra", None)
    missing = sorted(OmegaConf.missing_keys(node))
    if missing:
        raise ConfigError(f"missing mandatory value(s): {', '.join(missing)} (set them on the command line)")
    for key in COMPONENTS:
        part = OmegaConf.select(node, key)
        if part is not None and not isinstance(part.get("_target_"), str):
            raise ConfigError(f"{key} must name what it builds with a _target_ (pick an entry of its group)")
    try:
        return OmegaConf.to_object(node)  # type: ignore[return-value]
    except MissingMandatoryValue as err:
        raise ConfigError(f"missing mandatory value: {err.full_key}") from err


def conf_dir() -> Path:
    """The ``conf/`` folder: ``ERA_CONF_DIR``, else the one in the source checkout, else ``./conf``."""
    if "ERA_CONF_DIR" in os.environ:
        return Path(os.environ["ERA_CONF_DIR"]).resolve()
    for parent in Path(__file__).resolve().parents:
        if (parent / "conf" / "run.yaml").is_file():
            return parent / "conf"
    return (Path.cwd() / "conf").resolve()


def compose(
    overrides: Sequence[str] = (),
    config_name: str = "run",
    return_hydra_config: bool = True,
    check: bool = True,
) -> DictConfig:
    """Compose the real config with command-line style overrides, as ``era-run`` would.

    ``check`` validates it (:func:`validate`); a multirun's fixed part alone, which its sweep
    completes, is composed without.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from era_exp.sweep.naming import register_resolvers

    register_configs()
    register_resolvers()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cfg = hydra_compose(config_name, overrides=list(overrides), return_hydra_config=return_hydra_config)
    if check:
        validate(cfg)
    return cfg
