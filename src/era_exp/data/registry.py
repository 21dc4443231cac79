"""MAIR's task list: the 126 tasks, their domains, and the groups of tasks that share one corpus."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable
from importlib import resources

from era_exp.data.errors import UnknownTaskError

__all__ = [
    "DOMAINS",
    "MAIR_TASKS",
    "SHARED_CORPORA",
    "UnknownTaskError",
    "check_domains",
    "check_task_names",
    "corpus_group",
    "domain_of",
    "suggest",
]

_REGISTRY = json.loads(resources.files("era_exp.data").joinpath("mair_tasks.json").read_text("utf-8"))

MAIR_TASKS: dict[str, str] = dict(_REGISTRY["tasks"])
DOMAINS: tuple[str, ...] = tuple(_REGISTRY["domains"])
SHARED_CORPORA: dict[str, tuple[str, ...]] = {
    group: tuple(tasks) for group, tasks in _REGISTRY["shared_corpora"].items()
}
_GROUP_OF: dict[str, str] = {task: group for group, tasks in SHARED_CORPORA.items() for task in tasks}


def suggest(name: str, known: Iterable[str], n: int = 3) -> list[str]:
    """Close matches of ``name`` among ``known``, compared case-insensitively."""
    by_lower: dict[str, str] = {}
    for candidate in sorted(known):
        by_lower.setdefault(candidate.lower(), candidate)
    matches = difflib.get_close_matches(name.lower(), list(by_lower), n=n, cutoff=0.6)
    return [by_lower[m] for m in matches]


def _unknown_message(kind: str, name: str, known: Iterable[str]) -> str:
    matches = suggest(name, known)
    hint = f"; did you mean {', '.join(repr(m) for m in matches)}?" if matches else ""
    return f"unknown {kind} {name!r}{hint}"


def domain_of(task: str) -> str:
    """MAIR domain of ``task`` (UnknownTaskError with suggestions when it is not a MAIR task)."""
    try:
        return MAIR_TASKS[task]
    except KeyError:
        raise UnknownTaskError(_unknown_message("MAIR task", task, MAIR_TASKS)) from None


def corpus_group(task: str) -> str:
    """Name of the shared corpus ``task`` uses, or the task itself when its corpus is its own."""
    return _GROUP_OF.get(task, task)


def check_task_names(names: Iterable[str], extra: Iterable[str] = ()) -> list[str]:
    """Return ``names`` (order kept, duplicates dropped) if each is a MAIR task or in ``extra``.

    Raises UnknownTaskError listing every unknown name with close matches, so a typo fails before any
    data is read.
    """
    known = set(MAIR_TASKS) | set(extra)
    checked = list(dict.fromkeys(names))
    unknown = [name for name in checked if name not in known]
    if unknown:
        raise UnknownTaskError("; ".join(_unknown_message("task", name, known) for name in unknown))
    return checked


def check_domains(domains: Iterable[str]) -> list[str]:
    """Return ``domains`` (order kept, duplicates dropped) if each is a MAIR domain."""
    checked = list(dict.fromkeys(domains))
    unknown = [d for d in checked if d not in DOMAINS]
    if unknown:
        raise UnknownTaskError(
            "; ".join(_unknown_message("domain", d, DOMAINS) for d in unknown)
            + f" (domains: {list(DOMAINS)})"
        )
    return checked
