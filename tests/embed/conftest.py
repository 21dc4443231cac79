"""Embedding fixtures: the bundled MiniLM embedder and a tiny random BERT sharing MiniLM's tokenizer."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.tiny_models import make_tiny_bert


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT folder: fast to load and run, real tokenizer."""
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def minilm_embedder():
    """HFEmbedder on the bundled all-MiniLM-L6-v2, on CPU (loaded once per session)."""
    from era_exp.embed.hf import HFEmbedder

    return HFEmbedder("minilm", "bundled:minilm", device="cpu")
