"""Load tasks from a folder in MAIR's on-disk format.

Layout: ``<root>/<Task>/queries.jsonl`` + ``docs.jsonl``, or for a multi-split task
``<root>/<Task>/<sub>/queries.jsonl`` + ``docs.jsonl``; an optional ``<root>/tasks.json`` gives each
task's domain (needed for tasks MAIR does not list, such as derived proxies).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from era_exp.data.assemble import (
    CorpusPool,
    LoadReport,
    Part,
    assemble_tasks,
    check_multi_split,
)
from era_exp.data.errors import DataError, UnknownTaskError
from era_exp.data.registry import DOMAINS, MAIR_TASKS, check_domains, suggest
from era_exp.data.schema import Task

QUERIES_FILE = "queries.jsonl"
DOCS_FILE = "docs.jsonl"
TASKS_FILE = "tasks.json"


def read_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    """``(line number, parsed value)`` per non-blank line; malformed lines raise DataError with path:line."""
    with open(path, "rb") as handle:
        for line_number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                yield line_number, json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(
                    f"{path}:{line_number}: malformed JSON: {err.msg} (column {err.colno})"
                ) from None
            except UnicodeDecodeError as err:
                raise DataError(f"{path}:{line_number}: not UTF-8 text: {err.reason}") from None


def _read_task_domains(root: Path) -> dict[str, str]:
    """Task -> domain from ``<root>/tasks.json`` (empty when the file is absent)."""
    path = root / TASKS_FILE
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_bytes())
    except json.JSONDecodeError as err:
        raise DataError(f"{path}:{err.lineno}: malformed JSON: {err.msg}") from None
    if not isinstance(meta, dict):
        raise DataError(f"{path}: expected an object mapping task names to their details")
    domains = {}
    for name, entry in meta.items():
        if not isinstance(entry, dict) or "domain" not in entry:
            continue
        domain = entry["domain"]
        if domain not in DOMAINS:
            raise DataError(
                f"{path}: task {name!r}: field 'domain' must be one of {list(DOMAINS)}, got {domain!r}"
            )
        domains[name] = domain
    return domains


def _task_folders(root: Path) -> dict[str, list[str] | None]:
    """Task folder -> its sub-split folders (None for a single-split task), in sorted order."""
    folders: dict[str, list[str] | None] = {}
    for child in sorted(root.iterdir()):
        if not child.is_dir() or child.name.startswith((".", "_")):
            continue
        if (child / QUERIES_FILE).is_file():
            folders[child.name] = None
            continue
        subs = sorted(
            sub.name
            for sub in child.iterdir()
            if not sub.name.startswith(".") and (sub / QUERIES_FILE).is_file()
        )
        if subs:
            folders[child.name] = subs
    return folders


def _as_list(value: str | Iterable[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _select(
    root: Path,
    folders: dict[str, list[str] | None],
    task_domains: dict[str, str],
    names: list[str] | None,
    domains: list[str] | None,
) -> list[tuple[str, str]]:
    """``(task, domain)`` pairs chosen by name and/or domain; every task folder when neither is given."""
    if names is None:
        chosen = list(folders)
    else:
        chosen = list(dict.fromkeys(names))
        for name in chosen:
            if name in folders:
                continue
            if name in MAIR_TASKS:
                raise DataError(f"{root}: MAIR task {name!r} has no folder here (tasks: {sorted(folders)})")
            matches = suggest(name, set(folders) | set(MAIR_TASKS))
            hint = f"; did you mean {', '.join(repr(m) for m in matches)}?" if matches else ""
            raise UnknownTaskError(f"{root}: unknown task {name!r}{hint} (tasks here: {sorted(folders)})")
    selected = []
    for name in chosen:
        domain = task_domains.get(name) or MAIR_TASKS.get(name)
        if domain is None:
            raise DataError(
                f"{root / name}: task {name!r} is not a MAIR task "
                f"and {root / TASKS_FILE} gives no domain for it"
            )
        if domains is None or domain in domains:
            selected.append((name, domain))
    if not selected:
        raise DataError(
            f"{root}: the task selection matched no task (tasks={names}, domains={domains}; "
            f"task folders here: {sorted(folders)})"
        )
    return selected


def _parts(folder: Path, subs: list[str] | None) -> list[Part]:
    split_folders = [(None, folder)] if subs is None else [(sub, folder / sub) for sub in subs]
    parts = []
    for sub, split_folder in split_folders:
        queries, docs = split_folder / QUERIES_FILE, split_folder / DOCS_FILE
        if not docs.is_file():
            raise DataError(f"{split_folder}: has {QUERIES_FILE} but no {DOCS_FILE}")
        parts.append(
            Part(
                sub=sub,
                query_source=str(queries),
                query_rows=lambda path=queries: read_jsonl(path),
                doc_source=str(docs),
                doc_rows=lambda path=docs: read_jsonl(path),
            )
        )
    return parts


def select_local_tasks(
    root: str | Path, names: str | Iterable[str] | None = None, domains: str | Iterable[str] | None = None
) -> list[tuple[str, str]]:
    """``(task, domain)`` of the task folders under ``root`` chosen by ``names`` and/or ``domains``.

    Reads folder names and ``tasks.json`` only; a selection that matches no task is an error.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: task data folder does not exist")
    domain_list = _as_list(domains)
    if domain_list is not None:
        domain_list = check_domains(domain_list)
    folders = _task_folders(root)
    if not folders:
        raise DataError(f"{root}: no task folders (expected <Task>/{QUERIES_FILE} and <Task>/{DOCS_FILE})")
    return _select(root, folders, _read_task_domains(root), _as_list(names), domain_list)


def load_local_tasks(
    root: str | Path,
    names: str | Iterable[str] | None = None,
    domains: str | Iterable[str] | None = None,
    strict: bool = True,
    multi_split: str = "per_split",
    report: LoadReport | None = None,
    pool: CorpusPool | None = None,
) -> list[Task]:
    """Validated tasks from ``root``, chosen by ``names`` and/or ``domains`` (all task folders by default).

    ``strict=False`` drops or merges bad rows (duplicates, empty texts, null instructions, negative or
    dangling labels) with a count per kind, logged and kept in ``report``, instead of failing.
    Multi-split tasks give one Task per sub-split (``per_split``, MAIR's evaluator) or one Task with
    ``sub/``-prefixed ids (``merged``). Identical corpora of one group are one object; its rows are
    kept in memory within the budget of ``pool`` and read from the file again when asked after that.
    """
    check_multi_split(multi_split)
    root = Path(root)
    selected = select_local_tasks(root, names, domains)
    folders = _task_folders(root)
    pool = pool if pool is not None else CorpusPool()
    tasks: list[Task] = []
    for name, domain in selected:
        parts = _parts(root / name, folders[name])
        tasks += assemble_tasks(name, domain, parts, strict, multi_split, pool, report)
    return tasks
