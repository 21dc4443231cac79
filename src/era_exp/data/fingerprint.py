"""Content fingerprints of the data a run reads, cheap enough to compute before every run.

A run is keyed on what it reads, never on where it lies: moving a data folder keeps the key, changed
data changes it. A file's digest is its SHA-256, kept in a small JSON cache keyed by the file's
device, inode, size and modification time, so each file is read once until it changes (a move within
one file system keeps all four). A hub dataset at a commit is content-addressed by that commit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from era_exp.data.schema import Task
from era_exp.io import atomic_write_json

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


def combine(parts: Iterable[str]) -> str:
    """One hex digest of an ordered sequence of strings."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()[:32]


def tasks_fingerprint(tasks: Sequence[Task]) -> str:
    """Digest of every unit's queries (ids, instructions, texts, labels) and documents, in order."""

    def parts() -> Iterable[str]:
        for task in tasks:
            yield f"unit {task.name} {task.task} {task.domain} {task.corpus.fingerprint()}"
            for query in task.queries:
                yield json.dumps([query.qid, query.instruction, query.text, sorted(query.labels.items())])

    return combine(parts())


class FileDigests:
    """SHA-256 of files, remembered by (device, inode, size, mtime) in ``cache_path`` when one is given."""

    def __init__(self, cache_path: str | Path | None = None) -> None:
        self.cache_path = Path(cache_path) if cache_path else None
        self._known: dict[str, str] = self._read()
        self._dirty = False

    def _read(self) -> dict[str, str]:
        if self.cache_path is None or not self.cache_path.is_file():
            return {}
        try:
            known = json.loads(self.cache_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            log.warning("%s: unreadable digest cache, starting afresh", self.cache_path)
            return {}
        return known if isinstance(known, dict) else {}

    def digest(self, path: Path) -> str:
        """The file's SHA-256 (hex), read from disk only when its stat signature is new."""
        stat = path.stat()
        signature = f"{stat.st_dev}:{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}"
        if signature not in self._known:
            digest = hashlib.sha256()
            with open(path, "rb") as handle:
                while chunk := handle.read(_CHUNK):
                    digest.update(chunk)
            self._known[signature] = digest.hexdigest()
            self._dirty = True
        return self._known[signature]

    def save(self) -> None:
        """Write the cache (atomically) when a digest was added."""
        if self.cache_path is None or not self._dirty:
            return
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.cache_path, self._known)
        self._dirty = False


def files_fingerprint(files: Iterable[tuple[str, Path]], digests: FileDigests) -> list[str]:
    """``<name>:<sha256>`` per file, ``name`` being the file's place relative to its data root."""
    return [f"{name}:{digests.digest(path)}" for name, path in files]


def relative_files(root: Path, folder: Path) -> list[tuple[str, Path]]:
    """Every data file under ``folder`` (recursively, skipping hidden entries) named relative to ``root``."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                path = Path(dirpath, name)
                found.append((path.relative_to(root).as_posix(), path))
    return found
