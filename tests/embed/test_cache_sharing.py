"""Concurrent encoders of one embedder split the missing texts, and a dead worker's leases are taken over."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from era_exp.embed.cache import EmbeddingCache, text_keys
from era_exp.embed.claims import ClaimBoard, process_alive
from helpers.fake_embedder import FakeEmbedder

TEXTS = [f"shared text {i} " + "word " * (i % 11) for i in range(200)]


class SlowFake(FakeEmbedder):
    """Takes ``delay`` seconds per text, so two workers overlap; optionally dies in its n-th call."""

    def __init__(self, delay: float, die_in_call: int | None = None, report: Path | None = None) -> None:
        super().__init__()
        self.delay = delay
        self.die_in_call = die_in_call
        self.report = report

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self.die_in_call is not None and len(self.calls) + 1 == self.die_in_call:
            # The chunk it holds a lease on, in a file: a queue written by a killed process stays locked.
            self.report.write_text(json.dumps(list(texts)))
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(self.delay * len(texts))
        return super().encode(texts)


def _worker(root: str, delay: float, die_in_call: int | None, barrier, results) -> None:
    embedder = SlowFake(delay, die_in_call, Path(root) / "held.json")
    cache = EmbeddingCache(root, chunk_size=5)
    barrier.wait()
    cache.fill(embedder, TEXTS)
    results.put((cache.stats.encoded, embedder.encoded, cache.read(embedder, TEXTS)))


def _start(root: Path, plans: list[tuple[float, int | None]]):
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(len(plans)), context.Queue()
    workers = [
        context.Process(target=_worker, args=(str(root), delay, die, barrier, results))
        for delay, die in plans
    ]
    for worker in workers:
        worker.start()
    return workers, results, barrier  # the barrier must outlive the start of the children


def _claims(root: Path) -> list[Path]:
    folder = root / FakeEmbedder().identity / "claims"
    return sorted(folder.glob("claim-*.json")) if folder.is_dir() else []


def test_two_workers_split_a_cold_cache_each_text_encoded_once(tmp_path: Path) -> None:
    workers, results, _barrier = _start(tmp_path, [(0.01, None), (0.01, None)])
    outcomes = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    (encoded_a, texts_a, vectors_a), (encoded_b, texts_b, vectors_b) = outcomes
    assert encoded_a + encoded_b == len(TEXTS)  # every text encoded once in total
    assert not set(texts_a) & set(texts_b)
    assert encoded_a > 0 and encoded_b > 0  # both worked: neither queued behind the other
    expected = FakeEmbedder().encode(TEXTS)
    np.testing.assert_array_equal(vectors_a, expected)
    np.testing.assert_array_equal(vectors_b, expected)
    assert not _claims(tmp_path)


def test_a_killed_worker_leaves_its_lease_to_the_other(tmp_path: Path) -> None:
    """One of two workers is SIGKILLed while holding a lease; the survivor encodes what it held."""
    workers, results, _barrier = _start(tmp_path, [(0.002, 3), (0.01, None)])
    workers[0].join(timeout=120)
    assert workers[0].exitcode == -signal.SIGKILL
    held = json.loads((tmp_path / "held.json").read_text())
    _, texts, vectors = results.get(timeout=120)
    workers[1].join(timeout=30)
    assert workers[1].exitcode == 0
    assert set(held) <= set(texts)  # taken over
    np.testing.assert_array_equal(vectors, FakeEmbedder().encode(TEXTS))
    assert not _claims(tmp_path)
    again = EmbeddingCache(tmp_path)
    again.fill(FakeEmbedder(), TEXTS)
    assert again.stats.encoded == 0


def _write_claim(root: Path, texts: list[str], pid: int, host: str, age: float) -> Path:
    board = ClaimBoard(root / FakeEmbedder().identity)
    with board.lock():
        claim = board.stake(text_keys(texts))
    record = json.loads(claim.path.read_text())
    claim.path.write_text(json.dumps({**record, "pid": pid, "host": host}))
    past = time.time() - age
    os.utime(claim.path, (past, past))
    return claim.path


def test_a_dead_process_lease_on_this_host_is_taken_over_at_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    finished = subprocess.Popen(["true"])
    finished.wait()
    assert not process_alive(finished.pid)
    path = _write_claim(tmp_path, TEXTS[:7], finished.pid, socket.gethostname(), age=0)
    embedder = FakeEmbedder()
    cache = EmbeddingCache(tmp_path, chunk_size=64)
    with caplog.at_level(logging.WARNING, logger="era_exp.embed.claims"):
        cache.fill(embedder, TEXTS)
    assert "taking over" in caplog.text and not path.exists()
    assert cache.stats.encoded == len(TEXTS)


def test_another_hosts_lease_is_respected_until_its_heartbeat_is_stale(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = _write_claim(tmp_path, TEXTS[:7], 1, "some-other-node", age=0)
    embedder = FakeEmbedder()
    cache = EmbeddingCache(tmp_path, chunk_size=64, stale_seconds=2.0, heartbeat_seconds=0.2)
    with caplog.at_level(logging.WARNING, logger="era_exp.embed.claims"):
        cache.fill(embedder, TEXTS)
    assert "some-other-node" in caplog.text and not path.exists()
    # The grid chunks holding leased texts are left alone until the lease is stale, then taken over.
    held = [i for i, call in enumerate(embedder.calls) if set(call) & set(TEXTS[:7])]
    assert held == list(range(len(embedder.calls) - len(held), len(embedder.calls)))
    assert set(TEXTS[:7]) <= {text for i in held for text in embedder.calls[i]}
    assert cache.stats.encoded == len(TEXTS)


def test_a_lease_keeps_its_heartbeat_while_held(tmp_path: Path) -> None:
    board = ClaimBoard(tmp_path, stale_seconds=0.5, heartbeat_seconds=0.05)
    with board.lock():
        claim = board.stake(text_keys(["a"]))
    past = time.time() - 10
    os.utime(claim.path, (past, past))
    with board.holding(claim):
        time.sleep(0.3)
        assert time.time() - claim.path.stat().st_mtime < 0.5
        with board.lock():
            assert [c.name for c in board.live()] == [claim.name]
    assert not claim.path.exists()


class PausedWhileEncoding(FakeEmbedder):
    """In its first call, stalls past ``stale_seconds`` (its lease's heartbeat made old) while another
    worker takes the lease over and commits the same texts, as a worker stopped by SIGSTOP or a
    suspended cluster job would find on waking up."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not self.calls:
            [path] = _claims(self.root)
            past = time.time() - 60
            os.utime(path, (past, past))
            taker = EmbeddingCache(self.root, chunk_size=5, stale_seconds=30.0)
            taker.fill(FakeEmbedder(), list(texts))
            assert not path.exists(), "the other worker took the stale lease over"
        return super().encode(texts)


def _stored_rows(root: Path) -> int:
    folder = root / FakeEmbedder().identity
    return sum(json.loads(p.read_text())["rows"] for p in folder.glob("shard-*.json"))


def test_a_worker_whose_lease_was_taken_over_while_paused_drops_its_vectors(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    embedder = PausedWhileEncoding(tmp_path)
    cache = EmbeddingCache(tmp_path, chunk_size=5)
    with caplog.at_level(logging.WARNING):
        cache.fill(embedder, TEXTS[:20])
    assert "taking over claim" in caplog.text and "was taken over while this process encoded" in caplog.text
    assert _stored_rows(tmp_path) == 20, "each text is stored once: the taker's shard, not both"
    folder = tmp_path / FakeEmbedder().identity
    records = {p.name.removesuffix(".json") for p in folder.glob("shard-*.json")}
    assert {p.name.split(".")[0] for p in folder.glob("shard-*")} == records, "no staged files left behind"
    assert cache.stats.encoded == 15  # its first chunk went to the taker
    np.testing.assert_array_equal(cache.read(embedder, TEXTS[:20]), FakeEmbedder().encode(TEXTS[:20]))
    assert not _claims(tmp_path)


def test_an_io_error_reading_a_shard_skips_it_for_now_and_never_deletes_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    EmbeddingCache(tmp_path, chunk_size=5).fill(FakeEmbedder(), TEXTS[:10])
    shards = sorted((tmp_path / FakeEmbedder().identity).glob("shard-*"))
    real_read = Path.read_text

    def flaky(path: Path, *args, **kwargs) -> str:
        if path.name.startswith("shard-") and path.suffix == ".json":
            raise OSError(5, "Input/output error", str(path))
        return real_read(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", flaky)
    reader = EmbeddingCache(tmp_path, chunk_size=5)
    with caplog.at_level(logging.WARNING, logger="era_exp.embed.cache"):
        reader.fill(FakeEmbedder(), TEXTS[:10])
    assert "cannot be read now" in caplog.text and "corrupt" not in caplog.text
    assert set(shards) <= set((tmp_path / FakeEmbedder().identity).glob("shard-*")), "nothing deleted"
    monkeypatch.undo()
    again = EmbeddingCache(tmp_path, chunk_size=5)
    again.fill(FakeEmbedder(), TEXTS[:10])
    assert again.stats.encoded == 0
