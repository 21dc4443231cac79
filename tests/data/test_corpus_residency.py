"""Corpora as handles: rows read again after being let go equal the first read, drops included, and no
more corpora than the budget allows are ever in memory at once."""

from __future__ import annotations

import gc
import json
import shutil
from pathlib import Path

import pytest

from era_exp.data.assemble import CorpusPool
from era_exp.data.errors import DataError
from era_exp.data.hub import load_hub_tasks
from era_exp.data.local import load_local_tasks
from era_exp.data.schema import Task
from helpers.mair_files import doc, query, write_split

EVERYTHING = 1e6  # MiB: every corpus stays in memory, as when corpora were plain tuples
HUB_TASKS = ["SciFact", "FiQA", "CQADupStack", "ELI5", "CUAD"]


def _mirror(root: Path) -> dict[str, str]:
    return {"queries": str(root / "MAIR-Queries"), "docs": str(root / "MAIR-Docs")}


def _rows(tasks: list[Task]) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    """Every unit's corpus rows, asked in reverse order and then forwards, so corpora are read again."""
    seen = [(t.name, t.corpus.ids, tuple(t.corpus.texts)) for t in reversed(tasks)]
    return seen[::-1] + [(t.name, t.corpus.ids, tuple(t.corpus.texts)) for t in tasks]


def test_hub_corpora_read_again_from_arrow_equal_the_first_read(mair_replica: Path, tmp_path: Path) -> None:
    kept = load_hub_tasks(
        HUB_TASKS, cache_dir=str(tmp_path), pool=CorpusPool(EVERYTHING), **_mirror(mair_replica)
    )
    pool = CorpusPool(0)
    lean = load_hub_tasks(HUB_TASKS, cache_dir=str(tmp_path), pool=pool, **_mirror(mair_replica))
    import datasets

    assert not [o for o in gc.get_objects() if isinstance(o, datasets.Dataset)], (
        "no Dataset outlives the load"
    )
    assert lean == kept
    assert _rows(lean) == _rows(kept)
    corpora = {t.corpus.key for t in lean}
    assert pool.residency.reads >= len(corpora)  # each was let go and read again
    assert pool.residency.peak_columns == 1 and len(pool.residency.resident()) == 1
    for task in lean:  # labels and positions resolve against the corpus read again
        for q in task.queries:
            assert all(doc_id in task.corpus for doc_id in q.labels)
            assert all(task.corpus.ids[task.corpus.position(d)] == d for d in q.labels)


def test_mair_lite_corpora_read_again_from_jsonl_equal_the_first_read(mair_lite_root: Path) -> None:
    kept = load_local_tasks(mair_lite_root, pool=CorpusPool(EVERYTHING))
    pool = CorpusPool(0)
    lean = load_local_tasks(mair_lite_root, pool=pool)
    assert lean == kept and _rows(lean) == _rows(kept)
    assert pool.residency.peak_columns == 1
    held = CorpusPool(EVERYTHING)
    load_local_tasks(mair_lite_root, pool=held)
    assert held.residency.reads == 0 and held.residency.peak_columns == len({t.corpus.key for t in kept})


def test_a_budget_keeps_recent_corpora_and_lets_older_ones_go(mair_lite_root: Path) -> None:
    chars = {
        t.corpus.key: t.corpus.chars for t in load_local_tasks(mair_lite_root, pool=CorpusPool(EVERYTHING))
    }
    budget = sorted(chars.values())[-1] + sorted(chars.values())[-2]
    pool = CorpusPool(budget / 2**20)
    tasks = load_local_tasks(mair_lite_root, pool=pool)
    _rows(tasks)
    assert sum(chars[key] for key in pool.residency.resident()) <= budget
    assert pool.residency.peak_chars <= budget + max(chars.values())
    assert 1 < pool.residency.peak_columns < len(chars)


def test_non_strict_drops_are_applied_again(mair_replica: Path, tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    for repo in ("MAIR-Queries", "MAIR-Docs"):
        shutil.copytree(mair_replica / repo, mirror / repo)
    docs = mirror / "MAIR-Docs" / "SciFact" / "docs.jsonl"
    lines = docs.read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    bad = [json.dumps(first), json.dumps({"id": "empty-doc", "doc": "  "})]
    docs.write_text("\n".join([lines[0], *bad, *lines[1:]]) + "\n", encoding="utf-8")
    expected = tuple(str(json.loads(line)["id"]) for line in lines)
    pool = CorpusPool(0)
    tasks = load_hub_tasks(
        ["SciFact", "FiQA"], strict=False, cache_dir=str(tmp_path / "hf"), pool=pool, **_mirror(mirror)
    )
    assert tasks[1].corpus.ids and tasks[0].corpus.ids == expected
    assert pool.residency.reads >= 1


def test_local_non_strict_drops_are_applied_again(tmp_path: Path) -> None:
    write_split(
        tmp_path / "SciFact", [query("q1", "d1"), query("q2", "d2")], [doc("d1"), doc("d1"), doc("d2")]
    )
    write_split(tmp_path / "FiQA", [query("q1", "e1")], [doc("e1"), {"id": "e2", "doc": ""}])
    pool = CorpusPool(0)
    fiqa, scifact = load_local_tasks(tmp_path, strict=False, pool=pool)  # in folder order
    assert scifact.corpus.ids == ("d1", "d2") and fiqa.corpus.ids == ("e1",)
    assert scifact.corpus.ids == ("d1", "d2") and pool.residency.reads == 2


def test_a_corpus_changed_on_disk_after_loading_is_an_error(tmp_path: Path) -> None:
    write_split(tmp_path / "SciFact", [query("q1", "d1")], [doc("d1"), doc("d2")])
    write_split(tmp_path / "FiQA", [query("q1", "e1")], [doc("e1")])
    fiqa, scifact = load_local_tasks(tmp_path, pool=CorpusPool(0))
    write_split(tmp_path / "SciFact", [query("q1", "d1")], [doc("d1"), doc("d3")])
    assert fiqa.corpus.ids == ("e1",)  # lets SciFact's rows go
    with pytest.raises(DataError, match=r"corpus SciFact-\w+: its documents changed on disk"):
        _ = scifact.corpus.texts
