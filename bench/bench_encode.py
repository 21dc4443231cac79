"""Encoding throughput: era-exp's HFEmbedder.encode vs SentenceTransformer.encode, plus cache cost.

Both sides embed the same real mair-lite texts (documents and instructed queries from a few tasks)
with the same model, truncation and batch size, on CPU. Runs are interleaved slice by slice, so load
from other processes hits both sides alike; the figure per side is its total over all slices.
Embeddings are checked to agree (minimum cosine). A cold ``get_or_encode`` (empty cache) is compared
with a warm one (a fresh cache object over the same folder, so opening and verifying shards counts).

    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 .venv/bin/python bench/bench_encode.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import time
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
    """Interleaved timing of both encoders on ``texts``; returns the figures for one model."""
    batch_size = args.batch_size
    ours = HFEmbedder(
        name,
        model,
        max_length=args.max_length,
        batch_size=batch_size,
        device=args.device,
        dtype=args.dtype,
        max_batch_tokens=args.max_batch_tokens,
    )
    st = SentenceTransformer(resolve_model(model), device=args.device, model_kwargs={"dtype": ours.dtype})
    st.max_seq_length = ours.max_length
    warm = texts[: 2 * batch_size]
    ours.encode(warm, show_progress=False)
    st.encode(warm, batch_size=batch_size)
    _, lengths = ours.token_lengths(texts)
    times = {"sentence_transformers": 0.0, "era_exp": 0.0}
    outputs: dict[str, list[np.ndarray]] = {"sentence_transformers": [], "era_exp": []}
    runs = {
        "sentence_transformers": lambda part: st.encode(
            part, batch_size=batch_size, normalize_embeddings=True
        ),
        "era_exp": lambda part: ours.encode(part, show_progress=False),
    }
    for i, part in enumerate(np.array_split(np.arange(len(texts)), args.slices)):
        chunk = [texts[j] for j in part]
        for side in list(runs)[:: 1 if i % 2 == 0 else -1]:
            start = time.perf_counter()
            outputs[side].append(np.asarray(runs[side](chunk), dtype=np.float32))
            times[side] += time.perf_counter() - start
    a, b = (np.concatenate(outputs[side]) for side in runs)
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    tokens = int(lengths.sum())
    result = {
        "texts": len(texts),
        "tokens": tokens,
        "truncated_fraction": round(float((lengths >= ours.max_length).mean()), 3),
        "max_length": ours.max_length,
        "batch_size": batch_size,
        "max_batch_tokens": ours.max_batch_tokens,
        "device": str(ours.device),
        "dtype": str(ours.dtype).removeprefix("torch."),
        "min_cosine": float(cosine.min()),
        "speedup": round(times["sentence_transformers"] / times["era_exp"], 3),
    }
    for side, seconds in times.items():
        result[side] = {
            "seconds": round(seconds, 2),
            "texts_per_s": round(len(texts) / seconds, 2),
            "tokens_per_s": round(tokens / seconds, 1),
        }
    return result


def cache_cost(model: str, texts: list[str], args: argparse.Namespace) -> dict:
    """Cold vs warm ``get_or_encode`` on MiniLM, in a temporary cache folder."""
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
        cold = EmbeddingCache(root).get_or_encode(embedder, texts)
        cold_s = time.perf_counter() - start
        start = time.perf_counter()
        cache = EmbeddingCache(root)
        warm = cache.get_or_encode(embedder, texts)
        warm_s = time.perf_counter() - start
    assert np.array_equal(cold, warm) and cache.stats.encoded == 0
    return {
        "texts": len(texts),
        "cold_seconds": round(cold_s, 3),
        "warm_seconds": round(warm_s, 4),
        "warm_texts_per_s": round(len(texts) / warm_s, 1),
        "warm_over_cold": round(warm_s / cold_s, 5),
    }


def table(results: dict) -> str:
    """The figures as a markdown table, plus one line on the cache."""
    lines = [
        "| model | device, dtype | texts | tokens | sentence-transformers texts/s (tokens/s) "
        "| era-exp texts/s (tokens/s) | speedup | min cosine |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results["models"].items():
        st, ours = r["sentence_transformers"], r["era_exp"]
        lines.append(
            f"| {name} | {r['device']}, {r['dtype']} | {r['texts']} | {r['tokens']} "
            f"| {st['texts_per_s']} ({st['tokens_per_s']:.0f}) "
            f"| {ours['texts_per_s']} ({ours['tokens_per_s']:.0f}) "
            f"| {r['speedup']:.2f}x | {r['min_cosine']:.6f} |"
        )
    if cache := results.get("cache"):
        lines += [
            "",
            f"Cache (MiniLM, {cache['texts']} texts): cold {cache['cold_seconds']} s, "
            f"warm {cache['warm_seconds']} s ({cache['warm_texts_per_s']} texts/s served).",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    default_data = Path(os.environ.get("ERA_MAIR_LITE", REPO.parent / "shared" / "data" / "mair-lite"))
    parser.add_argument("--data", type=Path, default=default_data, help="mair-lite folder")
    parser.add_argument("--models", default="minilm,mpnet", help="comma-separated: minilm, mpnet")
    parser.add_argument("--docs", type=int, default=2000, help="documents for MiniLM")
    parser.add_argument("--queries", type=int, default=400, help="queries for MiniLM")
    parser.add_argument("--mpnet-docs", type=int, default=200)
    parser.add_argument("--mpnet-queries", type=int, default=50)
    parser.add_argument("--cache-texts", type=int, default=500)
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
    for name in args.models.split(","):
        if name == "minilm":
            texts = load_texts(args.data, args.docs, args.queries)
        else:
            texts = load_texts(args.data, args.mpnet_docs, args.mpnet_queries, seed=1)
        results["models"][name] = compare(name, getattr(args, name), texts, args)
        print(f"{name}: {json.dumps(results['models'][name])}", flush=True)
    if args.cache_texts:
        texts = load_texts(args.data, args.cache_texts * 4 // 5, args.cache_texts // 5, seed=2)
        results["cache"] = cache_cost(args.minilm, texts, args)
    results["machine"]["load_average_1min_end"] = round(os.getloadavg()[0], 2)
    print(table(results))
    merged = json.loads(args.out.read_text(encoding="utf-8")) if args.out.is_file() else {}
    merged["encode" if args.device == "cpu" else f"encode_{args.device}"] = results
    atomic_write_json(args.out, merged)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
