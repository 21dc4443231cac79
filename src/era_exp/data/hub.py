"""Load MAIR tasks with ``datasets.load_dataset`` from the hub or from a local mirror of its two repos.

Each task is one dataset config of ``MAIR-Bench/MAIR-Queries`` and ``MAIR-Bench/MAIR-Docs``. A task's
query split ``queries`` pairs with doc split ``docs``; a multi-split task has ``<sub>_queries`` /
``<sub>_docs`` pairs, which become sub-splits exactly as sub-folders do for the local loader.

``queries`` / ``docs`` name a hub dataset id or a local folder holding a copy of that repo (a
``README.md`` whose ``configs:`` name the per-task files, as ``huggingface-cli download --local-dir``
writes it); both go through the same ``load_dataset`` call. Offline (``HF_HUB_OFFLINE=1``),
``datasets`` reads its own cache and only a task missing from it fails.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from era_exp.data.assemble import (
    CorpusPool,
    DocColumns,
    LoadReport,
    Part,
    Rows,
    assemble_tasks,
    check_multi_split,
)
from era_exp.data.errors import DataError
from era_exp.data.registry import MAIR_TASKS, check_domains, check_task_names, domain_of
from era_exp.data.schema import Task

log = logging.getLogger(__name__)

QUERIES_REPO = "MAIR-Bench/MAIR-Queries"
DOCS_REPO = "MAIR-Bench/MAIR-Docs"
OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
_TRUE = {"1", "true", "yes", "on"}
_COMMIT = re.compile(r"[0-9a-f]{40}")
# Where `huggingface-cli download --local-dir` records the commit each file came from.
_DOWNLOAD_METADATA = Path(".cache", "huggingface", "download")


def offline_mode() -> str | None:
    """The variable that puts the hub offline (``HF_HUB_OFFLINE=1``), or None when online."""
    for var in OFFLINE_VARS:
        if os.environ.get(var, "").strip().lower() in _TRUE:
            return f"{var}={os.environ[var]}"
    return None


def is_local(location: str) -> bool:
    """Whether ``location`` is a folder on disk (a mirror) rather than a hub dataset id."""
    return Path(location).expanduser().is_dir()


def is_commit(revision: str | None) -> bool:
    """Whether ``revision`` is a full commit hash (which names one content for good)."""
    return revision is not None and bool(_COMMIT.fullmatch(revision))


def mirror_commit(folder: str | Path) -> str | None:
    """The commit a ``huggingface-cli download --local-dir`` mirror was taken at, if it recorded one."""
    metadata = Path(folder).expanduser() / _DOWNLOAD_METADATA / "README.md.metadata"
    try:
        first = metadata.read_text(encoding="utf-8").splitlines()[0].strip()
    except (OSError, IndexError):
        return None
    return first if is_commit(first) else None


@dataclass(frozen=True)
class Loaded:
    """One repo's ``DatasetDict`` for one task, with the revision that was actually read."""

    location: str
    splits: Any
    revision: str | None


def _check_mirror_revision(folder: str, revision: str | None, task: str) -> str | None:
    """The mirror's recorded commit; a pinned ``revision`` must match it."""
    recorded = mirror_commit(folder)
    if revision is None or recorded == revision:
        return recorded
    if recorded is None:
        raise DataError(
            f"{folder}: task {task!r}: revision {revision!r} is pinned, but this local folder records no "
            "revision (no .cache/huggingface/download metadata); set the revision to null to read it as is"
        )
    raise DataError(
        f"{folder}: task {task!r}: the folder is a copy of revision {recorded}, but revision {revision!r} is "
        "pinned; download the pinned revision or set the revision to null"
    )


def mirror_cache_dir(folder: str | Path, task: str, cache_dir: str | None) -> str:
    """The datasets cache folder of one mirror's task, named by what its files are on disk.

    ``datasets`` names a local folder's cache after the folder's base name and its README configs
    only, so two mirrors called ``MAIR-Docs``, or one mirror updated in place, would share Arrow files
    and serve the first copy's rows. Each task of a mirror is cached under a key of its files'
    absolute paths, sizes and modification times instead; an updated mirror is read afresh.
    """
    from datasets import config

    stats = hashlib.sha256()
    for name, path in mirror_task_files(folder, task):
        stat = path.stat()
        stats.update(f"{path.resolve()}\0{name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    base = Path(cache_dir) if cache_dir else Path(config.HF_DATASETS_CACHE)
    return str(base / "mirrors" / stats.hexdigest()[:20])


def _resolved_from_cache(splits: Any) -> str | None:
    """The commit ``datasets`` read a hub dataset at: its cache folder is ``<config>/<version>/<commit>``."""
    for dataset in splits.values():
        for cache_file in dataset.cache_files:
            name = Path(cache_file["filename"]).parent.name
            if is_commit(name):
                return name
    return None


def load_repo(location: str, task: str, revision: str | None, cache_dir: str | None) -> Loaded:
    """``load_dataset(location, task)`` with errors that name the task and say what to do.

    Connection failures are the ones ``datasets`` reports (``ConnectionError``) or the transport
    errors of the HTTP client beneath it, so proxies and endpoints are honoured as configured.
    """
    from datasets import load_dataset
    from httpx import TransportError

    local = is_local(location)
    recorded = _check_mirror_revision(location, revision, task) if local else None
    offline = offline_mode()
    try:
        splits = load_dataset(
            str(Path(location).expanduser()) if local else location,
            task,
            revision=None if local else revision,
            cache_dir=mirror_cache_dir(location, task, cache_dir) if local else cache_dir,
        )
    except (OSError, TransportError, ValueError) as err:
        reason = f"{type(err).__name__}: {err}"
        if offline and not local:
            raise DataError(
                f"{location}[{task}]: task {task!r} is not in the datasets cache"
                f"{f' ({cache_dir})' if cache_dir else ''} and {offline} is set ({reason}); run once online "
                "to fill the cache, or point data.queries / data.docs at a local mirror"
            ) from None
        if isinstance(err, ConnectionError | TimeoutError | TransportError):
            raise DataError(
                f"{location}[{task}]: cannot reach the hub for task {task!r} ({reason}); check the network "
                "or proxy settings, set HF_HUB_OFFLINE=1 to read the datasets cache, or point data.queries / "
                "data.docs at a local mirror"
            ) from None
        message = f"{location}[{task}]: cannot load task {task!r} at revision {revision!r} ({reason})"
        raise DataError(message) from None
    if local:
        return Loaded(location, splits, recorded)
    resolved = _resolved_from_cache(splits)
    if is_commit(revision) and resolved is not None and resolved != revision:
        raise DataError(
            f"{location}[{task}]: the datasets cache holds revision {resolved}, but revision {revision} is "
            f"pinned{f' and {offline} is set' if offline else ''}; go online once to fetch the pinned "
            "revision, or set the revision to null to use the cached one"
        )
    return Loaded(location, splits, resolved or revision)


def _rows(dataset: Any, batch_size: int = 10_000) -> Rows:
    """``(row number, row dict)`` of a ``datasets.Dataset``, read a column batch at a time."""
    number = 0
    for batch in dataset.iter(batch_size=batch_size):
        columns = list(batch)
        for values in zip(*(batch[c] for c in columns), strict=True):
            number += 1
            yield number, dict(zip(columns, values, strict=True))


def _arrow_files(dataset: Any) -> list[str]:
    """The Arrow files a freshly loaded ``datasets.Dataset`` reads, in order (empty when in memory)."""
    if getattr(dataset, "_indices", None) is not None:
        return []
    return [entry["filename"] for entry in dataset.cache_files]


def _doc_columns(files: Sequence[str]) -> DocColumns:
    """Read the ``id`` and ``doc`` columns of a split's Arrow files again, memory-mapped and let go.

    No ``datasets.Dataset`` is kept alive between reads: pages of a memory map count as resident
    memory once touched, so every corpus read once would stay in a run's footprint.
    """

    def read(rows: Sequence[int] | None) -> tuple[list[Any], list[str]]:
        import pyarrow as pa

        tables = []
        for name in files:
            with pa.memory_map(name) as source:
                tables.append(pa.ipc.open_stream(source).read_all().select(["id", "doc"]))
        table = pa.concat_tables(tables)
        if rows is not None:
            table = table.take(pa.array(rows, type=pa.int64()))
        return table.column("id").to_pylist(), table.column("doc").to_pylist()

    return read


def _parts(task: str, queries: Loaded, docs: Loaded) -> list[Part]:
    """Pair query and doc splits the way MAIR's evaluator does, in the order it iterates them: the
    dataset's own split order (its card's), which fixes the query order the split protocol shuffles.
    """
    source_q, source_d = f"{queries.location}[{task}]", f"{docs.location}[{task}]"
    splits = list(queries.splits)
    if splits == ["queries"]:
        pairs = [(None, "queries", "docs")]
    else:
        odd = [s for s in splits if not s.endswith("_queries")]
        if odd:
            raise DataError(f"{source_q}: splits {odd} are neither 'queries' nor '<sub>_queries'")
        pairs = [(s.removesuffix("_queries"), s, s.removesuffix("_queries") + "_docs") for s in splits]
    parts = []
    for sub, q_split, d_split in pairs:
        if d_split not in docs.splits:
            raise DataError(
                f"{source_d}: no split {d_split!r} for query split {q_split!r} (has {sorted(docs.splits)})"
            )
        files = _arrow_files(docs.splits[d_split])
        parts.append(
            Part(
                sub=sub,
                query_source=f"{source_q}/{q_split}",
                query_rows=lambda ds=queries.splits[q_split]: _rows(ds),
                doc_source=f"{source_d}/{d_split}",
                doc_rows=lambda ds=docs.splits[d_split]: _rows(ds),
                doc_columns=_doc_columns(files) if files else None,
            )
        )
    return parts


def select_hub_tasks(
    names: str | Iterable[str] | None = None, domains: str | Iterable[str] | None = None
) -> list[str]:
    """MAIR task names chosen by ``names`` and/or ``domains`` (all 126 by default), checked, never empty."""
    chosen = (
        list(MAIR_TASKS) if names is None else check_task_names([names] if isinstance(names, str) else names)
    )
    wanted = None if domains is None else check_domains([domains] if isinstance(domains, str) else domains)
    if wanted is not None:
        chosen = [task for task in chosen if MAIR_TASKS[task] in wanted]
    if not chosen:
        given = None if names is None else list([names] if isinstance(names, str) else names)
        raise DataError(
            f"the task selection matched no MAIR task (tasks={given}, domains={wanted}); name tasks in "
            "data.tasks, or leave it null for every task of the selected domains"
        )
    return chosen


def load_hub_tasks(
    names: str | Iterable[str] | None = None,
    domains: str | Iterable[str] | None = None,
    strict: bool = True,
    multi_split: str = "per_split",
    cache_dir: str | None = None,
    *,
    queries: str = QUERIES_REPO,
    docs: str = DOCS_REPO,
    queries_revision: str | None = None,
    docs_revision: str | None = None,
    report: LoadReport | None = None,
    revisions: dict[str, dict[str, str | None]] | None = None,
    pool: CorpusPool | None = None,
) -> list[Task]:
    """Validated MAIR tasks, chosen by ``names`` and/or ``domains`` (all 126 by default).

    Names and domains are checked before ``datasets`` is touched, so a typo fails within seconds.
    Validation and multi-split handling are those of the local loader. ``revisions`` receives, per
    task, the revision of each repo that was read (``{"queries": ..., "docs": ...}``). Each task's
    datasets are let go once it is read; its corpora read their Arrow files again when asked after
    their rows were let go (within the budget of ``pool``, a :class:`~era_exp.data.assemble.CorpusPool`).
    """
    check_multi_split(multi_split)
    chosen = select_hub_tasks(names, domains)
    pool = pool if pool is not None else CorpusPool()
    tasks: list[Task] = []
    for task in chosen:
        loaded_q = load_repo(queries, task, queries_revision, cache_dir)
        loaded_d = load_repo(docs, task, docs_revision, cache_dir)
        if revisions is not None:
            revisions[task] = {"queries": loaded_q.revision, "docs": loaded_d.revision}
        parts = _parts(task, loaded_q, loaded_d)
        tasks += assemble_tasks(task, domain_of(task), parts, strict, multi_split, pool, report)
        del loaded_q, loaded_d, parts
    return tasks


def _front_matter(readme: Path) -> dict:
    """The YAML block at the top of a dataset card (empty when there is none), parsed once per version."""
    stat = readme.stat()
    return _parsed_front_matter(str(readme), stat.st_size, stat.st_mtime_ns)


@cache
def _parsed_front_matter(readme: str, size: int, mtime_ns: int) -> dict:
    """``size`` and ``mtime_ns`` key the cache, so an edited card is parsed again."""
    import yaml

    text = Path(readme).read_text(encoding="utf-8")
    if not text.startswith("---"):
        return {}
    block = text.split("---", 2)
    try:
        meta = yaml.safe_load(block[1]) if len(block) == 3 else None
    except yaml.YAMLError as err:
        raise DataError(f"{readme}: malformed YAML header: {err}") from None
    return meta if isinstance(meta, dict) else {}


def _patterns(data_files: Any) -> list[str]:
    """File patterns of one ``configs:`` entry's ``data_files`` (a string, a list, or split/path items)."""
    if isinstance(data_files, str):
        return [data_files]
    patterns: list[str] = []
    for item in data_files or []:
        if isinstance(item, str):
            patterns.append(item)
        elif isinstance(item, dict):
            path = item.get("path", [])
            patterns += [path] if isinstance(path, str) else list(path)
    return patterns


def mirror_task_files(folder: str | Path, task: str) -> list[tuple[str, Path]]:
    """The files a mirror's ``README.md`` names for config ``task``, relative to the folder, sorted."""
    root = Path(folder).expanduser()
    readme = root / "README.md"
    if not readme.is_file():
        raise DataError(f"{root}: no README.md; a mirror of a dataset repo needs its card with 'configs:'")
    for entry in _front_matter(readme).get("configs") or []:
        if isinstance(entry, dict) and entry.get("config_name") == task:
            files = {path for pattern in _patterns(entry.get("data_files")) for path in root.glob(pattern)}
            named = sorted((path.relative_to(root).as_posix(), path) for path in files if path.is_file())
            return [("README.md", readme), *named]
    raise DataError(f"{readme}: no config {task!r} under 'configs:'")


_REMOTE_COMMITS: dict[tuple[str, str], str] = {}


def resolve_revision(location: str, task: str, revision: str | None, cache_dir: str | None) -> str | None:
    """The commit a hub dataset would be read at, without reading it (None when it cannot be told).

    A full commit hash is itself. Offline, it is the newest commit of the task in the datasets cache
    (the one ``datasets`` reads); online, the hub's answer for the branch or tag.
    """
    if is_commit(revision):
        return revision
    if offline_mode():
        from datasets import config
        from datasets.naming import camelcase_to_snakecase

        namespace, _, name = location.rpartition("/")  # datasets' cache folder: <namespace>___<snake_name>
        snake = camelcase_to_snakecase(name)
        folder = f"{namespace}___{snake}" if namespace else snake
        base = Path(cache_dir or config.HF_DATASETS_CACHE).expanduser() / folder / task
        cached = [path for path in base.glob("*/*") if path.is_dir() and is_commit(path.name)]
        return max(cached, key=lambda path: path.stat().st_mtime).name if cached else None
    key = (location, revision or "main")
    if key not in _REMOTE_COMMITS:
        from huggingface_hub import HfApi

        try:
            _REMOTE_COMMITS[key] = HfApi().dataset_info(location, revision=revision).sha
        except Exception as err:  # any failure to ask leaves it unresolved; loading then says why
            log.warning("%s: revision %r unresolved (%s: %s)", location, revision, type(err).__name__, err)
            return None
    return _REMOTE_COMMITS[key]
