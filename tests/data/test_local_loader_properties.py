"""Property tests of the MAIR folder loader: well-formed rows load losslessly, others raise DataError."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from era_exp.data.errors import DataError
from era_exp.data.local import load_local_tasks

TASK = "prop-task"
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

texts = st.text(min_size=1, max_size=40).filter(lambda t: t.strip())
ids = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=12),
    st.integers(min_value=0, max_value=10**12).map(str),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


@st.composite
def well_formed(draw) -> tuple[list[dict], list[dict]]:
    """Doc rows and query rows of one valid task (at least one relevant label)."""
    doc_ids = draw(st.lists(ids, min_size=1, max_size=8, unique=True))
    docs = [{"id": doc_id, "doc": draw(texts)} for doc_id in doc_ids]
    qids = draw(st.lists(ids, min_size=1, max_size=6, unique=True))
    queries = []
    for qid in qids:
        labelled = draw(st.lists(st.sampled_from(doc_ids), max_size=3, unique=True))
        labels = [{"id": doc_id, "score": draw(st.integers(0, 3))} for doc_id in labelled]
        queries.append(
            {"qid": qid, "instruction": draw(st.text(max_size=20)), "query": draw(texts), "labels": labels}
        )
    queries[0]["labels"] = [{"id": doc_ids[0], "score": draw(st.integers(1, 3))}]
    return docs, queries


def _write(root: Path, docs: list, queries: list, ascii_only: bool) -> None:
    folder = root / TASK
    folder.mkdir(parents=True)
    (root / "tasks.json").write_text(json.dumps({TASK: {"domain": "Code"}}))
    for name, rows in (("docs.jsonl", docs), ("queries.jsonl", queries)):
        lines = [r if isinstance(r, bytes) else json.dumps(r, ensure_ascii=ascii_only).encode() for r in rows]
        (folder / name).write_bytes(b"\n".join(lines) + b"\n")


@SETTINGS
@given(task=well_formed(), ascii_only=st.booleans())
def test_well_formed_rows_load_losslessly(task, ascii_only: bool) -> None:
    docs, queries = task
    with tempfile.TemporaryDirectory() as tmp:
        _write(Path(tmp), docs, queries, ascii_only)
        (loaded,) = load_local_tasks(tmp)
    assert list(loaded.corpus.ids) == [row["id"] for row in docs]
    assert list(loaded.corpus.texts) == [row["doc"] for row in docs]
    assert [(q.qid, q.instruction, q.text) for q in loaded.queries] == [
        (row["qid"], row["instruction"], row["query"]) for row in queries
    ]
    assert [q.labels for q in loaded.queries] == [
        {label["id"]: label["score"] for label in row["labels"]} for row in queries
    ]


@st.composite
def broken_row(draw, rows: list[dict]) -> list:
    """``rows`` with one row broken: a field dropped or retyped, the line cut or replaced by noise."""
    rows = [dict(row) for row in rows]
    index = draw(st.integers(0, len(rows) - 1))
    row = rows[index]
    kind = draw(st.sampled_from(["drop", "retype", "cut", "bytes", "value", "label", "duplicate"]))
    if kind == "drop":
        row.pop(draw(st.sampled_from(sorted(row))))
    elif kind == "retype":
        row[draw(st.sampled_from(sorted(row)))] = draw(json_values)
    elif kind == "cut":
        line = json.dumps(row).encode()
        rows[index] = line[: draw(st.integers(0, max(len(line) - 1, 0)))]
        return rows
    elif kind == "bytes":
        rows[index] = draw(st.binary(min_size=1, max_size=30).filter(lambda b: b"\n" not in b))
        return rows
    elif kind == "value":
        rows[index] = draw(json_values)
        return rows
    elif kind == "label" and "labels" in row:
        row["labels"] = [*row["labels"], {"id": draw(json_values), "score": draw(json_values)}]
    else:
        rows.append(dict(rows[0]))
    return rows


@SETTINGS
@given(data=st.data(), task=well_formed(), which=st.sampled_from(["docs", "queries"]))
def test_malformed_rows_fail_with_a_data_error_only(data, task, which: str) -> None:
    docs, queries = task
    if which == "docs":
        docs = data.draw(broken_row(docs))
    else:
        queries = data.draw(broken_row(queries))
    with tempfile.TemporaryDirectory() as tmp:
        _write(Path(tmp), docs, queries, ascii_only=data.draw(st.booleans()))
        try:
            load_local_tasks(tmp)
        except DataError as err:
            assert f"{TASK}/" in str(err) or "tasks.json" in str(err), f"the error names no file: {err}"
