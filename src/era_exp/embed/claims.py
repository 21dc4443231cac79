"""Leases on chunks of texts, so concurrent encoders of one embedder split the work between them.

A worker about to encode a chunk writes ``claims/claim-<id>.json`` (its pid, host and the chunk's
text keys) while holding a short lock, encodes the chunk without any lock, commits the chunk's shard
and deletes the claim. Other workers skip claimed keys. A background thread refreshes the claim
file's modification time (its heartbeat), so a claim is *stale*, and its keys free to take over, when
its process is gone from this host or its heartbeat is older than ``stale_seconds`` (another host,
a hung node). The lock is held only to read and write claims, never while encoding.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from filelock import FileLock

from era_exp.io import atomic_write_json

log = logging.getLogger(__name__)

KEY_DTYPE = np.dtype("S20")
HOST = socket.gethostname()


def process_alive(pid: int) -> bool:
    """Whether ``pid`` runs on this host (a zombie, killed but not yet reaped, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


@dataclass
class Claim:
    """One worker's lease on a chunk of texts (by their sha1 keys)."""

    name: str  # "claim-<hex>"; the chunk's shard is committed as "shard-<hex>"
    keys: np.ndarray
    pid: int
    host: str
    path: Path

    @property
    def shard_name(self) -> str:
        return "shard-" + self.name.removeprefix("claim-")


class ClaimBoard:
    """The claims of one cache identity folder."""

    def __init__(self, folder: Path, stale_seconds: float = 120.0, heartbeat_seconds: float = 10.0) -> None:
        if heartbeat_seconds <= 0 or stale_seconds <= heartbeat_seconds:
            raise ValueError(
                f"need 0 < heartbeat_seconds < stale_seconds, got {heartbeat_seconds} and {stale_seconds}"
            )
        self.folder = folder / "claims"
        self.lock_path = folder / ".lock"
        self.stale_seconds = stale_seconds
        self.heartbeat_seconds = heartbeat_seconds

    @contextmanager
    def lock(self) -> Iterator[None]:
        """The short lock under which claims are read, taken over and written."""
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(self.lock_path):
            yield

    def _is_stale(self, claim: Claim, age: float) -> bool:
        if claim.host == HOST and claim.pid != os.getpid() and not process_alive(claim.pid):
            return True
        return age > self.stale_seconds

    def live(self) -> list[Claim]:
        """Claims still held; stale ones are deleted (their keys become free). Call under :meth:`lock`."""
        if not self.folder.is_dir():
            return []
        claims = []
        now = time.time()
        names = sorted(n for n in os.listdir(self.folder) if n.startswith("claim-") and n.endswith(".json"))
        for path in (self.folder / name for name in names):
            try:
                age = now - path.stat().st_mtime
                record = json.loads(path.read_text(encoding="utf-8"))
                keys = np.array([bytes.fromhex(k) for k in record["keys"]], dtype=KEY_DTYPE)
                claim = Claim(path.stem, keys, int(record["pid"]), str(record["host"]), path)
            except FileNotFoundError:
                continue  # released meanwhile
            except OSError as err:  # an I/O error says nothing of the claim: left for its owner
                log.warning("claim %s cannot be read now (%s); left in place", path, err)
                continue
            except (ValueError, KeyError, TypeError) as err:
                log.warning("unreadable claim %s (%s): removed, its texts are free", path, err)
                path.unlink(missing_ok=True)
                continue
            if self._is_stale(claim, age):
                log.warning(
                    "taking over claim %s of %d texts (pid %d on %s, last heartbeat %.0f s ago)",
                    claim.name,
                    len(claim.keys),
                    claim.pid,
                    claim.host,
                    age,
                )
                path.unlink(missing_ok=True)
                continue
            claims.append(claim)
        return claims

    def stake(self, keys: np.ndarray) -> Claim:
        """Write a claim on ``keys`` for this process. Call under :meth:`lock`."""
        name = f"claim-{uuid.uuid4().hex}"
        path = self.folder / f"{name}.json"
        record = {"pid": os.getpid(), "host": HOST, "created": time.time(), "keys": [k.hex() for k in keys]}
        atomic_write_json(path, record, fresh_name=True)  # a uuid: no earlier writer of it
        return Claim(name, keys, os.getpid(), HOST, path)

    @staticmethod
    def held(claim: Claim) -> bool:
        """Whether ``claim`` is still this worker's: no other worker took it over. Call under :meth:`lock`."""
        return claim.path.is_file()

    @staticmethod
    def release(claim: Claim) -> None:
        """Drop a claim (after its shard is committed, or when giving it up)."""
        claim.path.unlink(missing_ok=True)

    @contextmanager
    def holding(self, claim: Claim) -> Iterator[None]:
        """Keep ``claim`` fresh with a heartbeat while the body runs; release it afterwards."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self.heartbeat_seconds):
                try:
                    os.utime(claim.path)
                except FileNotFoundError:
                    return

        thread = threading.Thread(target=beat, name=f"heartbeat-{claim.name}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            self.release(claim)
