"""A content-addressed, crash-safe, multi-process embedding cache.

Layout: ``<root>/<identity>/shard-<uuid>.npy`` (float32 ``(rows, dim)``), ``shard-<uuid>.keys.npy``
(``rows`` sha1 digests of the texts, dtype ``S20``) and ``shard-<uuid>.json``, the commit record written
last and atomically (rows, dim, byte sizes and sha256 of both files). A shard without a valid record
is ignored and, under the lock, deleted; a shard whose files disagree with its record is reported,
deleted and its texts encoded again, never used. Misses are encoded in chunks, one committed shard
per chunk, so an interrupted run resumes where it stopped. A file lock per identity makes concurrent
processes encode each text once in total.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from filelock import FileLock, Timeout
from tqdm.auto import tqdm

from era_exp import faults
from era_exp.data.schema import Query
from era_exp.embed.progress import quiet
from era_exp.io import atomic_write, atomic_write_json

log = logging.getLogger(__name__)

VERIFY_MODES = ("size", "hash")
_KEY_DTYPE = np.dtype("S20")


class Embedder(Protocol):
    """What the cache needs from an embedder (``HFEmbedder`` is one)."""

    name: str
    identity: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...

    def format_queries(self, queries: Sequence[Query]) -> list[str]: ...

    def format_docs(self, texts: Sequence[str]) -> list[str]: ...


@dataclass
class CacheStats:
    """Texts actually encoded vs served from disk (distinct texts), in total and per identity."""

    encoded: int = 0
    hits: int = 0
    per_identity: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, identity: str, encoded: int, hits: int) -> None:
        self.encoded += encoded
        self.hits += hits
        entry = self.per_identity.setdefault(identity, {"encoded": 0, "hits": 0})
        entry["encoded"] += encoded
        entry["hits"] += hits


def text_keys(texts: Sequence[str]) -> np.ndarray:
    """sha1 digests of the UTF-8 texts, as an ``S20`` array."""
    return np.array([hashlib.sha1(t.encode("utf-8")).digest() for t in texts], dtype=_KEY_DTYPE)


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


@dataclass
class _Shard:
    name: str
    vectors: np.ndarray  # memory-mapped (rows, dim) float32
    keys: np.ndarray  # (rows,) S20


class _Store:
    """The shards of one identity, and a sorted key index over them."""

    def __init__(self, folder: Path, dim: int, verify: str) -> None:
        self.folder = folder
        self.dim = dim
        self.verify = verify
        self.shards: list[_Shard] = []
        self.seen: set[str] = set()  # shard names loaded or rejected in this process
        self.rejected: set[str] = set()
        self._index: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    @contextmanager
    def lock(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.folder / ".lock")
        try:
            lock.acquire(timeout=1)
        except Timeout:
            log.info("waiting for another process encoding into %s", self.folder)
            lock.acquire()
        try:
            yield
        finally:
            lock.release()

    def _files(self, name: str) -> tuple[Path, Path, Path]:
        base = self.folder / name
        return base.with_suffix(".npy"), base.with_suffix(".keys.npy"), base.with_suffix(".json")

    def _load(self, name: str) -> _Shard:
        """Check one committed shard against its record; raise ValueError saying what is wrong."""
        vectors_path, keys_path, record_path = self._files(name)
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
            rows, dim = int(record["rows"]), int(record["dim"])
            files = {"vectors": vectors_path, "keys": keys_path}
            for part, path in files.items():
                entry = record[part]
                if not path.is_file():
                    raise ValueError(f"{path.name} is missing")
                if path.stat().st_size != int(entry["bytes"]):
                    size = path.stat().st_size
                    raise ValueError(f"{path.name} has {size} bytes, its record says {entry['bytes']}")
                if self.verify == "hash" and _sha256(path) != entry["sha256"]:
                    raise ValueError(f"{path.name} does not match its sha256")
            vectors = np.load(vectors_path, mmap_mode="r", allow_pickle=False)
            keys = np.load(keys_path, allow_pickle=False)
        except (OSError, KeyError, TypeError, json.JSONDecodeError) as err:
            raise ValueError(f"unreadable shard record or file: {err}") from err
        if dim != self.dim or vectors.shape != (rows, dim) or vectors.dtype != np.float32:
            expected = f"({rows}, {self.dim}) float32"
            raise ValueError(f"vectors are {vectors.shape} {vectors.dtype}, expected {expected}")
        if keys.shape != (rows,) or keys.dtype != _KEY_DTYPE:
            raise ValueError(f"keys {keys.shape} {keys.dtype}, expected ({rows},) {_KEY_DTYPE}")
        return _Shard(name, vectors, keys)

    def _remove(self, name: str) -> None:
        """Uncommit (record first) then delete a shard's files."""
        for path in reversed(self._files(name)):
            path.unlink(missing_ok=True)

    def refresh(self, owner: bool) -> None:
        """Load shards committed since the last look. ``owner`` (lock held) also deletes bad leftovers."""
        if not self.folder.is_dir():
            return
        records = {p.name.removesuffix(".json") for p in self.folder.glob("shard-*.json")}
        for name in sorted(records - self.seen):
            try:
                self.shards.append(self._load(name))
                self._index = None
            except ValueError as err:
                log.warning(
                    "embedding cache shard %s/%s is corrupt (%s); its texts will be re-encoded",
                    self.folder,
                    name,
                    err,
                )
                self.rejected.add(name)
            self.seen.add(name)
        if owner:
            for name in sorted(self.rejected):
                self._remove(name)
            self.rejected.clear()
            self.seen &= {s.name for s in self.shards}
            for path in self.folder.iterdir():
                stem = path.name.split(".")[0]
                orphan = stem.startswith("shard-") and stem not in records
                if orphan or (path.name.startswith(".shard-") and path.name.endswith(".tmp")):
                    path.unlink(missing_ok=True)

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each key, the shard number and row holding it (shard -1 when absent)."""
        if self._index is None:
            all_keys = np.concatenate([s.keys for s in self.shards] or [np.empty(0, _KEY_DTYPE)])
            owners = np.repeat(np.arange(len(self.shards)), [len(s.keys) for s in self.shards])
            rows = np.concatenate([np.arange(len(s.keys)) for s in self.shards] or [np.empty(0, np.int64)])
            order = np.argsort(all_keys, kind="stable")
            self._index = (all_keys[order], owners[order], rows[order])
        sorted_keys, owners, rows = self._index
        shard = np.full(len(keys), -1, dtype=np.int64)
        row = np.zeros(len(keys), dtype=np.int64)
        if len(sorted_keys) and len(keys):
            pos = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
            found = sorted_keys[pos] == keys
            shard[found] = owners[pos[found]]
            row[found] = rows[pos[found]]
        return shard, row

    def gather(self, shard: np.ndarray, rows: np.ndarray, out: np.ndarray) -> None:
        """Copy the rows located by :meth:`lookup` into ``out`` (entries with shard -1 are left alone)."""
        for number in np.unique(shard[shard >= 0]):
            where = np.flatnonzero(shard == number)
            where = where[np.argsort(rows[where])]  # ascending reads from the memory map
            out[where] = self.shards[number].vectors[rows[where]]

    def commit(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Write one shard: data files first, then the record that makes it visible."""
        name = f"shard-{uuid.uuid4().hex}"
        vectors_path, keys_path, record_path = self._files(name)
        record: dict[str, object] = {"rows": len(keys), "dim": self.dim}
        for part, path, array in (("vectors", vectors_path, vectors), ("keys", keys_path, keys)):
            data = _npy_bytes(array)
            atomic_write(path, lambda tmp, data=data: tmp.write_bytes(data), "embedding cache shard")
            record[part] = {"file": path.name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        atomic_write_json(record_path, record, "embedding cache shard record")
        faults.hit("encode.commit")
        self.shards.append(_Shard(name, np.load(vectors_path, mmap_mode="r"), keys))
        self.seen.add(name)
        self._index = None


class EmbeddingCache:
    """Embeddings on disk keyed by ``(embedder.identity, sha1(text))``.

    ``verify="hash"`` checks every shard's sha256 when first opened in a process (about a second
    per GB); ``"size"`` only checks byte sizes and array shapes, for very large caches.
    """

    def __init__(self, root: str | Path, chunk_size: int = 2048, verify: str = "hash") -> None:
        if verify not in VERIFY_MODES:
            raise ValueError(f"unknown verify mode {verify!r}; known: {', '.join(VERIFY_MODES)}")
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        self.root = Path(root)
        self.chunk_size = chunk_size
        self.verify = verify
        self.stats = CacheStats()
        self._stores: dict[str, _Store] = {}

    def _store(self, embedder: Embedder) -> _Store:
        store = self._stores.get(embedder.identity)
        if store is None:
            store = _Store(self.root / embedder.identity, int(embedder.dim), self.verify)
            self._stores[embedder.identity] = store
        return store

    def get_or_encode(self, embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
        """Vectors of ``texts`` (already formatted) in input order, encoding only texts not on disk."""
        store = self._store(embedder)
        unique_keys, first, inverse = np.unique(text_keys(texts), return_index=True, return_inverse=True)
        vectors = np.empty((len(unique_keys), store.dim), dtype=np.float32)
        store.refresh(owner=False)
        shard, rows = store.lookup(unique_keys)
        missing = np.flatnonzero(shard < 0)
        if len(missing):
            with store.lock():
                store.refresh(owner=True)
                shard, rows = store.lookup(unique_keys)
                missing = np.flatnonzero(shard < 0)
                todo = [texts[i] for i in first[missing]]
                self._encode_missing(embedder, store, todo, unique_keys[missing], vectors, missing)
        hits = len(unique_keys) - len(missing)
        store.gather(shard, rows, vectors)
        self.stats.add(embedder.identity, len(missing), hits)
        log.info("encoded %d new texts with %s, %d from cache", len(missing), embedder.name, hits)
        return vectors[inverse.reshape(-1)]

    def _encode_missing(
        self,
        embedder: Embedder,
        store: _Store,
        texts: list[str],
        keys: np.ndarray,
        out: np.ndarray,
        positions: np.ndarray,
    ) -> None:
        """Encode ``texts`` chunk by chunk (similar lengths together), committing a shard per chunk."""
        order = np.argsort([-len(t) for t in texts], kind="stable")
        with tqdm(total=len(texts), desc=f"embed {embedder.name}", unit="text", disable=quiet()) as bar:
            for start in range(0, len(order), self.chunk_size):
                chunk = order[start : start + self.chunk_size]
                encoded = np.asarray(embedder.encode([texts[i] for i in chunk]), dtype=np.float32)
                if encoded.shape != (len(chunk), store.dim):
                    raise ValueError(
                        f"{embedder.name} returned {encoded.shape} for {len(chunk)} texts of dim {store.dim}"
                    )
                store.commit(keys[chunk], encoded)
                out[positions[chunk]] = encoded
                bar.update(len(chunk))


def encode_queries(cache: EmbeddingCache, embedder: Embedder, queries: Sequence[Query]) -> np.ndarray:
    """Query vectors, each rendered with the embedder's template and its own instruction."""
    return cache.get_or_encode(embedder, embedder.format_queries(queries))


def encode_docs(cache: EmbeddingCache, embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    """Document vectors (documents are never instructed)."""
    return cache.get_or_encode(embedder, embedder.format_docs(texts))
