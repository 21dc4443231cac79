"""Properties of the MAIR loader: any row it is given fails only with DataError; well-formed rows load
losslessly, strict or not."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from era_exp.data.errors import DataError
from era_exp.data.local import load_local_tasks

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ids = st.one_of(st.text(min_size=1, max_size=6), st.integers(min_value=0, max_value=50))
texts = st.text(min_size=1, max_size=20).filter(str.strip)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
label = st.fixed_dictionaries({"id": ids | json_values, "score": st.integers(-2, 3) | json_values})
query_row = st.fixed_dictionaries(
    {},
    optional={
        "qid": ids | json_values,
        "instruction": st.text(max_size=10) | json_values,
        "query": st.text(max_size=10) | json_values,
        "labels": st.lists(label, max_size=3) | json_values,
    },
)
doc_row = st.fixed_dictionaries(
    {}, optional={"id": ids | json_values, "doc": st.text(max_size=10) | json_values}
)
line = st.one_of(json_values.map(json.dumps), st.text(max_size=15))


def _load(queries: list[str], docs: list[str], strict: bool) -> list:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp, "SciFact")
        folder.mkdir()
        (folder / "queries.jsonl").write_text("".join(q + "\n" for q in queries), encoding="utf-8")
        (folder / "docs.jsonl").write_text("".join(d + "\n" for d in docs), encoding="utf-8")
        return load_local_tasks(tmp, strict=strict)


@SETTINGS
@given(
    queries=st.lists(query_row.map(json.dumps) | line, max_size=6),
    docs=st.lists(doc_row.map(json.dumps) | line, max_size=6),
    strict=st.booleans(),
)
def test_any_rows_fail_only_with_data_error(queries: list[str], docs: list[str], strict: bool) -> None:
    try:
        tasks = _load(queries, docs, strict)
    except DataError as err:
        assert "SciFact" in str(err), "the error names the file or task"
        return
    for task in tasks:
        assert task.labelled_queries, "a loaded task has something to evaluate"
        assert all(doc_id in task.corpus for query in task.queries for doc_id in query.labels)
        assert all(score >= 0 for query in task.queries for score in query.labels.values())


@st.composite
def well_formed(draw) -> tuple[list[dict], list[dict]]:
    doc_ids = draw(st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=8, unique=True))
    docs = [{"id": doc_id, "doc": draw(texts)} for doc_id in doc_ids]
    qids = draw(st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=6, unique=True))
    queries = []
    for qid in qids:
        labelled = draw(st.lists(st.sampled_from(doc_ids), max_size=3, unique=True))
        scores = [draw(st.integers(0, 3)) for _ in labelled]
        queries.append(
            {
                "qid": qid,
                "instruction": draw(st.text(max_size=10)),
                "query": draw(texts),
                "labels": [{"id": d, "score": s} for d, s in zip(labelled, scores, strict=True)],
            }
        )
    queries[0]["labels"] = [{"id": doc_ids[0], "score": 1}]  # at least one relevant label
    return queries, docs


@SETTINGS
@given(rows=well_formed(), strict=st.booleans())
def test_well_formed_rows_load_losslessly(rows: tuple[list[dict], list[dict]], strict: bool) -> None:
    queries, docs = rows
    [task] = _load([json.dumps(q) for q in queries], [json.dumps(d) for d in docs], strict)
    assert task.corpus.ids == tuple(d["id"] for d in docs)
    assert task.corpus.texts == tuple(d["doc"] for d in docs)
    assert [(q.qid, q.instruction, q.text, q.labels) for q in task.queries] == [
        (q["qid"], q["instruction"], q["query"], {x["id"]: x["score"] for x in q["labels"]}) for q in queries
    ]
