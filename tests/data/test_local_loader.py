"""Loading MAIR-format folders: real mair-lite tasks, selection, validation errors, multi-split layouts."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from era_exp.data.assemble import LoadReport
from era_exp.data.errors import DataError, UnknownTaskError
from era_exp.data.local import load_local_tasks
from helpers.mair_files import doc, query, write_split


def test_all_mair_lite_tasks_match_tasks_json(mair_lite_root: Path) -> None:
    meta = json.loads((mair_lite_root / "tasks.json").read_text())
    tasks = load_local_tasks(mair_lite_root)
    assert sorted(t.name for t in tasks) == sorted(meta)
    for task in tasks:
        info = meta[task.name]
        assert task.task == task.name
        assert task.domain == info["domain"]
        assert len(task.queries) == info["num_queries"]
        assert len(task.corpus) == info["num_docs"]
        assert sum(len(q.labels) for q in task.queries) == info["num_labels"]
        assert all(doc_id in task.corpus for q in task.queries for doc_id in q.labels)
        assert task.corpus.key == f"{task.name}-{task.corpus.fingerprint()}"


def test_proxies_take_their_domain_from_tasks_json(mair_lite_root: Path) -> None:
    tasks = load_local_tasks(mair_lite_root, names=["TAT-QA", "InstructIR-MSMARCO"])
    assert [(t.name, t.domain) for t in tasks] == [("TAT-QA", "Finance"), ("InstructIR-MSMARCO", "Web")]


def test_select_by_domain_and_by_name(mair_lite_root: Path) -> None:
    legal = load_local_tasks(mair_lite_root, domains=["Legal"])
    assert sorted(t.name for t in legal) == ["AILA2019-Statutes", "LegalQuAD"]
    both = load_local_tasks(mair_lite_root, names=["SciFact", "MBPP", "LegalQuAD"], domains=["Code", "Legal"])
    assert [t.name for t in both] == ["MBPP", "LegalQuAD"]


def test_unknown_name_suggests_close_task(mair_lite_root: Path) -> None:
    with pytest.raises(UnknownTaskError, match="did you mean 'SciFact'"):
        load_local_tasks(mair_lite_root, names=["Scifact"])
    with pytest.raises(DataError, match="MAIR task 'FiQA' has no folder"):
        load_local_tasks(mair_lite_root, names=["FiQA"])
    with pytest.raises(UnknownTaskError, match="did you mean 'Finance'"):
        load_local_tasks(mair_lite_root, domains=["Finanse"])


def test_missing_root_is_clear(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_local_tasks(tmp_path / "nowhere")


def test_folder_unknown_to_registry_and_tasks_json(tmp_path: Path) -> None:
    write_split(tmp_path / "MyTask", [query("q1", "d1")], [doc("d1")])
    with pytest.raises(DataError, match=r"'MyTask' is not a MAIR task and .*tasks\.json gives no domain"):
        load_local_tasks(tmp_path)
    (tmp_path / "tasks.json").write_text(json.dumps({"MyTask": {"domain": "Code"}}))
    [task] = load_local_tasks(tmp_path)
    assert (task.name, task.domain) == ("MyTask", "Code")


def test_tasks_json_errors(tmp_path: Path) -> None:
    write_split(tmp_path / "MyTask", [query("q1", "d1")], [doc("d1")])
    (tmp_path / "tasks.json").write_text('{\n  "MyTask": {"domain": "Code",}\n}')
    with pytest.raises(DataError, match=r"tasks\.json:2: malformed JSON"):
        load_local_tasks(tmp_path)
    (tmp_path / "tasks.json").write_text(json.dumps({"MyTask": {"domain": "Biology"}}))
    with pytest.raises(DataError, match="field 'domain' must be one of"):
        load_local_tasks(tmp_path)


QUERY_ERRORS = [
    ("{not json", "malformed JSON"),
    ('["a list"]', "expected a JSON object, got list"),
    ({"instruction": "i", "query": "q", "labels": []}, "missing field 'qid'"),
    ({"qid": None, "instruction": "i", "query": "q", "labels": []}, "field 'qid' must be a non-empty string"),
    ({"qid": "q9", "query": "q", "labels": []}, "missing field 'instruction'"),
    ({"qid": "q9", "instruction": 3, "query": "q", "labels": []}, "field 'instruction' must be a string"),
    ({"qid": "q9", "instruction": "i", "query": "  ", "labels": []}, "field 'query' is empty"),
    ({"qid": "q9", "instruction": "i", "query": "q"}, "missing field 'labels'"),
    ({"qid": "q9", "instruction": "i", "query": "q", "labels": "d1"}, "field 'labels' must be a list"),
    (
        {"qid": "q9", "instruction": "i", "query": "q", "labels": [{"id": "d1"}]},
        "field 'labels' entries must be",
    ),
    (
        {"qid": "q9", "instruction": "i", "query": "q", "labels": [{"id": "d1", "score": "1"}]},
        "field 'labels' score must",
    ),
    (
        {"qid": "q9", "instruction": "i", "query": "q", "labels": [{"id": "d1", "score": True}]},
        "field 'labels' score must",
    ),
    (query("q9", "d1", "d1"), "field 'labels' names doc 'd1' twice"),
    (query("q1", "d1"), r"duplicate query id 'q1' \(first at line 1\)"),
    (query("q9", "nope"), "field 'labels' names doc 'nope', which is not in .*docs.jsonl"),
]


@pytest.mark.parametrize(("bad_row", "message"), QUERY_ERRORS)
def test_bad_query_row_names_file_and_line(tiny_root: Path, bad_row: object, message: str) -> None:
    path = tiny_root / "SciFact" / "queries.jsonl"
    rows = path.read_text().splitlines()
    bad = bad_row if isinstance(bad_row, str) else json.dumps(bad_row)
    path.write_text("\n".join([*rows[:2], bad, *rows[2:]]) + "\n")
    with pytest.raises(DataError, match=rf"SciFact/queries\.jsonl:3: {message}"):
        load_local_tasks(tiny_root)


DOC_ERRORS = [
    ('{"id": "d9", "doc": "x"', "malformed JSON"),
    ({"doc": "x"}, "missing field 'id'"),
    ({"id": ["d9"], "doc": "x"}, "field 'id' must be a non-empty string"),
    ({"id": "d9"}, "missing field 'doc'"),
    ({"id": "d9", "doc": None}, "field 'doc' must be a string"),
    ({"id": "d9", "doc": ""}, "field 'doc' is empty"),
    (doc("d1"), r"duplicate doc id 'd1' \(first at line 1\)"),
]


@pytest.mark.parametrize(("bad_row", "message"), DOC_ERRORS)
def test_bad_doc_row_names_file_and_line(tiny_root: Path, bad_row: object, message: str) -> None:
    path = tiny_root / "SciFact" / "docs.jsonl"
    rows = path.read_text().splitlines()
    bad = bad_row if isinstance(bad_row, str) else json.dumps(bad_row)
    path.write_text("\n".join([*rows[:2], bad, *rows[2:]]) + "\n")
    with pytest.raises(DataError, match=rf"SciFact/docs\.jsonl:3: {message}"):
        load_local_tasks(tiny_root)


def test_missing_docs_file_and_empty_docs(tiny_root: Path) -> None:
    docs = tiny_root / "SciFact" / "docs.jsonl"
    docs.write_text("\n")
    with pytest.raises(DataError, match=r"docs\.jsonl: no documents"):
        load_local_tasks(tiny_root)
    docs.unlink()
    with pytest.raises(DataError, match=r"has queries\.jsonl but no docs\.jsonl"):
        load_local_tasks(tiny_root)


def test_task_without_relevant_labels_is_an_error(tmp_path: Path) -> None:
    write_split(tmp_path / "SciFact", [query("q1", "d1", score=0)], [doc("d1")])
    with pytest.raises(DataError, match="no query with a relevant"):
        load_local_tasks(tmp_path)


def test_non_strict_drops_unknown_labels_with_logged_count(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_split(
        tmp_path / "SciFact",
        [query("q1", "d1", "gone1"), query("q2", "gone2"), query("q3"), query("q4", "d2")],
        [doc("d1"), doc("d2")],
    )
    with pytest.raises(DataError, match=r"queries\.jsonl:1: field 'labels' names doc 'gone1'"):
        load_local_tasks(tmp_path)
    with caplog.at_level(logging.WARNING, logger="era_exp.data"):
        [task] = load_local_tasks(tmp_path, strict=False)
    assert [q.qid for q in task.queries] == ["q1", "q3", "q4"]
    assert task.queries[0].labels == {"d1": 1}
    assert [q.qid for q in task.labelled_queries] == ["q1", "q4"]
    assert "2 labels naming a document not in the corpus (dropped)" in caplog.text
    assert "1 queries left with no label by those drops" in caplog.text


# One bad row per kind: strict reading stops at it, non-strict reading drops or merges it and counts it.
LENIENT_ROWS = [
    ("docs", doc("d1"), "duplicate doc id 'd1'", {"duplicate_doc_ids": 1}),
    ("docs", {"id": "d9", "doc": " "}, "field 'doc' is empty", {"empty_docs": 1}),
    ("queries", query("q1", "d2"), "duplicate query id 'q1'", {"duplicate_query_ids": 1}),
    ("queries", {**query("q9", "d1"), "query": ""}, "field 'query' is empty", {"empty_queries": 1}),
    (
        "queries",
        {**query("q9", "d1"), "instruction": None},
        "'instruction' must be a string, got null",
        {"null_instructions": 1},
    ),
    ("queries", query("q9", "d1", "d1"), "names doc 'd1' twice", {"duplicate_labels": 1}),
    (
        "queries",
        query("q9", "d2", score=-1),
        "gives doc 'd2' a negative score -1",
        {
            "negative_labels": 1,
            "unlabelled_after_drops": 1,
        },
    ),
]


@pytest.mark.parametrize(("file", "bad_row", "message", "counts"), LENIENT_ROWS)
def test_strict_stops_at_a_bad_row_and_non_strict_counts_it(
    tiny_root: Path, file: str, bad_row: dict, message: str, counts: dict[str, int]
) -> None:
    path = tiny_root / "SciFact" / f"{file}.jsonl"
    path.write_text(path.read_text() + json.dumps(bad_row) + "\n")
    with pytest.raises(DataError, match=rf"SciFact/{file}\.jsonl:\d+: .*{re.escape(message)}.*strict=False"):
        load_local_tasks(tiny_root)
    report = LoadReport()
    [task] = load_local_tasks(tiny_root, strict=False, report=report)
    assert report.lenient == {"SciFact": counts}
    assert report.totals() == counts
    assert [q.qid for q in task.labelled_queries][:3] == ["q1", "q2", "q3"], "good rows are all kept"
    assert task.corpus.ids[:4] == ("d1", "d2", "d3", "d4")


def test_non_strict_merges_duplicate_labels_as_mair_reads_them(tiny_root: Path) -> None:
    path = tiny_root / "SciFact" / "queries.jsonl"
    row = {**query("q9", "d1"), "labels": [{"id": "d1", "score": 1}, {"id": "d1", "score": 2}]}
    path.write_text(path.read_text() + json.dumps(row) + "\n")
    [task] = load_local_tasks(tiny_root, strict=False)
    assert task.queries[-1].labels == {"d1": 2}, "the later score wins, as in MAIR's evaluator"


@pytest.mark.parametrize(
    ("names", "domains", "message"),
    [
        ([], None, r"matched no task \(tasks=\[\], domains=None; task folders here: \['SciFact'\]\)"),
        (None, ["Legal"], r"matched no task \(tasks=None, domains=\['Legal'\]"),
        (["SciFact"], ["Code"], r"matched no task \(tasks=\['SciFact'\], domains=\['Code'\]"),
    ],
)
def test_a_selection_matching_no_task_fails_at_load_time(
    tiny_root: Path, names: list[str] | None, domains: list[str] | None, message: str
) -> None:
    with pytest.raises(DataError, match=message):
        load_local_tasks(tiny_root, names=names, domains=domains)


def test_graded_and_integer_ids_are_kept(tmp_path: Path) -> None:
    write_split(
        tmp_path / "NFCorpus",
        [
            {
                "qid": 7,
                "instruction": "",
                "query": "q",
                "labels": [{"id": 1, "score": 2}, {"id": "d2", "score": 0}],
            }
        ],
        [{"id": 1, "doc": "one"}, doc("d2")],
    )
    [task] = load_local_tasks(tmp_path)
    assert task.queries[0].qid == "7"
    assert task.queries[0].labels == {"1": 2, "d2": 0}
    assert task.corpus.ids == ("1", "d2")


def _multi_split_root(root: Path) -> Path:
    write_split(
        root / "CQADupStack" / "android", [query("q1", "d1"), query("q2", "d2")], [doc("d1"), doc("d2")]
    )
    write_split(root / "CQADupStack" / "gis", [query("q1", "d1")], [doc("d1"), doc("d3")])
    write_split(root / "SciFact", [query("q1", "d1")], [doc("d1")])
    return root


def test_multi_split_per_split(tmp_path: Path) -> None:
    tasks = load_local_tasks(_multi_split_root(tmp_path), names=["CQADupStack"])
    assert [(t.name, t.task, t.domain) for t in tasks] == [
        ("CQADupStack/android", "CQADupStack", "Web"),
        ("CQADupStack/gis", "CQADupStack", "Web"),
    ]
    android, gis = tasks
    assert android.corpus.ids == ("d1", "d2")
    assert gis.corpus.ids == ("d1", "d3")
    assert [q.qid for q in gis.queries] == ["q1"]


def test_multi_split_merged(tmp_path: Path) -> None:
    [task] = load_local_tasks(_multi_split_root(tmp_path), names=["CQADupStack"], multi_split="merged")
    assert (task.name, task.task) == ("CQADupStack", "CQADupStack")
    assert task.corpus.ids == ("android/d1", "android/d2", "gis/d1", "gis/d3")
    assert [q.qid for q in task.queries] == ["android/q1", "android/q2", "gis/q1"]
    assert task.queries[2].labels == {"gis/d1": 1}


def test_bad_multi_split_mode(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="multi_split must be one of"):
        load_local_tasks(_multi_split_root(tmp_path), multi_split="both")


def test_identical_corpora_of_a_group_are_one_object(tmp_path: Path) -> None:
    docs = [doc("d1"), doc("d2")]
    write_split(tmp_path / "CAsT_2019", [query("q1", "d1")], docs)
    write_split(tmp_path / "CAsT_2020", [query("q7", "d2")], docs)
    write_split(tmp_path / "ArguAna", [query("q1", "d1")], docs)
    tasks = {t.name: t for t in load_local_tasks(tmp_path)}
    assert tasks["CAsT_2019"].corpus is tasks["CAsT_2020"].corpus
    assert tasks["CAsT_2019"].corpus.key.startswith("CAsT_2019-")
    assert tasks["ArguAna"].corpus is not tasks["CAsT_2019"].corpus
    assert tasks["ArguAna"].corpus.key.startswith("ArguAna-")
