"""Pipeline fixtures: a MAIR-shaped replica for the paper's grid, and tiny random-init models of the real
Qwen3-Embedding architecture, offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.replica import build_replica

EOS = "<|endoftext|>"
# One or two tasks per domain: single-query sub-splits (SWE-Bench-Lite), multi-split tasks (CQADupStack,
# CUAD, MISeD) and graded labels (NFCorpus). At this scale each of SWE-Bench-Lite's 119 corpora holds
# about 20 documents, so Stage 2 mines its negatives among real distractors, not only padding.
GRID_TASKS = (
    "SciFact",
    "MBPP",
    "SWE-Bench-Lite",
    "Apple",
    "CUAD",
    "AILA2019-Statutes",
    "NFCorpus",
    "MISeD",
    "CQADupStack",
)
GRID_SCALE = 0.02


@pytest.fixture(scope="session")
def grid_replica(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A MAIR-shaped mirror (``MAIR-Queries/``, ``MAIR-Docs/``) of :data:`GRID_TASKS`: ~7,000 documents."""
    return build_replica(tmp_path_factory, "grid-replica", GRID_SCALE, GRID_TASKS)


@pytest.fixture(scope="session")
def grid_tasks() -> tuple[str, ...]:
    """The tasks :func:`grid_replica` holds."""
    return GRID_TASKS


def _replica_texts(replica: Path, limit: int = 4000) -> list[str]:
    """Query and document texts of the replica mirror, to train a tokenizer on its vocabulary."""
    texts: list[str] = []
    for path in sorted(replica.glob("MAIR-*/*/*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            texts += [row.get("query") or "", row.get("instruction") or "", row.get("doc") or ""]
            if len(texts) >= limit:
                return [t for t in texts if t]
    return [t for t in texts if t]


def qwen3_tokenizer(folder: Path, texts: list[str], vocab_size: int = 2048):
    """A byte-level BPE tokenizer as Qwen3's: ``<|endoftext|>`` appended to every text, left padding."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS]))
    eos_id = bpe.token_to_id(EOS)
    bpe.post_processor = processors.TemplateProcessing(single=f"$A {EOS}", special_tokens=[(EOS, eos_id)])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, eos_token=EOS, pad_token=EOS, padding_side="left", model_max_length=8192
    )
    tokenizer.save_pretrained(folder)
    return tokenizer


def tiny_qwen3(folder: Path, tokenizer, hidden: int, seed: int) -> Path:
    """A two-layer Qwen3 model (the Qwen3-Embedding architecture) with random weights, saved to ``folder``."""
    import torch
    from transformers import Qwen3Config, Qwen3Model

    torch.manual_seed(seed)
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=hidden // 2,
        max_position_embeddings=512,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    Qwen3Model(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_qwen3_pair(grid_replica: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A larger query model (hidden 64) and a smaller document model (hidden 32), as 8B -> 0.6B."""
    root = tmp_path_factory.mktemp("tiny-qwen3")
    tokenizer = qwen3_tokenizer(root / "tokenizer", _replica_texts(grid_replica))
    return {
        "query": tiny_qwen3(root / "query", tokenizer, hidden=64, seed=1),
        "doc": tiny_qwen3(root / "doc", tokenizer, hidden=32, seed=2),
    }


@pytest.fixture(scope="session")
def tiny_qwen3_overrides(tiny_qwen3_pair: dict[str, Path]) -> list[str]:
    """Config overrides putting the tiny models in the paper's pair (Qwen3-Embedding-8B -> 0.6B)."""
    overrides = ["pair=qwen3-8b_to_qwen3-0.6b"]
    for side in ("query", "doc"):
        overrides += [
            f"{side}_embedder.name=tiny-qwen3-{side}",
            f"{side}_embedder.model={tiny_qwen3_pair[side]}",
            f"{side}_embedder.max_length=64",
            f"{side}_embedder.batch_size=64",
            f"{side}_embedder.device=cpu",
            f"{side}_embedder.dtype=float32",
        ]
    return overrides
