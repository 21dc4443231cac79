"""EmbeddingCache: serves repeats from disk, resumes interrupted runs, drops corrupt shards, shares safely."""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from era_exp.data.schema import Query
from era_exp.embed.cache import EmbeddingCache, encode_docs, encode_queries
from era_exp.embed.templates import format_query


class FakeEmbedder:
    """Deterministic vectors from the text's hash; records every text it is asked to encode."""

    def __init__(self, name: str = "fake", dim: int = 8, fail_after: int | None = None) -> None:
        self.name = name
        self.identity = f"{name}-000000000000"
        self.dim = dim
        self.fail_after = fail_after
        self.calls: list[list[str]] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise KeyboardInterrupt("simulated interruption")
        self.calls.append(list(texts))
        rows = np.empty((len(texts), self.dim))
        for row, text in enumerate(texts):
            seed = int.from_bytes(hashlib.sha1(text.encode()).digest()[:4], "little")
            rows[row] = np.random.default_rng(seed).standard_normal(self.dim)
        return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)

    def format_queries(self, queries: Sequence[Query]) -> list[str]:
        return [format_query("qwen", q.instruction, q.text) for q in queries]

    def format_docs(self, texts: Sequence[str]) -> list[str]:
        return list(texts)

    @property
    def encoded(self) -> list[str]:
        return [t for call in self.calls for t in call]


TEXTS = [f"document number {i} " + "word " * (i % 7) for i in range(23)]


def shard_records(root: Path, embedder: FakeEmbedder) -> list[Path]:
    return sorted((root / embedder.identity).glob("shard-*.json"))


def test_second_call_encodes_nothing(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    cache = EmbeddingCache(tmp_path, chunk_size=5)
    first = cache.get_or_encode(embedder, TEXTS)
    assert cache.stats.encoded == len(TEXTS) and cache.stats.hits == 0
    again = EmbeddingCache(tmp_path).get_or_encode(embedder, TEXTS)
    second = cache.get_or_encode(embedder, TEXTS)
    assert len(embedder.encoded) == len(TEXTS)
    assert cache.stats.encoded == len(TEXTS) and cache.stats.hits == len(TEXTS)
    assert cache.stats.per_identity == {embedder.identity: {"encoded": len(TEXTS), "hits": len(TEXTS)}}
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, embedder.encode(TEXTS))
    assert first.dtype == np.float32 and first.shape == (len(TEXTS), 8)
    assert len(shard_records(tmp_path, embedder)) == 5  # ceil(23 / 5) chunks, one shard each


def test_duplicates_and_order(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    cache = EmbeddingCache(tmp_path)
    texts = ["b", "a", "b", "c", "a"]
    vectors = cache.get_or_encode(embedder, texts)
    assert sorted(embedder.encoded) == ["a", "b", "c"]
    assert cache.stats.encoded == 3
    np.testing.assert_array_equal(vectors, embedder.encode(texts))
    partly_new = cache.get_or_encode(embedder, ["c", "d", "a"])
    assert cache.stats.encoded == 4 and cache.stats.hits == 2
    np.testing.assert_array_equal(partly_new, embedder.encode(["c", "d", "a"]))
    assert cache.get_or_encode(embedder, []).shape == (0, 8)


def test_real_embedder_round_trip(tmp_path: Path, tiny_model_dir: Path) -> None:
    from era_exp.embed.hf import HFEmbedder

    embedder = HFEmbedder("tiny", str(tiny_model_dir), device="cpu")
    cache = EmbeddingCache(tmp_path, chunk_size=4)
    vectors = cache.get_or_encode(embedder, TEXTS)
    np.testing.assert_allclose(vectors, embedder.encode(TEXTS), atol=1e-6)
    assert (tmp_path / embedder.identity).is_dir()


def test_interrupted_encode_resumes(tmp_path: Path) -> None:
    failing = FakeEmbedder(fail_after=1)
    with pytest.raises(KeyboardInterrupt):
        EmbeddingCache(tmp_path, chunk_size=10).get_or_encode(failing, TEXTS)
    assert len(shard_records(tmp_path, failing)) == 1
    resumed = FakeEmbedder()
    cache = EmbeddingCache(tmp_path, chunk_size=10)
    vectors = cache.get_or_encode(resumed, TEXTS)
    assert cache.stats.encoded == len(TEXTS) - 10 and cache.stats.hits == 10
    assert not set(resumed.encoded) & set(failing.encoded)
    np.testing.assert_array_equal(vectors, resumed.encode(TEXTS))


@pytest.mark.parametrize("damage", ["truncate", "flip", "record", "missing"])
def test_corrupt_shard_is_dropped_and_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    embedder = FakeEmbedder()
    original = EmbeddingCache(tmp_path, chunk_size=10).get_or_encode(embedder, TEXTS)
    record = shard_records(tmp_path, embedder)[0]
    rows = json.loads(record.read_text())["rows"]
    vectors_file = record.with_suffix(".npy")
    data = vectors_file.read_bytes()
    if damage == "truncate":
        vectors_file.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        vectors_file.write_bytes(data[:-4] + bytes(b ^ 0xFF for b in data[-4:]))
    elif damage == "record":
        record.write_text("{not json")
    else:
        record.with_suffix(".keys.npy").unlink()
    cache = EmbeddingCache(tmp_path, chunk_size=10)
    with caplog.at_level(logging.WARNING, logger="era_exp.embed.cache"):
        rebuilt = cache.get_or_encode(embedder, TEXTS)
    assert "corrupt" in caplog.text and record.stem in caplog.text
    assert cache.stats.encoded == rows
    assert not record.exists() and not vectors_file.exists()
    np.testing.assert_array_equal(rebuilt, original)
    fresh = EmbeddingCache(tmp_path)
    fresh.get_or_encode(embedder, TEXTS)
    assert fresh.stats.encoded == 0


def test_size_check_alone_misses_same_size_damage(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    EmbeddingCache(tmp_path).get_or_encode(embedder, TEXTS)
    record = shard_records(tmp_path, embedder)[0]
    rows = json.loads(record.read_text())["rows"]
    vectors_file = record.with_suffix(".npy")
    data = vectors_file.read_bytes()
    vectors_file.write_bytes(data[:-4] + bytes(4))
    by_size = EmbeddingCache(tmp_path, verify="size")
    by_size.get_or_encode(embedder, TEXTS)
    assert by_size.stats.encoded == 0
    by_hash = EmbeddingCache(tmp_path, verify="hash")
    by_hash.get_or_encode(embedder, TEXTS)
    assert by_hash.stats.encoded == rows


def test_uncommitted_files_are_ignored_and_cleaned(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    folder = tmp_path / embedder.identity
    folder.mkdir()
    np.save(folder / "shard-deadbeef.npy", np.zeros((2, 8), dtype=np.float32))
    (folder / ".shard-cafe.npy.x1.tmp").write_bytes(b"partial")
    cache = EmbeddingCache(tmp_path)
    cache.get_or_encode(embedder, ["x", "y"])
    assert cache.stats.encoded == 2
    assert not (folder / "shard-deadbeef.npy").exists()
    assert not (folder / ".shard-cafe.npy.x1.tmp").exists()


def test_wrong_shape_from_embedder_is_an_error(tmp_path: Path) -> None:
    class Broken(FakeEmbedder):
        def encode(self, texts: Sequence[str]) -> np.ndarray:
            return np.zeros((len(texts), 3), dtype=np.float32)

    with pytest.raises(ValueError, match="returned"):
        EmbeddingCache(tmp_path).get_or_encode(Broken(), ["a"])
    assert not shard_records(tmp_path, Broken())


def test_query_and_doc_helpers(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    cache = EmbeddingCache(tmp_path)
    queries = [
        Query("1", "Find the statute.", "theft", {"d1": 1}),
        Query("2", "Find the statute.", "fraud", {}),
    ]
    vectors = encode_queries(cache, embedder, queries)
    np.testing.assert_array_equal(vectors, embedder.encode(embedder.format_queries(queries)))
    assert embedder.encoded[0].startswith("Instruct: Find the statute.")
    docs = encode_docs(cache, embedder, ("theft", "a doc"))
    np.testing.assert_array_equal(docs, embedder.encode(["theft", "a doc"]))
    assert cache.stats.encoded == 4  # the bare text "theft" is not the instructed query


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="verify"):
        EmbeddingCache(tmp_path, verify="none")
    with pytest.raises(ValueError, match="chunk_size"):
        EmbeddingCache(tmp_path, chunk_size=0)


def _concurrent_worker(model_dir: str, root: str, texts: list[str], barrier, results) -> None:
    import torch

    from era_exp.embed.hf import HFEmbedder

    torch.set_num_threads(1)
    embedder = HFEmbedder("tiny", model_dir, device="cpu", batch_size=8)
    cache = EmbeddingCache(root, chunk_size=16)
    barrier.wait()
    vectors = cache.get_or_encode(embedder, texts)
    results.put((cache.stats.encoded, cache.stats.hits, vectors))


@pytest.mark.slow
def test_concurrent_processes_encode_each_text_once(tmp_path: Path, tiny_model_dir: Path) -> None:
    texts = [f"text {i} " + "token " * (i % 50) for i in range(160)]
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    results = context.Queue()
    args = (str(tiny_model_dir), str(tmp_path), texts, barrier, results)
    workers = [context.Process(target=_concurrent_worker, args=args) for _ in range(2)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=300) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert sum(encoded for encoded, _, _ in outcomes) == len(texts)
    assert sum(hits for _, hits, _ in outcomes) == len(texts)
    np.testing.assert_array_equal(outcomes[0][2], outcomes[1][2])
