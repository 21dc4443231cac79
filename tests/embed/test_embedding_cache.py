"""EmbeddingCache: serves repeats from disk, resumes interrupted runs, drops corrupt shards, shares safely."""

from __future__ import annotations

import json
import logging
import multiprocessing
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from era_exp.data.schema import Query
from era_exp.embed.cache import EmbeddingCache, chunk_grid, encode_docs, encode_queries
from helpers.fake_embedder import FakeEmbedder

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
    with pytest.raises(ValueError, match="chunk_chars"):
        EmbeddingCache(tmp_path, chunk_chars=0)


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


class KilledAfter(FakeEmbedder):
    """Interrupted inside the call that would take it past ``texts`` texts."""

    def __init__(self, texts: int) -> None:
        super().__init__()
        self.budget = texts

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if len(self.encoded) + len(texts) > self.budget:
            raise KeyboardInterrupt("simulated kill")
        return super().encode(texts)


def test_an_interrupted_small_encode_keeps_its_committed_chunks(tmp_path: Path) -> None:
    """300 texts in chunks of 64, killed a third of the way: the committed chunks are kept."""
    texts = [f"passage {i} " + "text " * (i % 13) for i in range(300)]
    killed = KilledAfter(100)
    with pytest.raises(KeyboardInterrupt):
        EmbeddingCache(tmp_path, chunk_size=64).get_or_encode(killed, texts)
    kept = sum(json.loads(p.read_text())["rows"] for p in shard_records(tmp_path, killed))
    assert kept == len(killed.encoded) > 0
    assert not (tmp_path / killed.identity / "claims").exists() or not any(
        (tmp_path / killed.identity / "claims").iterdir()
    )
    resumed = FakeEmbedder()
    cache = EmbeddingCache(tmp_path, chunk_size=64)
    cache.get_or_encode(resumed, texts)
    assert cache.stats.encoded == len(texts) - kept
    assert not set(resumed.encoded) & set(killed.encoded)


def test_the_grid_cuts_by_count_or_volume_on_the_chunks_own_texts() -> None:
    costs = np.array([50, 50, 50, 10, 10, 10, 10, 10, 10, 10], dtype=float)
    by_volume = chunk_grid(costs, chunk_size=4, chunk_chars=100)
    assert [c.tolist() for c in by_volume] == [[0, 1], [2, 3, 4, 5], [6, 7, 8, 9]]  # volume, count, count
    assert [c.tolist() for c in chunk_grid(costs, chunk_size=3, chunk_chars=1e9)] == [
        [0, 1, 2],
        [3, 4, 5],
        [6, 7, 8],
        [9],
    ]
    assert chunk_grid(np.empty(0), chunk_size=3, chunk_chars=10) == []
    # A cut depends only on the chunk's own texts: whatever whole chunks are removed (committed
    # before a kill), the rest re-grids into exactly the chunks that were left.
    rng = np.random.default_rng(0)
    costs = rng.integers(64, 1600, size=400).astype(float)
    grid = chunk_grid(costs, chunk_size=16, chunk_chars=6000)
    assert np.array_equal(np.concatenate(grid), np.arange(len(costs)))
    for removed in ([0], [1, 2], [0, 3, len(grid) - 1], list(range(0, len(grid), 2))):
        left = [c for i, c in enumerate(grid) if i not in removed]
        positions = np.concatenate(left)
        regrid = [positions[c] for c in chunk_grid(costs[positions], chunk_size=16, chunk_chars=6000)]
        assert [c.tolist() for c in regrid] == [c.tolist() for c in left]


def test_chunks_follow_the_grid(tmp_path: Path) -> None:
    texts = [f"text {i:03d}" for i in range(100)]  # 8 characters + 64 per text: a cost of 72 each
    embedder = FakeEmbedder()
    cache = EmbeddingCache(tmp_path, chunk_size=30, chunk_chars=72 * 20)
    cache.fill(embedder, texts)
    assert [len(call) for call in embedder.calls] == [20] * 5  # volume first
    assert cache.shards_committed == 5 == len(shard_records(tmp_path, embedder))


class KilledAfterCalls:
    """A real embedder interrupted at its ``calls + 1``-th encode, as a kill between two commits."""

    def __init__(self, embedder, calls: int) -> None:
        self.inner = embedder
        self.calls = calls
        self.name, self.identity, self.dim = embedder.name, embedder.identity, embedder.dim
        self.max_length, self.cache_dtype = embedder.max_length, embedder.cache_dtype

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self.calls == 0:
            raise KeyboardInterrupt("simulated kill")
        self.calls -= 1
        return self.inner.encode(texts)


def test_a_resumed_encode_is_bit_identical_to_an_uninterrupted_one(tmp_path: Path, minilm_embedder) -> None:
    """MiniLM batches and pads within a chunk, so this holds only if a resume re-forms the same chunks."""
    assert minilm_embedder.batch_size > 1
    rng = np.random.default_rng(3)
    words = ["retrieval", "adapter", "align", "query", "document", "frozen", "index", "embedding"]
    texts = [" ".join(rng.choice(words, size=int(n))) for n in rng.integers(2, 60, size=90)]
    settings = {"chunk_size": 16, "chunk_chars": 1500}
    whole = EmbeddingCache(tmp_path / "whole", **settings).get_or_encode(minilm_embedder, texts)
    for calls in (1, 3):
        root = tmp_path / f"killed-after-{calls}"
        with pytest.raises(KeyboardInterrupt):
            EmbeddingCache(root, **settings).fill(KilledAfterCalls(minilm_embedder, calls), texts)
        resumed_cache = EmbeddingCache(root, **settings)
        resumed = resumed_cache.get_or_encode(minilm_embedder, texts)
        assert 0 < resumed_cache.stats.encoded < len(texts)
        np.testing.assert_array_equal(resumed, whole)


def test_hits_count_requests_not_distinct_texts(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    cache = EmbeddingCache(tmp_path)
    cache.get_or_encode(embedder, ["a", "b"])
    cache.get_or_encode(embedder, ["a", "a", "b"])  # one request: "a" counted once
    cache.get_or_encode(embedder, ["b"])
    assert (cache.stats.encoded, cache.stats.hits) == (2, 3)


def test_fill_then_read_serves_rows_and_read_refuses_missing_texts(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    cache = EmbeddingCache(tmp_path)
    cache.fill(embedder, TEXTS)
    np.testing.assert_array_equal(cache.read(embedder, TEXTS[::-1]), embedder.encode(TEXTS[::-1]))
    with pytest.raises(KeyError, match="not in the cache"):
        cache.read(embedder, ["never encoded"])


def test_missing_counts_distinct_texts_not_on_disk_and_encodes_nothing(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    cache = EmbeddingCache(tmp_path)
    assert cache.missing(embedder, ["a", "b", "b"]) == 2
    cache.fill(embedder, ["a"])
    calls = len(embedder.calls)
    assert cache.missing(embedder, ["a", "b", "b", "c"]) == 2
    assert EmbeddingCache(tmp_path).missing(embedder, ["a"]) == 0, "another process sees the commit"
    assert len(embedder.calls) == calls


class HalfEmbedder(FakeEmbedder):
    def __init__(self, cache_dtype: str) -> None:
        super().__init__(name=f"fake-{cache_dtype}", dim=64)
        self.cache_dtype = cache_dtype


@pytest.mark.parametrize(("dtype", "torch_dtype"), [("float16", "float16"), ("bfloat16", "bfloat16")])
def test_half_precision_storage_halves_the_bytes(tmp_path: Path, dtype: str, torch_dtype: str) -> None:
    import torch

    full, half = HalfEmbedder("float32"), HalfEmbedder(dtype)
    EmbeddingCache(tmp_path).fill(full, TEXTS)
    cache = EmbeddingCache(tmp_path)
    fresh = cache.get_or_encode(half, TEXTS)
    stored = EmbeddingCache(tmp_path).get_or_encode(half, TEXTS)
    reference = torch.from_numpy(half.encode(TEXTS)).to(getattr(torch, torch_dtype)).float().numpy()
    np.testing.assert_array_equal(fresh, reference)  # rounded to nearest, upcast exactly
    np.testing.assert_array_equal(stored, fresh)
    assert fresh.dtype == np.float32

    def vector_bytes(embedder: FakeEmbedder) -> int:
        return sum(p.with_suffix(".npy").stat().st_size for p in shard_records(tmp_path, embedder))

    header = 128 * len(shard_records(tmp_path, half))
    assert vector_bytes(half) - header == (vector_bytes(full) - header) // 2


def test_a_shard_of_another_dtype_is_never_read(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Dtypes live in separate identities; a foreign-dtype shard in a folder is rejected, not mixed in."""
    EmbeddingCache(tmp_path).fill(FakeEmbedder(dim=64), TEXTS)
    impostor = HalfEmbedder("float16")
    impostor.identity = FakeEmbedder().identity  # same folder, other dtype
    cache = EmbeddingCache(tmp_path)
    with caplog.at_level(logging.WARNING, logger="era_exp.embed.cache"):
        cache.fill(impostor, TEXTS)
    assert "float16" in caplog.text and cache.stats.encoded == len(TEXTS)


def test_the_key_index_grows_by_merging_runs_and_finds_what_one_sort_would(tmp_path: Path) -> None:
    from era_exp.embed.cache import _Run, _Shard, _Store, text_keys

    store = _Store(tmp_path, 8, "float32", "size", None)  # type: ignore[arg-type]
    rng = np.random.default_rng(0)
    vocabulary = [f"text {i}" for i in range(600)]
    for number in range(40):  # shards of varied sizes; some keys repeat in later shards
        texts = sorted(set(rng.choice(vocabulary, size=int(rng.integers(1, 40))).tolist()))
        store.shards.append(
            _Shard(f"shard-{number}", np.zeros((len(texts), 8), np.float32), text_keys(texts))
        )
        if number % 3 == 0:
            store.lookup(text_keys(vocabulary[:5]))  # lookups between commits grow the index
    asked = text_keys([*vocabulary, "never stored"])
    shard, row = store.lookup(asked)
    assert len(store._runs) <= 1 + int(np.log2(sum(len(s.keys) for s in store.shards)))
    once = _Run.of(store.shards, 0)  # the whole index sorted at once, as before runs
    pos = np.minimum(np.searchsorted(once.keys, asked), len(once.keys) - 1)
    found = once.keys[pos] == asked
    np.testing.assert_array_equal(shard, np.where(found, once.owners[pos], -1))
    np.testing.assert_array_equal(row[found], once.rows[pos[found]])
    for key, owner, at in zip(asked[found], shard[found], row[found], strict=True):
        assert store.shards[owner].keys[at] == key
        earlier = [n for n, s in enumerate(store.shards) if key in set(s.keys.tolist())]
        assert owner == earlier[0]  # a repeated key resolves to its earliest shard
