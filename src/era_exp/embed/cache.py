"""A content-addressed, crash-safe, multi-process embedding cache.

Layout: ``<root>/<identity>/shard-<id>.npy`` (``(rows, dim)`` in the embedder's storage dtype:
float32, float16, or bfloat16 kept as its raw 16 bits), ``shard-<id>.keys.npy`` (``rows`` sha1
digests of the texts, dtype ``S20``) and ``shard-<id>.json``, the commit record written last and
atomically (rows, dim, dtype, byte sizes and sha256 of both files). A shard without a valid record
is ignored and later deleted; a shard whose files disagree with its record is reported, deleted and
its texts encoded again, never used. The storage dtype is part of the identity, so dtypes never mix;
readers always get float32.

Misses are encoded in small chunks, each committed as its own shard as soon as it is encoded, so an
interrupted run loses at most one chunk. The chunks form a grid fixed by the request alone: the
missing texts, longest first (a stable sort), are cut greedily into chunks of at most
``chunk_size`` texts and about ``chunk_chars`` of text volume (:func:`chunk_grid`). A vector depends
on the texts it is batched with, so the grid must never depend on the clock or on other workers: a
cut depends only on the chunk's own texts, hence after a kill the texts still missing re-grid into
exactly the chunks that were not committed, and a resumed encode is bit-identical to one that was
never interrupted. Concurrent processes split the misses by leasing whole grid chunks through
:mod:`era_exp.embed.claims` before encoding them, so every text is encoded once in total, and a dead
worker's leases are taken over by the others.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from tqdm.auto import tqdm

from era_exp import faults
from era_exp.data.schema import Query
from era_exp.embed.claims import KEY_DTYPE, Claim, ClaimBoard
from era_exp.embed.progress import quiet
from era_exp.io import atomic_write, atomic_write_json

log = logging.getLogger(__name__)

VERIFY_MODES = ("size", "hash")
STORAGE_DTYPES = ("float32", "float16", "bfloat16")
_ON_DISK = {"float32": np.dtype(np.float32), "float16": np.dtype(np.float16), "bfloat16": np.dtype(np.uint16)}
_CHARS_PER_TOKEN = 6  # a text costs at most this many characters per token of max_length
_TEXT_COST = 64  # plus this much per text (special tokens, padding, per-row work), in characters
DEFAULT_CHUNK_CHARS = 65536  # text volume per chunk: a few seconds of MiniLM on one CPU core
_POLL_SECONDS = 0.5  # wait between looks while every missing text is claimed by another worker


class Embedder(Protocol):
    """What the cache needs from an embedder (``HFEmbedder`` is one).

    An embedder may also have ``cache_dtype`` (default float32) and ``max_length`` (used to cap
    the volume of a text when cutting chunks).
    """

    name: str
    identity: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...

    def format_queries(self, queries: Sequence[Query]) -> list[str]: ...

    def format_docs(self, texts: Sequence[str]) -> list[str]: ...


@dataclass
class CacheStats:
    """What this process's requests cost, in total and per identity.

    ``encoded``: texts this process encoded (each distinct text at most once, since it is then on
    disk). ``hits``: texts served from disk, counted per request: a text asked for in two requests
    counts twice, a text repeated within one request once. Texts another process encoded while this
    one waited count as hits.
    """

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
    return np.array([hashlib.sha1(t.encode("utf-8")).digest() for t in texts], dtype=KEY_DTYPE)


def to_storage(vectors: np.ndarray, dtype: str) -> np.ndarray:
    """float32 rows in the storage dtype (bfloat16: round to nearest even, kept as uint16 bits)."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if dtype == "bfloat16":
        bits = vectors.view(np.uint32)
        return ((bits + (((bits >> 16) & 1) + 0x7FFF)) >> 16).astype(np.uint16)
    return vectors.astype(_ON_DISK[dtype], copy=False)


def from_storage(stored: np.ndarray, dtype: str) -> np.ndarray:
    """Stored rows back to float32 (exact: every float16 and bfloat16 value is a float32)."""
    if dtype == "bfloat16":
        return (stored.astype(np.uint32) << 16).view(np.float32)
    return np.asarray(stored, dtype=np.float32)


def chunk_grid(costs: np.ndarray, chunk_size: int, chunk_chars: float) -> list[np.ndarray]:
    """Positions ``0..len(costs)-1`` cut greedily into chunks, in order.

    Each chunk takes the next text, and is cut once it holds ``chunk_size`` texts or its volume
    (the sum of its texts' ``costs``) reaches ``chunk_chars``. A cut depends only on the chunk's own
    texts, so the grid over any run of whole chunks kept in order (the texts still missing after a
    kill) is exactly those chunks.
    """
    chunks, start, volume = [], 0, 0.0
    for position, cost in enumerate(costs):
        volume += float(cost)
        if position + 1 - start >= chunk_size or volume >= chunk_chars:
            chunks.append(np.arange(start, position + 1))
            start, volume = position + 1, 0.0
    if start < len(costs):
        chunks.append(np.arange(start, len(costs)))
    return chunks


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


class ShardUnavailable(Exception):
    """A committed shard's file exists but could not be read just now (an I/O error, not its content)."""


@dataclass
class _Shard:
    """A committed shard: its keys in memory, its vectors on disk.

    The vectors are memory-mapped only while rows are read (:meth:`_Store.gather`): a map kept open
    would keep every page once read in the process's resident memory, so a run would grow with all
    the vectors it ever read rather than hold one corpus's at a time.
    """

    name: str
    path: Path  # (rows, dim) in the storage dtype
    keys: np.ndarray  # (rows,) S20


@dataclass(frozen=True)
class _Run:
    """Keys of some shards, sorted stably (a repeated key: the earlier shard first), and where each lies."""

    keys: np.ndarray
    owners: np.ndarray  # shard number of each key
    rows: np.ndarray  # row in that shard

    @classmethod
    def of(cls, shards: Sequence[_Shard], first: int) -> _Run:
        """The run of ``shards``, numbered from ``first``."""
        keys = np.concatenate([s.keys for s in shards])
        owners = np.repeat(np.arange(first, first + len(shards)), [len(s.keys) for s in shards])
        rows = np.concatenate([np.arange(len(s.keys)) for s in shards])
        order = np.argsort(keys, kind="stable")
        return cls(keys[order], owners[order], rows[order])

    def merge(self, newer: _Run) -> _Run:
        """One sorted run of both, ``newer``'s keys after equal keys of this one (linear, no re-sort)."""
        size = len(self.keys) + len(newer.keys)
        at = np.searchsorted(self.keys, newer.keys, side="right") + np.arange(len(newer.keys))
        is_newer = np.zeros(size, dtype=bool)
        is_newer[at] = True
        merged = []
        for old, new in ((self.keys, newer.keys), (self.owners, newer.owners), (self.rows, newer.rows)):
            out = np.empty(size, dtype=old.dtype)
            out[is_newer], out[~is_newer] = new, old
            merged.append(out)
        return _Run(*merged)


class _Store:
    """The shards of one identity, a sorted key index over them, and the claims on its misses.

    The index is a few sorted runs of geometrically shrinking size (a log-structured merge): new
    shards form a run of their own, merged linearly into the one before while that is at most
    twice its size, so an encode that commits thousands of chunks never re-sorts every key.
    """

    def __init__(self, folder: Path, dim: int, dtype: str, verify: str, board: ClaimBoard) -> None:
        self.folder = folder
        self.dim = dim
        self.dtype = dtype
        self.verify = verify
        self.board = board
        self.shards: list[_Shard] = []
        self.seen: set[str] = set()  # shard names loaded or rejected in this process
        self.rejected: set[str] = set()
        self._runs: list[_Run] = []
        self._indexed = 0  # shards[:_indexed] are in the runs

    def _files(self, name: str) -> tuple[Path, Path, Path]:
        base = self.folder / name
        return base.with_suffix(".npy"), base.with_suffix(".keys.npy"), base.with_suffix(".json")

    def _load(self, name: str) -> _Shard:
        """Check one committed shard against its record; raise ValueError saying what is wrong.

        A file that is there but cannot be read now (an I/O error of a network file system) raises
        :class:`ShardUnavailable` instead: that says nothing about the shard's content.
        """
        vectors_path, keys_path, record_path = self._files(name)
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
            rows, dim = int(record["rows"]), int(record["dim"])
            dtype = record.get("dtype", "float32")
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
            vectors = np.load(vectors_path, mmap_mode="r", allow_pickle=False)  # its header, for the check
            keys = np.load(keys_path, allow_pickle=False)
        except FileNotFoundError as err:
            raise ValueError(f"a file of the shard is missing: {err}") from err
        except OSError as err:
            raise ShardUnavailable(str(err)) from err
        except (KeyError, TypeError, EOFError, json.JSONDecodeError) as err:
            raise ValueError(f"unreadable shard record or file: {err}") from err
        expected = (rows, self.dim)
        if dtype != self.dtype or dim != self.dim or vectors.shape != expected or vectors.dtype != self.disk:
            raise ValueError(
                f"vectors are {vectors.shape} {dtype} ({vectors.dtype}), expected {expected} {self.dtype}"
            )
        if keys.shape != (rows,) or keys.dtype != KEY_DTYPE:
            raise ValueError(f"keys {keys.shape} {keys.dtype}, expected ({rows},) {KEY_DTYPE}")
        return _Shard(name, vectors_path, keys)

    @property
    def disk(self) -> np.dtype:
        return _ON_DISK[self.dtype]

    def remove(self, name: str) -> None:
        """Uncommit (record first) then delete a shard's files."""
        for path in reversed(self._files(name)):
            path.unlink(missing_ok=True)

    def refresh(self, live: Sequence[Claim] | None = None) -> list[_Shard]:
        """Load shards committed since the last look; return them.

        With ``live`` (the claims still held, read under the claim lock) also delete bad shards and
        leftovers of writers that died: files of an uncommitted shard no live claim is writing.
        """
        try:
            listing = os.listdir(self.folder)  # one listing per look: the folder holds thousands of files
        except FileNotFoundError:
            return []
        records = {n.removesuffix(".json") for n in listing if n.startswith("shard-") and n.endswith(".json")}
        new = []
        for name in sorted(records - self.seen):
            try:
                new.append(self._load(name))
            except ShardUnavailable as err:
                log.warning(
                    "embedding cache shard %s/%s cannot be read now (%s); skipped, kept on disk, tried again "
                    "at the next look",
                    self.folder,
                    name,
                    err,
                )
                continue
            except ValueError as err:
                log.warning(
                    "embedding cache shard %s/%s is corrupt (%s); its texts will be re-encoded",
                    self.folder,
                    name,
                    err,
                )
                self.rejected.add(name)
            self.seen.add(name)
        self.shards += new
        if live is not None:
            self._clean(listing, records, {claim.shard_name for claim in live})
        return new

    def _clean(self, listing: Sequence[str], records: set[str], writing: set[str]) -> None:
        for name in sorted(self.rejected):
            self.remove(name)
        self.rejected.clear()
        self.seen &= {s.name for s in self.shards}
        for name in listing:
            if name.startswith(".shard-") and name.endswith(".tmp"):
                stem = name[1:].split(".")[0]  # a temporary file of an atomic write
            elif name.startswith("shard-"):
                stem = name.split(".")[0]
                if stem in records:
                    continue
            else:
                continue
            if stem not in writing:
                (self.folder / name).unlink(missing_ok=True)

    def _index(self) -> list[_Run]:
        """The runs, brought up to date with the shards loaded or committed since the last lookup."""
        if self._indexed < len(self.shards):
            self._runs.append(_Run.of(self.shards[self._indexed :], self._indexed))
            self._indexed = len(self.shards)
            while len(self._runs) > 1 and len(self._runs[-2].keys) <= 2 * len(self._runs[-1].keys):
                newer = self._runs.pop()
                self._runs[-1] = self._runs[-1].merge(newer)
        return self._runs

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each key, the shard number and row holding it (shard -1 when absent).

        A key in several shards resolves to the earliest shard, as runs hold older shards first.
        """
        shard = np.full(len(keys), -1, dtype=np.int64)
        row = np.zeros(len(keys), dtype=np.int64)
        for run in self._index():
            todo = np.flatnonzero(shard < 0)
            if not len(todo) or not len(run.keys):
                continue
            wanted = keys[todo]
            pos = np.minimum(np.searchsorted(run.keys, wanted), len(run.keys) - 1)
            found = run.keys[pos] == wanted
            shard[todo[found]] = run.owners[pos[found]]
            row[todo[found]] = run.rows[pos[found]]
        return shard, row

    def gather(self, shard: np.ndarray, rows: np.ndarray, out: np.ndarray) -> None:
        """Copy the rows located by :meth:`lookup` into float32 ``out``, reading only those rows."""
        for number in np.unique(shard[shard >= 0]):
            where = np.flatnonzero(shard == number)
            where = where[np.argsort(rows[where])]  # ascending reads from the memory map
            path = self.shards[number].path
            try:
                vectors = np.load(path, mmap_mode="r", allow_pickle=False)
            except OSError as err:
                raise ValueError(
                    f"embedding cache shard {path} vanished while in use ({err}); rerun"
                ) from err
            out[where] = from_storage(vectors[rows[where]], self.dtype)
            del vectors  # unmapped: its pages leave this process's resident memory

    def stage(self, name: str, keys: np.ndarray, vectors: np.ndarray) -> dict:
        """Write shard ``name``'s data files; no reader sees them until :meth:`publish` writes the
        record, so they can be written without the claim lock. Returns that record."""
        vectors_path, keys_path, _ = self._files(name)
        record: dict[str, object] = {"rows": len(keys), "dim": self.dim, "dtype": self.dtype}
        stored = to_storage(vectors, self.dtype)
        for part, path, array in (("vectors", vectors_path, stored), ("keys", keys_path, keys)):
            data = _npy_bytes(array)
            # The shard's name is its claim's uuid: no earlier writer of it can have left a temporary file.
            write = lambda tmp, data=data: tmp.write_bytes(data)  # noqa: E731
            atomic_write(path, write, "embedding cache shard", fresh_name=True)
            record[part] = {"file": path.name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        return record

    def publish(self, name: str, keys: np.ndarray, record: dict) -> None:
        """Commit staged shard ``name``: write the record that makes it visible."""
        vectors_path, _, record_path = self._files(name)
        atomic_write_json(record_path, record, "embedding cache shard record", fresh_name=True)
        faults.hit("encode.commit")
        self.shards.append(_Shard(name, vectors_path, keys))
        self.seen.add(name)


class EmbeddingCache:
    """Embeddings on disk keyed by ``(embedder.identity, sha1(text))``.

    ``chunk_size`` (texts) and ``chunk_chars`` (text volume: characters, capped per text at what
    ``max_length`` tokens can hold, plus a per-text cost) bound a chunk, and so the work a kill can
    lose; they fix the chunk grid and with it the vectors, bit for bit. The default volume is about
    4 s of bundled-MiniLM work on one CPU core (docs/encoding-at-scale.md). ``stale_seconds`` is
    how old another host's lease heartbeat must be before its texts are taken over (a dead process
    on this host is noticed at once).
    ``verify="hash"`` checks every shard's sha256 when first opened in a process (about a second
    per GB); ``"size"`` only checks byte sizes and array shapes, for very large caches.
    """

    def __init__(
        self,
        root: str | Path,
        chunk_size: int = 256,
        chunk_chars: float = DEFAULT_CHUNK_CHARS,
        verify: str = "hash",
        stale_seconds: float = 120.0,
        heartbeat_seconds: float = 10.0,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if verify not in VERIFY_MODES:
            raise ValueError(f"unknown verify mode {verify!r}; known: {', '.join(VERIFY_MODES)}")
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        if chunk_chars <= 0:
            raise ValueError(f"chunk_chars must be > 0, got {chunk_chars}")
        ClaimBoard(Path(root), stale_seconds, heartbeat_seconds)  # validates the lease timings
        self.root = Path(root)
        self.chunk_size = chunk_size
        self.chunk_chars = chunk_chars
        self.verify = verify
        self.stale_seconds = stale_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.clock = clock
        self.stats = CacheStats()
        self.shards_committed = 0
        self.encode_seconds = 0.0  # inside embedder.encode
        self.overhead_seconds = 0.0  # leasing and committing chunks
        self._stores: dict[str, _Store] = {}

    def _store(self, embedder: Embedder) -> _Store:
        store = self._stores.get(embedder.identity)
        if store is None:
            dtype = getattr(embedder, "cache_dtype", "float32")
            if dtype not in STORAGE_DTYPES:
                raise ValueError(f"unknown cache dtype {dtype!r}; known: {', '.join(STORAGE_DTYPES)}")
            folder = self.root / embedder.identity
            board = ClaimBoard(folder, self.stale_seconds, self.heartbeat_seconds)
            store = _Store(folder, int(embedder.dim), dtype, self.verify, board)
            self._stores[embedder.identity] = store
        return store

    def fill(self, embedder: Embedder, texts: Sequence[str]) -> None:
        """Make sure every text (already formatted) is on disk, encoding only the missing ones."""
        self._fill(embedder, texts, text_keys(texts))

    def _fill(self, embedder: Embedder, texts: Sequence[str], keys: np.ndarray) -> _Store:
        store = self._store(embedder)
        unique_keys, first = np.unique(keys, return_index=True)
        store.refresh()
        missing = np.flatnonzero(store.lookup(unique_keys)[0] < 0)
        encoded = 0
        if len(missing):
            todo = [texts[i] for i in first[missing]]
            encoded = self._encode_missing(embedder, store, todo, unique_keys[missing])
        hits = len(unique_keys) - encoded
        self.stats.add(embedder.identity, encoded, hits)
        log.info("encoded %d new texts with %s, %d from cache", encoded, embedder.name, hits)
        return store

    def missing(self, embedder: Embedder, texts: Sequence[str]) -> int:
        """How many distinct texts (already formatted) are not on disk yet; nothing is encoded."""
        store = self._store(embedder)
        store.refresh()
        return int((store.lookup(np.unique(text_keys(texts)))[0] < 0).sum())

    def read(self, embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
        """float32 vectors of texts already on disk, in input order; only their rows are read."""
        store = self._store(embedder)
        return self._read(store, text_keys(texts), texts)

    @staticmethod
    def _read(store: _Store, keys: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        unique_keys, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        shard, rows = store.lookup(unique_keys)
        if (shard < 0).any():
            store.refresh()
            shard, rows = store.lookup(unique_keys)
        if (absent := np.flatnonzero(shard < 0)).size:
            example = texts[first[absent[0]]]
            raise KeyError(f"{absent.size} texts are not in the cache {store.folder}, e.g. {example!r:.80}")
        vectors = np.empty((len(unique_keys), store.dim), dtype=np.float32)
        store.gather(shard, rows, vectors)
        return vectors[inverse.reshape(-1)]

    def get_or_encode(self, embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
        """float32 vectors of ``texts`` (already formatted) in input order, encoding only texts not on disk.

        Vectors always come back through the storage dtype, so they never depend on whether a text
        was just encoded or read from disk.
        """
        keys = text_keys(texts)
        store = self._fill(embedder, texts, keys)
        return self._read(store, keys, texts)

    def _encode_missing(self, embedder: Embedder, store: _Store, texts: list[str], keys: np.ndarray) -> int:
        """Encode ``texts`` grid chunk by grid chunk under leases; return how many this process did."""
        order = np.argsort([-len(t) for t in texts], kind="stable")
        cap = _CHARS_PER_TOKEN * int(getattr(embedder, "max_length", 0) or 1024)
        lengths = np.fromiter(map(len, texts), dtype=np.float64, count=len(texts))
        costs = np.minimum(lengths, cap) + _TEXT_COST
        grid = [order[chunk] for chunk in chunk_grid(costs[order], self.chunk_size, self.chunk_chars)]
        by_key = np.argsort(keys)
        sorted_keys = keys[by_key]

        def mine(other: np.ndarray) -> np.ndarray:
            """Positions in ``texts`` of the keys of ``other`` that this request holds."""
            pos = np.minimum(np.searchsorted(sorted_keys, other), len(keys) - 1)
            return by_key[pos[sorted_keys[pos] == other]]

        pending = np.ones(len(texts), dtype=bool)
        settled = 0  # grid chunks before this one have no pending text
        done = 0
        with tqdm(total=len(texts), desc=f"embed {embedder.name}", unit="text", disable=quiet()) as bar:
            while pending.any():
                start = self.clock()
                with store.board.lock():
                    live = store.board.live()
                    for shard in store.refresh(live):  # chunks other workers committed meanwhile
                        theirs = mine(shard.keys)
                        bar.update(int(pending[theirs].sum()))
                        pending[theirs] = False
                    leased = np.zeros(len(texts), dtype=bool)
                    for other in live:
                        leased[mine(other.keys)] = True
                    while settled < len(grid) and not pending[grid[settled]].any():
                        settled += 1
                    # The first chunk with texts to encode that no live worker holds a lease on.
                    chunk = next(
                        (c[pending[c]] for c in grid[settled:] if pending[c].any() and not leased[c].any()),
                        np.empty(0, np.int64),
                    )
                    claim = store.board.stake(keys[chunk]) if len(chunk) else None
                self.overhead_seconds += self.clock() - start
                if claim is None:
                    if pending.any():
                        time.sleep(_POLL_SECONDS)  # the rest is being encoded by other workers
                    continue
                with store.board.holding(claim):
                    start = self.clock()
                    encoded = np.asarray(embedder.encode([texts[i] for i in chunk]), dtype=np.float32)
                    seconds = self.clock() - start
                    if encoded.shape != (len(chunk), store.dim):
                        expected = f"{len(chunk)} texts of dim {store.dim}"
                        raise ValueError(f"{embedder.name} returned {encoded.shape} for {expected}")
                    record = store.stage(claim.shard_name, keys[chunk], encoded)
                    with store.board.lock():  # publish only a lease no other worker took over meanwhile
                        held = store.board.held(claim)
                        if held:
                            store.publish(claim.shard_name, keys[chunk], record)
                    if not held:
                        store.remove(claim.shard_name)
                    self.overhead_seconds += self.clock() - start - seconds
                self.encode_seconds += seconds
                if not held:
                    log.warning(
                        "claim %s on %d texts was taken over while this process encoded them (it was paused "
                        "or its heartbeat stalled past stale_seconds): its vectors are dropped, the taker's "
                        "are used",
                        claim.name,
                        len(chunk),
                    )
                    continue
                self.shards_committed += 1
                pending[chunk] = False
                done += len(chunk)
                bar.update(len(chunk))
        return done


def encode_queries(cache: EmbeddingCache, embedder: Embedder, queries: Sequence[Query]) -> np.ndarray:
    """Query vectors, each rendered with the embedder's template and its own instruction."""
    return cache.get_or_encode(embedder, embedder.format_queries(queries))


def encode_docs(cache: EmbeddingCache, embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    """Document vectors (documents are never instructed)."""
    return cache.get_or_encode(embedder, embedder.format_docs(texts))
