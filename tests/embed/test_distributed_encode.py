"""One process per device through Lightning's Trainer.predict (DDP, gloo on CPU) fills one cold cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from era_exp.embed.cache import EmbeddingCache
from era_exp.embed.distributed import EncodeJob, EncodeSettings, encode_jobs, shard_of
from era_exp.embed.hf import HFEmbedder

TEXTS = [f"document {i}: " + " ".join(["token"] * (3 + (i * 7) % 40)) for i in range(120)]

# Run as a script, because Lightning starts rank 1 by running the same command again.
SCRIPT = """
import json, sys
from era_exp.embed.distributed import EncodeJob, EncodeSettings, encode_jobs
from era_exp.embed.hf import HFEmbedder

model, root, texts_file, out, chunk_size = sys.argv[1:6]
texts = json.loads(open(texts_file).read())
embedder = HFEmbedder("tiny", model, device="cpu", batch_size=1)
settings = EncodeSettings(accelerator="cpu", devices=2, chunk_size=int(chunk_size), unit_chunks=2)
report = encode_jobs([EncodeJob(root, embedder, texts)], settings)
if report is not None:
    open(out, "w").write(json.dumps(report.ranks))
"""


@pytest.mark.parametrize(
    ("count", "chunk_size"),
    [(120, 8), (20, 256), (1, 256)],
    ids=["many-units", "fewer-units-than-ranks", "fewer-texts-than-ranks"],
)
def test_two_cpu_ranks_encode_each_text_once_with_single_process_vectors(
    tmp_path: Path, tiny_model_dir: Path, count: int, chunk_size: int
) -> None:
    """batch_size=1 makes every vector independent of how texts are chunked, so they must be equal.

    Also where the texts fill fewer work units than there are ranks (a small grid at the default
    chunk size): every rank still joins, and each text is encoded once.
    """
    texts = TEXTS[:count]
    script, texts_file, out = tmp_path / "encode.py", tmp_path / "texts.json", tmp_path / "ranks.json"
    script.write_text(SCRIPT)
    texts_file.write_text(json.dumps(texts))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ERA_QUIET": "1"}
    command = [sys.executable, str(script), str(tiny_model_dir), str(tmp_path / "cache"), str(texts_file)]
    command += [str(out), str(chunk_size)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = json.loads(out.read_text())
    assert len(ranks) == 2
    assert sum(rank["encoded"] for rank in ranks) == len(texts)  # each distinct text once in total
    embedder = HFEmbedder("tiny", str(tiny_model_dir), device="cpu", batch_size=1)
    distributed = EmbeddingCache(tmp_path / "cache").read(embedder, texts)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the ranks: the thread count changes float reductions
    try:
        single = EmbeddingCache(tmp_path / "single").get_or_encode(embedder, texts)
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(distributed, single)
    assert not list((tmp_path / "cache" / embedder.identity / "claims").glob("claim-*"))


def test_one_process_path_and_shards(tmp_path: Path, tiny_model_dir: Path) -> None:
    embedder = HFEmbedder("tiny", str(tiny_model_dir), device="cpu")
    shards = [shard_of(TEXTS, i, 3) for i in range(3)]
    assert sorted(t for shard in shards for t in shard) == sorted(TEXTS)
    assert shard_of(TEXTS[::-1], 1, 3) == shards[1]  # depends on the set, not the order
    for shard in shards:
        report = encode_jobs([EncodeJob(str(tmp_path), embedder, shard)], EncodeSettings(chunk_size=16))
        assert report is not None and report.encoded == len(shard)
    again = encode_jobs([EncodeJob(str(tmp_path), embedder, TEXTS)], EncodeSettings())
    assert again is not None and again.encoded == 0


def test_bad_settings_name_the_key() -> None:
    with pytest.raises(ValueError, match=r"encode\.devices"):
        EncodeSettings(devices=0)
    with pytest.raises(ValueError, match="array_jobs"):
        EncodeSettings(array_jobs=0)
