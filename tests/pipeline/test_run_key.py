"""The run key names the data by content: a moved folder keeps it, changed data changes it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from era_exp.config import compose
from era_exp.data.fingerprint import FileDigests
from era_exp.embed.hf import resolve_device
from era_exp.pipeline.results import run_key
from era_exp.pipeline.run import run
from helpers.config import TINY_BUILTIN


def _local_key(root: Path, cache: Path, *overrides: str) -> str:
    return run_key(
        compose(
            [f"paths.mair_lite={root}", f"paths.cache_dir={cache}", *overrides], return_hydra_config=False
        )
    )


def _write(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def _tasks(root: Path, text: str = "document") -> Path:
    """Two small MAIR-format tasks; ``text`` is TMDB's only document."""
    for task, docs in (("SciFact", ["d1", "d2"]), ("TMDB", ["d1"])):
        queries = [
            {"qid": f"q{i}", "instruction": "", "query": "q", "labels": [{"id": d, "score": 1}]}
            for i, d in enumerate(docs)
        ]
        _write(root / task / "queries.jsonl", queries)
        _write(root / task / "docs.jsonl", [{"id": d, "doc": text if task == "TMDB" else d} for d in docs])
    return root


def test_the_key_follows_the_data_not_its_path(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = _tasks(tmp_path / "a")
    key = _local_key(first, cache)
    moved = tmp_path / "elsewhere" / "b"
    moved.parent.mkdir()
    first.rename(moved)
    assert _local_key(moved, cache) == key, "a moved folder is the same data"
    copied = tmp_path / "copy"
    shutil.copytree(moved, copied)
    assert _local_key(copied, cache) == key, "a copy is the same data"
    other = _tasks(tmp_path / "other", text="another document")
    assert _local_key(other, cache) != key, "changed data is another run"
    (copied / "TMDB" / "docs.jsonl").write_text(json.dumps({"id": "d1", "doc": "edited"}) + "\n")
    assert _local_key(copied, cache) != key, "data edited in place is another run"
    assert _local_key(moved, cache, "data.tasks=[SciFact]") != key, "the selection is part of the data"


def test_file_digests_are_read_once_and_survive_a_move(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_text('{"id": "d1", "doc": "x"}\n')
    digests = FileDigests(tmp_path / "digests.json")
    digest = digests.digest(path)
    digests.save()
    moved = tmp_path / "moved.jsonl"
    path.rename(moved)
    again = FileDigests(tmp_path / "digests.json")
    assert again.digest(moved) == digest
    assert not again._dirty, "a moved file is recognised by its stat signature, not read again"


def test_the_key_of_a_mirror_follows_its_files(mair_replica: Path, tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    for repo in ("MAIR-Queries", "MAIR-Docs"):
        shutil.copytree(mair_replica / repo, mirror / repo)

    def key(root: Path) -> str:
        return run_key(
            compose(
                [
                    "data=hub",
                    f"data.queries={root / 'MAIR-Queries'}",
                    f"data.docs={root / 'MAIR-Docs'}",
                    "data.queries_revision=null",
                    "data.tasks=[SciFact,CQADupStack]",
                    f"paths.cache_dir={tmp_path / 'cache'}",
                ],
                return_hydra_config=False,
            )
        )

    before = key(mirror)
    moved = tmp_path / "moved"
    mirror.rename(moved)
    assert key(moved) == before
    docs = moved / "MAIR-Docs" / "CQADupStack" / "CQADupStack_Gis_docs.jsonl"
    docs.write_text(docs.read_text().replace('"doc": "', '"doc": "changed ', 1))
    assert key(moved) != before


@pytest.mark.parametrize("method", ["zero_shot", "era"])
def test_location_keys_never_enter_the_key(tmp_path: Path, method: str) -> None:
    root = _tasks(tmp_path / "tasks")
    keys = {_local_key(root, tmp_path / f"cache-{name}", f"method={method}") for name in "ab"}
    assert len(keys) == 1, "the cache folder (digests included) is not part of the run"


def _builtin_key(*overrides: str) -> str:
    return run_key(compose(["data=builtin", *overrides], return_hydra_config=False))


# Per method: overrides of groups it never reads (same key) and of groups it reads (another key).
UNREAD_AND_READ = {
    "zero_shot": (
        ("pair=mpnet_to_minilm", "adapter=residual_mlp", "stage1.lr=0.5", "stage2.lr=0.5", "miner=random"),
        ("embedder@doc_embedder=mpnet", "doc_embedder.query_template=e5", "seed=1"),
    ),
    "align_only": (
        ("stage2.lr=0.5", "miner=random", "stage2.balance=task"),
        ("stage1.lr=0.5", "adapter=residual_mlp", "pair=mpnet_to_minilm"),
    ),
    "label_only": (
        ("stage1.lr=0.5", "stage1.samples_per_task=10"),
        ("stage2.lr=0.5", "miner=random", "pair=mpnet_to_minilm"),
    ),
    "era": ((), ("stage1.lr=0.5", "stage2.lr=0.5", "miner=random", "adapter=residual_mlp")),
}


@pytest.mark.parametrize("method", list(UNREAD_AND_READ))
def test_a_run_key_holds_what_the_method_reads_and_nothing_else(method: str) -> None:
    unread, read = UNREAD_AND_READ[method]
    key = _builtin_key(f"method={method}")
    for override in unread:
        assert _builtin_key(f"method={method}", override) == key, f"{method} does not read {override}"
    for override in read:
        assert _builtin_key(f"method={method}", override) != key, f"{method} reads {override}"


def test_embedders_enter_the_key_by_what_their_vectors_depend_on() -> None:
    key = _builtin_key("method=era")
    assert _builtin_key("method=era", "doc_embedder.batch_size=8", "query_embedder.batch_size=8") == key
    here = resolve_device("auto").type
    assert _builtin_key("method=era", f"doc_embedder.device={here}") == key, "auto names this device"
    changes = ("doc_embedder.batching=padded", "query_embedder.max_length=128", "doc_embedder.pooling=cls")
    if here != "cpu":
        changes = changes[1:]  # padded is already the default off CPU
    for changed in changes:
        assert _builtin_key("method=era", changed) != key, changed


@pytest.mark.parametrize(
    ("method", "unread"),
    [
        ("zero_shot", ("pair=mpnet_to_minilm", "stage2.lr=0.5")),
        ("align_only", ("stage2.lr=0.5", "miner=random")),
        ("label_only", ("stage1.lr=0.5", "stage1.epochs=1")),
    ],
)
def test_runs_sharing_a_key_compute_the_same_numbers(
    run_config, tmp_path: Path, method: str, unread: tuple[str, ...]
) -> None:
    """What a key leaves out is unread: both runs computed in full give the same per-query scores."""
    base = (*TINY_BUILTIN, f"method={method}", "reuse_stage1=false")
    first, second = run_config(*base), run_config(*base, *unread)
    assert run_key(first) == run_key(second)
    a, b = run(first, tmp_path / "a"), run(second, tmp_path / "b")
    assert a["per_unit"] == b["per_unit"] and a["overall"] == b["overall"]
    assert a["validation"] == b["validation"]
