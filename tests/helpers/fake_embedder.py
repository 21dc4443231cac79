"""A fake embedder for cache tests: deterministic vectors from each text's hash, every call recorded."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from era_exp.data.schema import Query
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
