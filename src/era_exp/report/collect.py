"""Find the finished runs of a sweep folder and flatten their results.json into one tidy table.

A run folder counts only when its ``DONE`` marker names the run key inside ``results.json``
(the pipeline writes DONE last), so half-written, crashed and still-running runs are listed, not read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pandas as pd
import yaml

from era_exp.pipeline.plan import MethodStages
from era_exp.pipeline.results import DONE_FILE, ORACLE_FIT, RESULTS_FILE

# Override roots that are grid axes, or say where data and outputs live: never part of a variant.
_NOT_VARIANT = {
    "pair",
    "method",
    "train_ratio",
    "setting",
    "holdout_domain",
    "domain",
    "seed",
    "data",
    "paths",
    "hydra",
    "experiment",
    "logger",
    "skip_completed",
    "hparams_search",
}
# Files or folders whose presence marks a directory as a run folder (finished or not).
_RUN_MARKERS = (RESULTS_FILE, DONE_FILE, ".hydra")
# Methods in the order tables and plots list them; others follow alphabetically.
METHOD_ORDER = ("zero_shot", "align_only", "label_only", "era", "era_plus")
# What runs recorded before ``eval.optimized_metric`` existed optimised.
DEFAULT_OPTIMIZED_METRIC = "ndcg@10"
# The run-level columns of the tidy table, in order.
RUN_COLUMNS = (
    "run_dir",
    "run_key",
    "pair",
    "query_embedder",
    "doc_embedder",
    "query_model_used",
    "method",
    "method_label",
    "train_ratio",
    "setting",
    "holdout_domain",
    "train_domain",
    "seed",
    "eval_split",
)


class Context(NamedTuple):
    """What must match for two runs to be compared: everything but pair, method and train ratio."""

    setting: str
    holdout_domain: str | None
    train_domain: str | None
    seed: int
    eval_split: str

    def label(self) -> str:
        """Short human-readable description, e.g. ``in_domain · seed 42 · eval test``."""
        parts = [self.setting]
        if self.holdout_domain:
            parts.append(f"holdout {self.holdout_domain}")
        if self.train_domain:
            parts.append(f"domain {self.train_domain}")
        parts += [f"seed {self.seed}", f"eval {self.eval_split}"]
        return " · ".join(parts)

    def slug(self) -> str:
        """File-name-safe form of :meth:`label`."""
        return "_".join(str(part) for part in self if part is not None).replace("/", "-").replace(" ", "-")


@dataclass(frozen=True)
class RunRecord:
    """One finished run: its folder and parsed results.json."""

    path: Path
    results: dict

    @property
    def info(self) -> dict:
        """The ``run`` block of results.json (method, embedders, ratio, setting, seed...)."""
        return self.results["run"]

    @property
    def method(self) -> str:
        return self.info["method"]

    @property
    def query_embedder(self) -> str:
        return self.info["query_embedder"]

    @property
    def doc_embedder(self) -> str:
        return self.info["doc_embedder"]

    @property
    def pair(self) -> str:
        """``query_embedder→doc_embedder``."""
        return pair_label(self.query_embedder, self.doc_embedder)

    @property
    def train_ratio(self) -> float | None:
        """The train ratio, or ``None`` when no stage reads the train split (zero_shot, align_only).

        A ratio-free method (:class:`~era_exp.pipeline.plan.MethodStages`) is the same computation at
        every ratio, whatever ratio its grid point recorded.
        """
        ratio = self.info.get("train_ratio")
        method = self.results.get("config", {}).get("method", {"adaptation": True})
        return None if ratio is None or MethodStages.of(method).ratio_free else float(ratio)

    @property
    def overrides(self) -> tuple[str, ...]:
        """The run's command-line overrides (Hydra's ``.hydra/overrides.yaml``) that may set a variant:
        everything but the grid axes and where data and outputs live; empty for runs made without Hydra.
        """
        path = self.path / ".hydra" / "overrides.yaml"
        if not path.is_file():
            return ()
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        return tuple(str(v) for v in values if not _is_axis_or_place(str(v)))

    @property
    def optimized_metric(self) -> str:
        """The run's ``eval.optimized_metric``: the metric its report leads with."""
        evaluation = self.results.get("config", {}).get("eval", {})
        return str(evaluation.get("optimized_metric", DEFAULT_OPTIMIZED_METRIC))

    @property
    def eval_split(self) -> str:
        return str(self.results.get("config", {}).get("eval", {}).get("split", "test"))

    @property
    def context(self) -> Context:
        info = self.info
        return Context(
            info.get("setting", "in_domain"),
            info.get("holdout_domain"),
            info.get("domain"),
            int(info.get("seed", 0)),
            self.eval_split,
        )


@dataclass(frozen=True)
class Incomplete:
    """A run folder that was skipped, and why."""

    path: Path
    reason: str


@dataclass(frozen=True)
class Scan:
    """The outcome of scanning a sweep folder."""

    runs: list[RunRecord]
    incomplete: list[Incomplete]


def _is_axis_or_place(override: str) -> bool:
    key = override.lstrip("+~").split("=", 1)[0]
    return key.split(".", 1)[0].split("/", 1)[0] in _NOT_VARIANT or key == "eval.split"


def pair_label(query_embedder: str, doc_embedder: str) -> str:
    """The pair as shown in tables: ``query→doc``."""
    return f"{query_embedder}→{doc_embedder}"


def method_sort_key(method: str) -> tuple[int, str]:
    """Sort methods in :data:`METHOD_ORDER`, then alphabetically; a variant (``era [adapter=ridge]``)
    sorts with its method."""
    base = method.split(" [", 1)[0]
    return (METHOD_ORDER.index(base) if base in METHOD_ORDER else len(METHOD_ORDER), method)


def method_labels(runs: Iterable[RunRecord]) -> dict[Path, str]:
    """Each run's method as tables name it: the method, and for an ablation sweep its variant.

    The variant is the run's overrides that not every run of the sweep shares (``era [adapter=ridge]``,
    ``era [miner=random stage2.objective.in_batch_negatives=true]``); runs without one keep the bare name.
    """
    runs = list(runs)
    common = set.intersection(*(set(r.overrides) for r in runs)) if runs else set()
    labels = {}
    for record in runs:
        variant = [o for o in record.overrides if o not in common]
        labels[record.path] = f"{record.method} [{' '.join(variant)}]" if variant else record.method
    return labels


def scan_sweep(sweep_dir: Path, exclude: Path | None = None) -> Scan:
    """Every run folder under ``sweep_dir`` (itself included), split into finished and skipped ones."""
    folders: set[Path] = set()
    for marker in _RUN_MARKERS:
        folders.update(hit.parent for hit in sweep_dir.rglob(marker))
    if exclude is not None:
        exclude = exclude.resolve()
        folders = {f for f in folders if not f.resolve().is_relative_to(exclude)}
    runs, incomplete = [], []
    for folder in sorted(folders):
        record = _read_run(folder)
        if isinstance(record, RunRecord):
            runs.append(record)
        else:
            incomplete.append(Incomplete(folder, record))
    return Scan(runs, incomplete)


def _read_run(folder: Path) -> RunRecord | str:
    """The folder's finished run, or the reason it is not one."""
    results_path, done_path = folder / RESULTS_FILE, folder / DONE_FILE
    if not results_path.is_file():
        return "no results.json (unfinished or failed)"
    if not done_path.is_file():
        return "no DONE marker (results.json not confirmed)"
    try:
        results = json.loads(results_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return f"{results_path}: unreadable ({error})"
    missing = [key for key in ("run_key", "run", "overall", "per_domain", "per_task") if key not in results]
    if missing:
        return f"{results_path}: missing keys {missing}"
    if done_path.read_text(encoding="utf-8").strip() != results["run_key"]:
        return "DONE marker names another run key than results.json"
    if ORACLE_FIT in results:
        return "an oracle fit (Stage 2 trained on the test split it scores): never a result"
    return RunRecord(folder, results)


def tidy_frame(runs: list[RunRecord], root: Path) -> pd.DataFrame:
    """One row per run × task, plus one per run × domain and one per run overall (column ``level``).

    ``train_domain`` is the run's ``domain`` (the training domain of setting=domain_specific);
    ``domain`` is the domain of the row's task (or of the domain row).
    """
    rows: list[dict] = []
    labels = method_labels(runs)
    for record in runs:
        base = {**_run_columns(record, root), "method_label": labels[record.path]}
        results = record.results
        for task, values in results["per_task"].items():
            rows.append({**base, "level": "task", "task": task, **_task_counts(results, task), **values})
        for domain, values in results["per_domain"].items():
            rows.append({**base, "level": "domain", "task": None, "domain": domain, **values})
        rows.append({**base, "level": "overall", "task": None, "domain": None, **results["overall"]})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=[*RUN_COLUMNS, "level", "task", "domain"])
    for count in {"num_queries", "num_tasks", "num_domains"} & set(frame.columns):
        frame[count] = frame[count].astype("Int64")  # counts stay integers next to missing values
    leading = [*RUN_COLUMNS, "level", "task", "domain", "num_queries"]
    return frame[leading + [c for c in frame.columns if c not in leading]]


def _run_columns(record: RunRecord, root: Path) -> dict:
    info = record.info
    return {
        "run_dir": str(record.path.relative_to(root))
        if record.path.is_relative_to(root)
        else str(record.path),
        "run_key": record.results["run_key"],
        "pair": record.pair,
        "query_embedder": record.query_embedder,
        "doc_embedder": record.doc_embedder,
        "query_model_used": info.get("query_model_used"),
        "method": record.method,
        "train_ratio": record.train_ratio,
        "setting": record.context.setting,
        "holdout_domain": record.context.holdout_domain,
        "train_domain": record.context.train_domain,
        "seed": record.context.seed,
        "eval_split": record.eval_split,
    }


def _task_counts(results: dict, task: str) -> dict:
    """Scored queries of a task, summed over its evaluation units (``Task`` or ``Task/sub``)."""
    units = [
        v for unit, v in results.get("per_unit", {}).items() if unit == task or unit.startswith(f"{task}/")
    ]
    if not units:
        return {}
    return {"num_queries": sum(int(unit.get("num_queries", 0)) for unit in units)}
