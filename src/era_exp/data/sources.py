"""Task sources a config can name with ``_target_``; each gives its tasks through ``.load()``."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from era_exp.data.builtin import stdlib_codesearch_task
from era_exp.data.errors import DataError
from era_exp.data.hub import load_hub_tasks
from era_exp.data.local import load_local_tasks
from era_exp.data.schema import Task


def _names(value: str | Iterable[str] | None) -> tuple[str, ...] | None:
    """A config's list (or single string) of names as a tuple of strings; None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


class LocalSource:
    """Tasks in a folder in MAIR's on-disk format (see :func:`load_local_tasks`)."""

    def __init__(
        self,
        root: str | Path,
        tasks: str | Iterable[str] | None = None,
        domains: str | Iterable[str] | None = None,
        strict: bool = True,
        multi_split: str = "per_split",
    ) -> None:
        self.root = Path(root)
        self.tasks = _names(tasks)
        self.domains = _names(domains)
        self.strict = bool(strict)
        self.multi_split = multi_split

    def load(self) -> list[Task]:
        """The selected, validated tasks."""
        if not self.root.is_dir():
            raise DataError(f"data folder {self.root} does not exist (resolved to {self.root.absolute()})")
        return load_local_tasks(self.root, self.tasks, self.domains, self.strict, self.multi_split)

    def __repr__(self) -> str:
        return f"LocalSource(root={str(self.root)!r}, tasks={self.tasks}, domains={self.domains})"


class HubSource:
    """MAIR tasks from the Hugging Face hub (see :func:`load_hub_tasks`); needs network access."""

    def __init__(
        self,
        tasks: str | Iterable[str] | None = None,
        domains: str | Iterable[str] | None = None,
        strict: bool = True,
        multi_split: str = "per_split",
        cache_dir: str | None = None,
        revision: str | None = None,
    ) -> None:
        self.tasks = _names(tasks)
        self.domains = _names(domains)
        self.strict = bool(strict)
        self.multi_split = multi_split
        self.cache_dir = cache_dir
        self.revision = revision

    def load(self) -> list[Task]:
        """The selected, validated tasks, downloaded (or read from the datasets cache)."""
        return load_hub_tasks(
            self.tasks, self.domains, self.strict, self.multi_split, self.cache_dir, self.revision
        )

    def __repr__(self) -> str:
        return f"HubSource(tasks={self.tasks}, domains={self.domains})"


class BuiltinSource:
    """The ``stdlib-codesearch`` task generated from the running Python's standard library."""

    def __init__(self, max_queries: int | None = None) -> None:
        self.max_queries = None if max_queries is None else int(max_queries)

    def load(self) -> list[Task]:
        """A one-task list."""
        return [stdlib_codesearch_task(self.max_queries)]

    def __repr__(self) -> str:
        return f"BuiltinSource(max_queries={self.max_queries})"
