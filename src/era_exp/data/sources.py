"""Task sources a config can name with ``_target_``.

Each gives its tasks through ``.load()``, a content fingerprint of what it would load through
``.fingerprint()`` (cheap: it reads no rows, so a finished run is recognised before any data is
read), and, after loading, ``.provenance()``: the revisions read and what non-strict reading dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path

from era_exp.data.assemble import DEFAULT_RESIDENT_MIB, CorpusPool, LoadReport
from era_exp.data.builtin import stdlib_codesearch_task
from era_exp.data.errors import DataError
from era_exp.data.fingerprint import (
    FileDigests,
    combine,
    files_fingerprint,
    relative_files,
    tasks_fingerprint,
)
from era_exp.data.hub import (
    DOCS_REPO,
    QUERIES_REPO,
    is_local,
    load_hub_tasks,
    mirror_task_files,
    resolve_revision,
    select_hub_tasks,
)
from era_exp.data.local import load_local_tasks, select_local_tasks
from era_exp.data.schema import Task


def _names(value: str | Iterable[str] | None) -> tuple[str, ...] | None:
    """A config's list (or single string) of names as a tuple of strings; None stays None."""
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _load_report(report: LoadReport, pool: CorpusPool) -> dict:
    return {"lenient": report.lenient, "lenient_totals": report.totals(), "resident": pool.residency.stats()}


class LocalSource:
    """Tasks in a folder in MAIR's on-disk format (see :func:`load_local_tasks`)."""

    def __init__(
        self,
        root: str | Path,
        tasks: str | Iterable[str] | None = None,
        domains: str | Iterable[str] | None = None,
        strict: bool = True,
        multi_split: str = "per_split",
        resident_mib: float = DEFAULT_RESIDENT_MIB,
    ) -> None:
        self.root = Path(root)
        self.tasks = _names(tasks)
        self.domains = _names(domains)
        self.strict = bool(strict)
        self.multi_split = multi_split
        self.resident_mib = float(resident_mib)
        self._report = LoadReport()
        self._pool = CorpusPool(self.resident_mib)

    def _check_root(self) -> None:
        if not self.root.is_dir():
            raise DataError(f"data folder {self.root} does not exist (resolved to {self.root.absolute()})")

    def load(self) -> list[Task]:
        """The selected, validated tasks."""
        self._check_root()
        self._report, self._pool = LoadReport(), CorpusPool(self.resident_mib)
        return load_local_tasks(
            self.root,
            self.tasks,
            self.domains,
            self.strict,
            self.multi_split,
            report=self._report,
            pool=self._pool,
        )

    def fingerprint(self, digest_cache: str | Path | None = None) -> str:
        """Digest of the selected tasks' names, domains and files (contents, not paths).

        ``digest_cache`` keeps file digests between calls (see :class:`FileDigests`).
        """
        self._check_root()
        digests = FileDigests(digest_cache)
        parts = []
        for name, domain in select_local_tasks(self.root, self.tasks, self.domains):
            parts.append(f"task {name} {domain}")
            parts += files_fingerprint(relative_files(self.root, self.root / name), digests)
        digests.save()
        return combine(parts)

    def provenance(self) -> dict:
        """What the last load dropped or merged under ``strict=False``, and how its corpora were held."""
        return _load_report(self._report, self._pool)

    def __repr__(self) -> str:
        return f"LocalSource(root={str(self.root)!r}, tasks={self.tasks}, domains={self.domains})"


class HubSource:
    """MAIR tasks through ``datasets.load_dataset``, from the hub or a local mirror (see :mod:`.hub`)."""

    def __init__(
        self,
        tasks: str | Iterable[str] | None = None,
        domains: str | Iterable[str] | None = None,
        strict: bool = True,
        multi_split: str = "per_split",
        cache_dir: str | None = None,
        queries: str = QUERIES_REPO,
        docs: str = DOCS_REPO,
        queries_revision: str | None = None,
        docs_revision: str | None = None,
        resident_mib: float = DEFAULT_RESIDENT_MIB,
    ) -> None:
        self.tasks = _names(tasks)
        self.domains = _names(domains)
        self.strict = bool(strict)
        self.multi_split = multi_split
        self.cache_dir = None if cache_dir is None else str(cache_dir)
        self.queries = str(queries)
        self.docs = str(docs)
        self.queries_revision = None if queries_revision is None else str(queries_revision)
        self.docs_revision = None if docs_revision is None else str(docs_revision)
        self.resident_mib = float(resident_mib)
        self._report = LoadReport()
        self._pool = CorpusPool(self.resident_mib)
        self._revisions: dict[str, dict[str, str | None]] = {}

    def load(self) -> list[Task]:
        """The selected, validated tasks, from the hub (or the datasets cache) or a mirror."""
        self._report, self._revisions, self._pool = LoadReport(), {}, CorpusPool(self.resident_mib)
        return load_hub_tasks(
            self.tasks,
            self.domains,
            self.strict,
            self.multi_split,
            self.cache_dir,
            queries=self.queries,
            docs=self.docs,
            queries_revision=self.queries_revision,
            docs_revision=self.docs_revision,
            report=self._report,
            revisions=self._revisions,
            pool=self._pool,
        )

    def _repo_parts(self, location: str, revision: str | None, task: str, digests: FileDigests) -> list[str]:
        if is_local(location):
            return files_fingerprint(mirror_task_files(location, task), digests)
        commit = resolve_revision(location, task, revision, self.cache_dir)
        return [f"{location}@{commit or f'unresolved:{revision}'}"]

    def fingerprint(self, digest_cache: str | Path | None = None) -> str:
        """Digest of each selected task's data: a mirror's files, or the hub commit it would be read at."""
        digests = FileDigests(digest_cache)
        parts = []
        for task in select_hub_tasks(self.tasks, self.domains):
            parts.append(f"task {task}")
            parts += self._repo_parts(self.queries, self.queries_revision, task, digests)
            parts += self._repo_parts(self.docs, self.docs_revision, task, digests)
        digests.save()
        return combine(parts)

    def provenance(self) -> dict:
        """The revision of each repo the last load read, what ``strict=False`` dropped or merged, and how
        its corpora were held in memory."""
        revisions = {}
        for side, location, requested in (
            ("queries", self.queries, self.queries_revision),
            ("docs", self.docs, self.docs_revision),
        ):
            read = {task: by_side[side] for task, by_side in self._revisions.items()}
            distinct = set(read.values())
            revisions[side] = {
                "location": location,
                "requested": requested,
                "resolved": next(iter(distinct)) if len(distinct) == 1 else read,
            }
        return {"revisions": revisions, **_load_report(self._report, self._pool)}

    def __repr__(self) -> str:
        return f"HubSource(queries={self.queries!r}, docs={self.docs!r}, tasks={self.tasks})"


@cache
def _stdlib_task(max_queries: int | None) -> Task:
    """The generated task, once per process (the running standard library does not change)."""
    return stdlib_codesearch_task(max_queries)


class BuiltinSource:
    """The ``stdlib-codesearch`` task generated from the running Python's standard library."""

    def __init__(self, max_queries: int | None = None) -> None:
        self.max_queries = None if max_queries is None else int(max_queries)

    def load(self) -> list[Task]:
        """A one-task list."""
        return [_stdlib_task(self.max_queries)]

    def fingerprint(self, digest_cache: str | Path | None = None) -> str:
        """Digest of the generated task (it depends on the running Python's standard library)."""
        return tasks_fingerprint(self.load())

    def provenance(self) -> dict:
        """Nothing to report: the task is generated, never read."""
        return {}

    def __repr__(self) -> str:
        return f"BuiltinSource(max_queries={self.max_queries})"
