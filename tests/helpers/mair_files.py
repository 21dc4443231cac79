"""Writers of small MAIR-format task folders for the data tests."""

from __future__ import annotations

import json
from pathlib import Path


def _line(row: object) -> str:
    return row if isinstance(row, str) else json.dumps(row)


def write_split(folder: Path, queries: list[object], docs: list[object]) -> Path:
    """Write ``queries.jsonl`` and ``docs.jsonl`` in ``folder``; str rows are written verbatim."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "queries.jsonl").write_text("".join(_line(r) + "\n" for r in queries), encoding="utf-8")
    (folder / "docs.jsonl").write_text("".join(_line(r) + "\n" for r in docs), encoding="utf-8")
    return folder


def query(qid: str, *doc_ids: str, score: int = 1) -> dict:
    """A valid query row labelling ``doc_ids``."""
    return {
        "qid": qid,
        "instruction": "Given a claim, retrieve evidence.",
        "query": f"query {qid}",
        "labels": [{"id": d, "score": score} for d in doc_ids],
    }


def doc(doc_id: str) -> dict:
    """A valid doc row."""
    return {"id": doc_id, "doc": f"document {doc_id}"}
