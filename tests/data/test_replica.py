"""The MAIR replica: its shape file against MAIR's public figures; generated mirrors read by ``datasets``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from era_exp.cli import replica as replica_cli
from era_exp.data.errors import DataError, UnknownTaskError
from era_exp.data.registry import MAIR_TASKS, SHARED_CORPORA
from era_exp.data.replica import ReplicaSpec, generate_replica, mair_shape, read_manifest, shape_document
from era_exp.data.replica import generate as generate_module
from era_exp.data.replica.generate import corpus_size
from era_exp.data.replica.shape import doc_file, query_file
from era_exp.data.replica.text import DomainWords

SCALE = 0.0005


def _front_matter(readme: Path) -> dict:
    text = readme.read_text("utf-8")
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


# --- the shape file -----------------------------------------------------------------------------


def test_shape_totals_are_mairs() -> None:
    shape = mair_shape()
    assert list(shape) == list(MAIR_TASKS)
    assert {name: task.domain for name, task in shape.items()} == MAIR_TASKS
    assert sum(task.num_queries for task in shape.values()) == 10_038
    assert sum(split.documents for task in shape.values() for split in task.splits) == 4_274_916
    assert shape_document()["totals"] == {"tasks": 126, "queries": 10_038, "documents": 4_274_916}


def test_shape_split_names_follow_mteb_results() -> None:
    shape = mair_shape()
    cqa = [split.query_split for split in shape["CQADupStack"].splits]
    assert len(cqa) == 12 and "CQADupStack_Gis_queries" in cqa and "CQADupStack_WebMasters_queries" in cqa
    swe = [split.query_split for split in shape["SWE-Bench-Lite"].splits]
    assert len(swe) == 119 and swe[0] == "astropy__astropy_12544_queries"
    assert len(shape["IFEval"].splits) == 176
    assert [s.sub for s in shape["Spider"].splits] == ["chinook_1", "college_2", "store_1"]
    single = [t for t in shape.values() if len(t.splits) == 1]
    assert all(t.splits[0].query_split == "queries" and t.splits[0].doc_split == "docs" for t in single)


def test_inferred_split_counts_reproduce_the_weighted_mteb_scores() -> None:
    raw = shape_document()["tasks"]
    inferred = [name for name, entry in raw.items() if entry["query_counts"] == "mteb-weighted"]
    assert sorted(inferred) == ["CUAD", "MISeD", "SParC", "SParC-SQL", "Spider", "Spider-SQL"]
    for name in inferred:
        task = mair_shape()[name]
        per_split = raw[name]["minilm_ndcg10_per_split"]
        weighted = sum(per_split[s.sub] * s.queries for s in task.splits) / task.num_queries
        assert weighted == pytest.approx(task.minilm_ndcg10, abs=1e-9), name


def test_shared_corpora_are_held_by_their_first_task_only() -> None:
    shape = mair_shape()
    for tasks in SHARED_CORPORA.values():
        owner, *readers = tasks
        assert shape[owner].docs_from is None and shape[owner].splits[0].documents > 0
        for reader in readers:
            assert shape[reader].docs_from == owner
            assert shape[reader].splits[0].documents == 0


# --- generated mirrors --------------------------------------------------------------------------


def test_replica_layout_and_counts(mair_replica: Path, mair_replica_tasks: tuple[str, ...]) -> None:
    shape = mair_shape()
    manifest = read_manifest(mair_replica)
    assert manifest is not None and manifest["tasks"] == sorted(mair_replica_tasks)
    query_configs = {
        c["config_name"]: c for c in _front_matter(mair_replica / "MAIR-Queries" / "README.md")["configs"]
    }
    doc_configs = {
        c["config_name"]: c for c in _front_matter(mair_replica / "MAIR-Docs" / "README.md")["configs"]
    }
    assert set(query_configs) == set(doc_configs) == set(mair_replica_tasks)
    for name in mair_replica_tasks:
        task = shape[name]
        q_files = {f["split"]: f["path"] for f in query_configs[name]["data_files"]}
        d_files = {f["split"]: f["path"] for f in doc_configs[name]["data_files"]}
        assert list(q_files) == [s.query_split for s in task.splits]
        assert list(d_files) == [s.doc_split for s in task.splits]
        for split in task.splits:
            assert q_files[split.query_split] == query_file(name, split)
            assert d_files[split.doc_split] == doc_file(task.corpus_owner, split)
            queries = _rows(mair_replica / "MAIR-Queries" / q_files[split.query_split])
            assert len(queries) == split.queries
            assert manifest["splits"][name][split.query_split]["queries"] == split.queries
            docs = _rows(mair_replica / "MAIR-Docs" / d_files[split.doc_split])
            owner_split = shape[task.corpus_owner].splits[task.splits.index(split)]
            labelled = manifest["corpora"][d_files[split.doc_split]]
            assert len(docs) == labelled
            assert round(owner_split.documents * SCALE) <= len(docs) <= owner_split.documents
            ids = {d["id"] for d in docs}
            assert len(ids) == len(docs) and all(d["doc"].strip() for d in docs)
            assert all(label["id"] in ids for q in queries for label in q["labels"])
            assert all(q["query"].strip() and q["instruction"].strip() and q["labels"] for q in queries)
    assert manifest["queries"] == sum(shape[name].num_queries for name in mair_replica_tasks)
    assert manifest["documents"] == sum(manifest["corpora"].values())


def test_corpus_size_rule() -> None:
    split = mair_shape()["AY2"].splits[0]
    assert corpus_size(split, 1.0, 0) == split.documents
    assert corpus_size(split, 0.25, 0) == round(split.documents * 0.25)
    assert corpus_size(split, SCALE, 10_000) == 10_000
    tiny = mair_shape()["SWE-Bench-Lite"].splits[0]
    assert corpus_size(tiny, SCALE, 1) == min(tiny.documents, generate_module.MIN_CORPUS)


def test_datasets_reads_the_mirror_offline(
    mair_replica: Path, mair_replica_tasks: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    shape = mair_shape()
    for name in ("CQADupStack", "ELI5", "NFCorpus", "SWE-Bench-Lite"):
        queries = datasets.load_dataset(str(mair_replica / "MAIR-Queries"), name, cache_dir=str(tmp_path))
        docs = datasets.load_dataset(str(mair_replica / "MAIR-Docs"), name, cache_dir=str(tmp_path))
        task = shape[name]
        assert sorted(queries) == sorted(s.query_split for s in task.splits)
        assert sorted(docs) == sorted(s.doc_split for s in task.splits)
        for split in task.splits:
            assert queries[split.query_split].num_rows == split.queries
        first = queries[task.splits[0].query_split][0]
        assert set(first) == {"qid", "instruction", "query", "labels"}
        assert set(first["labels"][0]) == {"id", "score"}
        assert set(docs[task.splits[0].doc_split].column_names) == {"id", "doc"}
    one = datasets.load_dataset(
        str(mair_replica / "MAIR-Queries"),
        "CQADupStack",
        split="CQADupStack_Gis_queries",
        cache_dir=str(tmp_path),
    )
    assert one.num_rows == shape["CQADupStack"].splits[3].queries


def test_graded_tasks_have_graded_labels(mair_replica: Path) -> None:
    scores = {
        label["score"]
        for q in _rows(mair_replica / "MAIR-Queries" / "NFCorpus" / "queries.jsonl")
        for label in q["labels"]
    }
    assert scores == {1, 2}
    ungraded = _rows(mair_replica / "MAIR-Queries" / "MBPP" / "queries.jsonl")
    assert {label["score"] for q in ungraded for label in q["labels"]} == {1}


def test_labelled_documents_share_the_query_topic(mair_replica: Path) -> None:
    stop = set(DomainWords.of("Web").function.tolist())
    docs = {
        d["id"]: set(d["doc"].replace(".", " ").split())
        for d in _rows(mair_replica / "MAIR-Docs" / "AY2" / "docs.jsonl")
    }
    queries = _rows(mair_replica / "MAIR-Queries" / "ELI5" / "queries.jsonl")
    for query in queries:
        words = set(query["query"].replace(".", " ").split()) - stop
        for label in query["labels"]:
            assert len(words & docs[label["id"]]) >= 2


def test_qids_are_unique_across_a_tasks_splits(mair_replica: Path) -> None:
    qids = [
        q["qid"]
        for split in mair_shape()["SWE-Bench-Lite"].splits
        for q in _rows(mair_replica / "MAIR-Queries" / query_file("SWE-Bench-Lite", split))
    ]
    assert len(qids) == len(set(qids)) == 119


def test_generation_is_deterministic_and_subset_stable(mair_replica: Path, tmp_path: Path) -> None:
    spec = ReplicaSpec(seed=0, docs_scale=SCALE, tasks=("ELI5",))
    generate_replica(tmp_path / "a", spec)
    for relative in ("MAIR-Queries/ELI5/queries.jsonl", "MAIR-Docs/AY2/docs.jsonl"):
        assert (tmp_path / "a" / relative).read_bytes() == (mair_replica / relative).read_bytes()
    generate_replica(tmp_path / "b", ReplicaSpec(seed=1, docs_scale=SCALE, tasks=("ELI5",)))
    assert (tmp_path / "b" / "MAIR-Queries/ELI5/queries.jsonl").read_bytes() != (
        mair_replica / "MAIR-Queries/ELI5/queries.jsonl"
    ).read_bytes()


def test_complete_mirror_is_reused_and_others_need_force(tmp_path: Path) -> None:
    spec = ReplicaSpec(seed=0, docs_scale=SCALE, tasks=("MBPP",))
    generate_replica(tmp_path, spec)
    written = (tmp_path / "MAIR-Docs" / "MBPP" / "docs.jsonl").stat().st_mtime_ns
    assert generate_replica(tmp_path, spec)["tasks"] == ["MBPP"]
    assert (tmp_path / "MAIR-Docs" / "MBPP" / "docs.jsonl").stat().st_mtime_ns == written
    other = ReplicaSpec(seed=0, docs_scale=SCALE, tasks=("Apple",))
    with pytest.raises(DataError, match="different MAIR mirror"):
        generate_replica(tmp_path, other)
    assert generate_replica(tmp_path, other, force=True)["tasks"] == ["Apple"]
    assert not (tmp_path / "MAIR-Queries" / "MBPP").exists()


def test_killed_generation_leaves_no_complete_looking_mirror(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = generate_module._write_rows
    calls = {"n": 0}

    def dies_on_third_file(path: Path, rows) -> int:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(path, rows)

    monkeypatch.setattr(generate_module, "_write_rows", dies_on_third_file)
    with pytest.raises(KeyboardInterrupt):
        generate_replica(tmp_path, ReplicaSpec(docs_scale=SCALE, tasks=("MBPP", "Apple")))
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    monkeypatch.setattr(generate_module, "_write_rows", original)
    # a staging folder of a dead process (a hard kill skips the clean-up) is removed by the next run
    dead = tmp_path / ".staging-999999999-deadbeef"
    (dead / "MAIR-Docs").mkdir(parents=True)
    generate_replica(tmp_path, ReplicaSpec(docs_scale=SCALE, tasks=("MBPP",)))
    assert not dead.exists() and read_manifest(tmp_path) is not None
    # a mirror whose manifest is missing is incomplete: never reused, replaced only with force
    (tmp_path / "replica.json").unlink()
    with pytest.raises(DataError, match="incomplete MAIR mirror"):
        generate_replica(tmp_path, ReplicaSpec(docs_scale=SCALE, tasks=("MBPP",)))


def test_bad_requests_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="docs_scale"):
        ReplicaSpec(docs_scale=0)
    with pytest.raises(UnknownTaskError, match="CQADupStack"):
        generate_replica(tmp_path, ReplicaSpec(tasks=("CQADupstack",)))


def test_cli_writes_and_summarises(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mirror"
    assert replica_cli.main([str(out), "--docs-scale", str(SCALE), "--tasks", "MBPP,PytorchAPI"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["tasks"] == 2
    assert summary["queries"] == sum(mair_shape()[t].num_queries for t in ("MBPP", "PytorchAPI"))
    assert replica_cli.main([str(out), "--docs-scale", "2"]) == 2
    assert "docs_scale" in capsys.readouterr().err
    assert os.path.isfile(out / "MAIR-Queries" / "README.md")
