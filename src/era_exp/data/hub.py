"""Load MAIR tasks from the Hugging Face hub (``MAIR-Bench/MAIR-Queries``, ``MAIR-Bench/MAIR-Docs``).

Each task is one dataset config. A task's query split ``queries`` pairs with doc split ``docs``; a
multi-split task has ``<sub>_queries`` / ``<sub>_docs`` pairs, which become sub-splits exactly as
sub-folders do for the local loader.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from era_exp.data.assemble import CorpusPool, Part, Rows, assemble_tasks, check_multi_split
from era_exp.data.errors import DataError
from era_exp.data.registry import MAIR_TASKS, check_domains, check_task_names, domain_of
from era_exp.data.schema import Task

QUERIES_REPO = "MAIR-Bench/MAIR-Queries"
DOCS_REPO = "MAIR-Bench/MAIR-Docs"
OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
_TRUE = {"1", "true", "yes", "on"}


def ensure_hub_reachable(timeout: float = 3.0) -> None:
    """Fail fast with DataError when offline mode is set or the hub does not answer within ``timeout``."""
    for var in OFFLINE_VARS:
        value = os.environ.get(var, "")
        if value.strip().lower() in _TRUE:
            raise DataError(
                f"the hub data source needs network access, but {var}={value} is set; unset it, "
                "or use MAIR-format files on disk with the local source (data=local data.root=<folder>)"
            )
    endpoint = urlsplit(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host = endpoint.hostname or "huggingface.co"
    port = endpoint.port or (80 if endpoint.scheme == "http" else 443)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as err:
        raise DataError(
            f"cannot reach {host}:{port} within {timeout:g} s ({err}); the hub data source needs network "
            "access; use MAIR-format files on disk with the local source (data=local data.root=<folder>)"
        ) from None


def _rows(dataset: Any, batch_size: int = 10_000) -> Rows:
    """``(row number, row dict)`` of a ``datasets.Dataset``, read a column batch at a time."""
    number = 0
    for batch in dataset.iter(batch_size=batch_size):
        columns = list(batch)
        for values in zip(*(batch[c] for c in columns), strict=True):
            number += 1
            yield number, dict(zip(columns, values, strict=True))


def _parts(task: str, queries: Any, docs: Any) -> list[Part]:
    """Pair query and doc splits the way MAIR's evaluator does."""
    source_q, source_d = f"{QUERIES_REPO}[{task}]", f"{DOCS_REPO}[{task}]"
    splits = sorted(queries)
    if splits == ["queries"]:
        pairs = [(None, "queries", "docs")]
    else:
        odd = [s for s in splits if not s.endswith("_queries")]
        if odd:
            raise DataError(f"{source_q}: splits {odd} are neither 'queries' nor '<sub>_queries'")
        pairs = [(s.removesuffix("_queries"), s, s.removesuffix("_queries") + "_docs") for s in splits]
    parts = []
    for sub, q_split, d_split in pairs:
        if d_split not in docs:
            raise DataError(
                f"{source_d}: no split {d_split!r} for query split {q_split!r} (has {sorted(docs)})"
            )
        parts.append(
            Part(
                sub=sub,
                query_source=f"{source_q}/{q_split}",
                query_rows=lambda ds=queries[q_split]: _rows(ds),
                doc_source=f"{source_d}/{d_split}",
                doc_rows=lambda ds=docs[d_split]: _rows(ds),
            )
        )
    return parts


def load_hub_tasks(
    names: str | Iterable[str] | None = None,
    domains: str | Iterable[str] | None = None,
    strict: bool = True,
    multi_split: str = "per_split",
    cache_dir: str | None = None,
    revision: str | None = None,
) -> list[Task]:
    """Validated MAIR tasks from the hub, chosen by ``names`` and/or ``domains`` (all 126 by default).

    Names and domains are checked and the hub's reachability tested before ``datasets`` is touched, so
    a typo or a missing network fails within seconds. Validation and multi-split handling are those of
    the local loader.
    """
    check_multi_split(multi_split)
    chosen = (
        list(MAIR_TASKS) if names is None else check_task_names([names] if isinstance(names, str) else names)
    )
    if domains is not None:
        wanted = set(check_domains([domains] if isinstance(domains, str) else domains))
        chosen = [task for task in chosen if MAIR_TASKS[task] in wanted]
    ensure_hub_reachable()
    from datasets import load_dataset

    pool = CorpusPool()
    tasks: list[Task] = []
    for task in chosen:
        queries = load_dataset(QUERIES_REPO, task, cache_dir=cache_dir, revision=revision)
        docs = load_dataset(DOCS_REPO, task, cache_dir=cache_dir, revision=revision)
        tasks += assemble_tasks(task, domain_of(task), _parts(task, queries, docs), strict, multi_split, pool)
    return tasks
