"""Encoding throughput: era-exp's HFEmbedder.encode vs SentenceTransformer.encode, plus cache cost.

Both sides embed the same real mair-lite texts (documents and instructed queries from a few tasks)
with the same model, truncation and batch size, on CPU. Runs are interleaved slice by slice, so load
from other processes hits both sides alike; the figure per side is its total over all slices.
Embeddings are checked to agree (minimum cosine). era-exp runs with the device's default batching
(on CPU, widths set by each text's own length) and, where that is not padding, padded as well. A cold
``get_or_encode`` (empty cache) is compared with a warm one (a fresh cache object over the same
folder, so opening and verifying shards counts), with the time spent leasing and committing chunks
(the price of committing every 256 texts or 30 s) against the time inside the model. The same
vectors stored as float16 are compared in bytes and values with float32. Multi-process figures: 1
and 2 worker processes (sharing the cores equally) fill one cold cache with MiniLM, splitting the
texts through the cache's leases.

    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 .venv/bin/python bench/bench_encode.py
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

from era_exp.embed.cache import EmbeddingCache
from era_exp.embed.hf import HFEmbedder
from era_exp.embed.models import resolve_model
from era_exp.embed.templates import format_query
from era_exp.io import atomic_write_json

REPO = Path(__file__).resolve().parents[1]
TASKS = ("SciFact", "NFCorpus", "LegalQuAD", "HuggingfaceAPI", "Competition-Math", "MBPP", "TAT-QA")
MODELS = {"minilm": "bundled:minilm", "mpnet": "bundled:mpnet"}


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def load_texts(root: Path, n_docs: int, n_queries: int, seed: int = 0) -> list[str]:
    """``n_docs`` documents and ``n_queries`` instructed queries spread over TASKS, shuffled."""
    rng = random.Random(seed)
    docs: list[str] = []
    queries: list[str] = []
    for task in TASKS:
        task_docs = [row["doc"] for row in read_jsonl(root / task / "docs.jsonl")]
        rng.shuffle(task_docs)
        docs += task_docs[: -(-n_docs // len(TASKS))]
        rows = read_jsonl(root / task / "queries.jsonl")
        rng.shuffle(rows)
        queries += [
            format_query("plain", r["instruction"], r["query"]) for r in rows[: -(-n_queries // len(TASKS))]
        ]
    texts = docs[:n_docs] + queries[:n_queries]
    rng.shuffle(texts)
    return texts


def compare(name: str, model: str, texts: list[str], args: argparse.Namespace) -> dict:
    """Interleaved timing of both encoders on ``texts``; returns the figures for one model.

    era-exp runs with the device's default batching and, where that is not padding, padded too, so
    the figures show what batches whose vectors depend on each text alone cost.
    """
    batch_size = args.batch_size
    settings = dict(
        max_length=args.max_length,
        batch_size=batch_size,
        device=args.device,
        dtype=args.dtype,
        max_batch_tokens=args.max_batch_tokens,
    )
    ours = HFEmbedder(name, model, **settings)
    encoders = {"era_exp": ours}
    if ours.batching != "padded":
        encoders["era_exp_padded"] = HFEmbedder(name, model, batching="padded", **settings)
    st = SentenceTransformer(resolve_model(model), device=args.device, model_kwargs={"dtype": ours.dtype})
    st.max_seq_length = ours.max_length
    warm = texts[: 2 * batch_size]
    st.encode(warm, batch_size=batch_size)
    for encoder in encoders.values():
        encoder.encode(warm, show_progress=False)
    _, lengths = ours.token_lengths(texts)
    runs = {
        "sentence_transformers": lambda part: st.encode(
            part, batch_size=batch_size, normalize_embeddings=True
        ),
        **{
            side: (lambda part, e=encoder: e.encode(part, show_progress=False))
            for side, encoder in encoders.items()
        },
    }
    times = dict.fromkeys(runs, 0.0)
    outputs: dict[str, list[np.ndarray]] = {side: [] for side in runs}
    for i, part in enumerate(np.array_split(np.arange(len(texts)), args.slices)):
        chunk = [texts[j] for j in part]
        for side in list(runs)[:: 1 if i % 2 == 0 else -1]:
            start = time.perf_counter()
            outputs[side].append(np.asarray(runs[side](chunk), dtype=np.float32))
            times[side] += time.perf_counter() - start
    vectors = {side: np.concatenate(chunks) for side, chunks in outputs.items()}
    tokens = int(lengths.sum())
    result = {
        "texts": len(texts),
        "tokens": tokens,
        "truncated_fraction": round(float((lengths >= ours.max_length).mean()), 3),
        "max_length": ours.max_length,
        "batch_size": batch_size,
        "max_batch_tokens": ours.max_batch_tokens,
        "batching": ours.batching,
        "device": str(ours.device),
        "dtype": str(ours.dtype).removeprefix("torch."),
        "min_cosine": float(cosines(vectors["era_exp"], vectors["sentence_transformers"]).min()),
        "speedup": round(times["sentence_transformers"] / times["era_exp"], 3),
    }
    if "era_exp_padded" in times:
        result["padded_speedup"] = round(times["sentence_transformers"] / times["era_exp_padded"], 3)
    for side, seconds in times.items():
        result[side] = {
            "seconds": round(seconds, 2),
            "texts_per_s": round(len(texts) / seconds, 2),
            "tokens_per_s": round(tokens / seconds, 1),
        }
    return result


def chunk_batching(model: str, texts: list[str], args: argparse.Namespace, repeats: int = 2) -> dict:
    """Seconds per batching for a cold cache to encode ``texts``, as a run's cache fills do.

    The cache encodes chunk by chunk (longest texts first, 256 texts or 65,536 characters a chunk), and
    a batch never spans two chunks: this is the figure that shows what one token length per batch
    (``bucket_tokens=1``) costs against width buckets and padding. Fills alternate in order across
    ``repeats``, each into an empty cache, and each batching's figure is its total.
    """
    settings = dict(
        max_length=args.max_length, batch_size=args.batch_size, device=args.device, dtype=args.dtype
    )
    encoders = {
        "padded": HFEmbedder("minilm", model, batching="padded", **settings),
        "uniform, bucket_tokens=1": HFEmbedder(
            "minilm", model, batching="uniform", bucket_tokens=1, **settings
        ),
        "uniform (default)": HFEmbedder("minilm", model, batching="uniform", **settings),
    }
    for encoder in encoders.values():
        encoder.encode(texts[: 2 * args.batch_size], show_progress=False)
    seconds = dict.fromkeys(encoders, 0.0)
    for repeat in range(repeats):
        for name in list(encoders)[:: 1 if repeat % 2 == 0 else -1]:
            with tempfile.TemporaryDirectory() as root:
                began = time.perf_counter()
                EmbeddingCache(root).fill(encoders[name], texts)
                seconds[name] += time.perf_counter() - began
    return {
        "texts": len(texts),
        "repeats": repeats,
        "bucket_tokens": encoders["uniform (default)"].bucket_tokens,
        "seconds": {name: round(value, 2) for name, value in seconds.items()},
    }


def cache_cost(model: str, texts: list[str], args: argparse.Namespace) -> dict:
    """Cold vs warm ``get_or_encode`` on MiniLM, in a temporary cache folder, and the commit overhead."""
    embedder = HFEmbedder(
        "minilm",
        model,
        max_length=args.max_length,
        batch_size=args.batch_size,
        device=args.device,
        dtype=args.dtype,
    )
    with tempfile.TemporaryDirectory() as root:
        start = time.perf_counter()
        cold_cache = EmbeddingCache(root)
        cold = cold_cache.get_or_encode(embedder, texts)
        cold_s = time.perf_counter() - start
        start = time.perf_counter()
        cache = EmbeddingCache(root)
        warm = cache.get_or_encode(embedder, texts)
        warm_s = time.perf_counter() - start
        storage = storage_cost(root, embedder, texts, cold)
    assert np.array_equal(cold, warm) and cache.stats.encoded == 0
    return {
        "texts": len(texts),
        "cold_seconds": round(cold_s, 3),
        "warm_seconds": round(warm_s, 4),
        "warm_texts_per_s": round(len(texts) / warm_s, 1),
        "warm_over_cold": round(warm_s / cold_s, 5),
        "chunk_size": cold_cache.chunk_size,
        "chunk_chars": cold_cache.chunk_chars,
        "shards": cold_cache.shards_committed,
        "model_seconds": round(cold_cache.encode_seconds, 3),
        "lease_and_commit_seconds": round(cold_cache.overhead_seconds, 4),
        "commit_overhead_fraction": round(cold_cache.overhead_seconds / cold_cache.encode_seconds, 5),
        "storage": storage,
    }


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


class Stored:
    """Serves vectors already computed, under an identity per storage dtype (measures storage only)."""

    def __init__(self, embedder: HFEmbedder, texts: Sequence[str], vectors: np.ndarray, dtype: str) -> None:
        self.name, self.dim, self.cache_dtype = embedder.name, embedder.dim, dtype
        self.identity = f"{embedder.identity}-stored-{dtype}"
        self._rows = {text: row for text, row in zip(texts, vectors, strict=True)}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._rows[t] for t in texts])


def storage_cost(root: str, embedder: HFEmbedder, texts: list[str], vectors: np.ndarray) -> dict:
    """Bytes on disk and value error of the same vectors stored as float32 and float16."""
    figures: dict = {}
    for dtype in ("float32", "float16"):
        stored = Stored(embedder, texts, vectors, dtype)
        cache = EmbeddingCache(root, chunk_size=len(texts))  # one shard each: bytes without chunking
        back = cache.get_or_encode(stored, texts)
        folder = Path(root) / stored.identity
        figures[dtype] = {
            "vector_bytes": sum(p.stat().st_size for p in folder.glob("shard-*[0-9a-f].npy")),
            "max_abs_error": float(np.abs(back - vectors).max()),
            "min_cosine": float(cosines(back, vectors).min()),
        }
    figures["float16_over_float32"] = round(
        figures["float16"]["vector_bytes"] / figures["float32"]["vector_bytes"], 4
    )
    return figures


def _fill_worker(model: str, root: str, texts: list[str], threads: int, barrier, results) -> None:
    torch.set_num_threads(threads)
    embedder = HFEmbedder("minilm", model, device="cpu", dtype="float32")
    cache = EmbeddingCache(root)
    embedder.encode(texts[:8], show_progress=False)  # load the weights before the clock starts
    barrier.wait()
    start = time.perf_counter()
    cache.fill(embedder, texts)
    results.put((cache.stats.encoded, start, time.perf_counter()))


def multi_process(model: str, texts: list[str], processes: Sequence[int]) -> list[dict]:
    """Wall time for ``n`` worker processes (cores split equally) to fill one cold cache."""
    cpus = len(os.sched_getaffinity(0))
    context = multiprocessing.get_context("spawn")
    rows = []
    for n in processes:
        with tempfile.TemporaryDirectory() as root:
            barrier, results = context.Barrier(n), context.Queue()
            threads = max(1, cpus // n)
            args = (model, root, texts, threads, barrier, results)
            workers = [context.Process(target=_fill_worker, args=args) for _ in range(n)]
            for worker in workers:
                worker.start()
            outcomes = [results.get(timeout=3600) for _ in workers]
            for worker in workers:
                worker.join()
        wall = max(end for _, _, end in outcomes) - min(start for _, start, _ in outcomes)
        encoded = [e for e, _, _ in outcomes]
        assert sum(encoded) == len(set(texts)), encoded  # each distinct text once in total
        rows.append(
            {
                "processes": n,
                "threads_each": threads,
                "texts": len(texts),
                "encoded_per_process": encoded,
                "seconds": round(wall, 2),
                "texts_per_s": round(len(texts) / wall, 2),
            }
        )
        print(f"multi-process: {json.dumps(rows[-1])}", flush=True)
    return rows


def table(results: dict) -> str:
    """The figures as a markdown table, plus one line on the cache."""
    lines = [
        "| model | device, dtype | texts | tokens | sentence-transformers texts/s (tokens/s) "
        "| era-exp texts/s (tokens/s) | speedup | min cosine |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results["models"].items():
        st, ours = r["sentence_transformers"], r["era_exp"]
        padded = f", padded {r['era_exp_padded']['texts_per_s']}" if "era_exp_padded" in r else ""
        lines.append(
            f"| {name} | {r['device']}, {r['dtype']} | {r['texts']} | {r['tokens']} "
            f"| {st['texts_per_s']} ({st['tokens_per_s']:.0f}) "
            f"| {ours['texts_per_s']} ({ours['tokens_per_s']:.0f}, {r['batching']}{padded}) "
            f"| {r['speedup']:.2f}x | {r['min_cosine']:.6f} |"
        )
    if cache := results.get("cache"):
        lines += [
            "",
            f"Cache (MiniLM, {cache['texts']} texts): cold {cache['cold_seconds']} s, "
            f"warm {cache['warm_seconds']} s ({cache['warm_texts_per_s']} texts/s served); "
            f"{cache['shards']} chunks leased and committed in {cache['lease_and_commit_seconds']} s "
            f"({cache['commit_overhead_fraction']:.2%} of the model's time); float16 storage "
            f"{cache['storage']['float16_over_float32']:.3f}x the bytes of float32.",
        ]
    for row in results.get("multi_process", []):
        encoded = row["encoded_per_process"]
        lines.append(f"{row['processes']} processes: {row['seconds']} s, encoded {encoded}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    default_data = Path(os.environ.get("ERA_MAIR_LITE", REPO.parent / "shared" / "data" / "mair-lite"))
    parser.add_argument("--data", type=Path, default=default_data, help="mair-lite folder")
    parser.add_argument(
        "--models",
        default="minilm,mpnet",
        help="comma-separated: minilm, mpnet; empty keeps the comparison already in --out",
    )
    parser.add_argument("--docs", type=int, default=2000, help="documents for MiniLM")
    parser.add_argument("--queries", type=int, default=400, help="queries for MiniLM")
    parser.add_argument("--mpnet-docs", type=int, default=200)
    parser.add_argument("--mpnet-queries", type=int, default=50)
    parser.add_argument(
        "--chunk-texts", type=int, default=1024, help="texts for the per-chunk batching figures"
    )
    parser.add_argument("--cache-texts", type=int, default=500)
    parser.add_argument("--mp-texts", type=int, default=300, help="texts for the multi-process figures")
    parser.add_argument("--processes", default="1,2", help="worker process counts to compare")
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--slices", type=int, default=4, help="interleaving slices per side")
    parser.add_argument("--max-batch-tokens", type=int, default=None, help="default: the embedder's")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", help="for both sides")
    parser.add_argument("--minilm", default=MODELS["minilm"], help="MiniLM reference or folder")
    parser.add_argument("--mpnet", default=MODELS["mpnet"], help="mpnet reference or folder")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "encode.json")
    args = parser.parse_args()

    results: dict = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cpus": len(os.sched_getaffinity(0)),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "load_average_1min_start": round(os.getloadavg()[0], 2),
        },
        "models": {},
    }
    merged = json.loads(args.out.read_text(encoding="utf-8")) if args.out.is_file() else {}
    key = "encode" if args.device == "cpu" else f"encode_{args.device}"
    if not args.models and key in merged:  # keep the comparison measured before, marked as such
        results["models"] = merged[key]["models"]
        results["models_machine"] = merged[key].get("models_machine", merged[key]["machine"])
    for name in filter(None, args.models.split(",")):
        if name == "minilm":
            texts = load_texts(args.data, args.docs, args.queries)
        else:
            texts = load_texts(args.data, args.mpnet_docs, args.mpnet_queries, seed=1)
        results["models"][name] = compare(name, getattr(args, name), texts, args)
        print(f"{name}: {json.dumps(results['models'][name])}", flush=True)
    if args.chunk_texts:
        texts = load_texts(args.data, args.chunk_texts * 4 // 5, args.chunk_texts // 5, seed=4)
        results["chunks"] = chunk_batching(args.minilm, texts, args)
        print(f"chunks: {json.dumps(results['chunks'])}", flush=True)
    if args.cache_texts:
        texts = load_texts(args.data, args.cache_texts * 4 // 5, args.cache_texts // 5, seed=2)
        results["cache"] = cache_cost(args.minilm, texts, args)
    if args.mp_texts and args.device == "cpu":
        texts = load_texts(args.data, args.mp_texts * 4 // 5, args.mp_texts // 5, seed=3)
        counts = [int(n) for n in args.processes.split(",")]
        results["multi_process"] = multi_process(args.minilm, texts, counts)
    results["machine"]["load_average_1min_end"] = round(os.getloadavg()[0], 2)
    print(table(results))
    merged[key] = results
    atomic_write_json(args.out, merged)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
