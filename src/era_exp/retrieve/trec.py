"""TREC run and qrels files: the plain-text exchange format of IR evaluation (trec_eval, ranx).

The format is whitespace-separated, yet some MAIR ids hold spaces (RestBench endpoints such as
``GET /movie/{id}``), so ids are written with ``%`` and every whitespace character percent-encoded
(``%20``; ``%uXXXX`` beyond Latin-1, e.g. an ideographic space) and decoded on read: any character
that splits a line or a field for ``str.split`` and ``str.splitlines``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from era_exp.io import atomic_write_text

_UNSAFE = re.compile(r"[%\s]")  # \s: every character str.isspace() holds, the separators of both
_ESCAPED = re.compile(r"%u([0-9A-F]{4})|%([0-9A-F]{2})")


def _escape(match: re.Match) -> str:
    code = ord(match.group(0))
    return f"%{code:02X}" if code < 0x100 else f"%u{code:04X}"


def encode_id(identifier: str) -> str:
    """Make an id safe for a whitespace-separated file."""
    return _UNSAFE.sub(_escape, identifier)


def decode_id(token: str) -> str:
    """Invert :func:`encode_id`."""
    return _ESCAPED.sub(lambda match: chr(int(match.group(1) or match.group(2), 16)), token)


def write_run(path: str | Path, run: Mapping[str, Mapping[str, float]], tag: str = "era-exp") -> Path:
    """Write ``{qid: {doc_id: score}}`` as ``qid Q0 doc rank score tag`` lines, best first."""
    lines = []
    docs: dict[str, str] = {}  # encoded ids: the same documents recur in query after query
    for qid in sorted(run):
        ranked = sorted(run[qid].items(), key=lambda item: (-item[1], item[0]))
        query = encode_id(qid)
        for doc, _ in ranked:
            if doc not in docs:
                docs[doc] = encode_id(doc)
        lines.extend(
            f"{query} Q0 {docs[doc]} {rank} {score:.6f} {tag}" for rank, (doc, score) in enumerate(ranked, 1)
        )
    return atomic_write_text(path, "\n".join(lines) + "\n", "TREC run file")


def write_qrels(path: str | Path, qrels: Mapping[str, Mapping[str, int]]) -> Path:
    """Write ``{qid: {doc_id: grade}}`` as ``qid 0 doc grade`` lines."""
    lines = [
        f"{encode_id(qid)} 0 {encode_id(doc)} {grade}"
        for qid in sorted(qrels)
        for doc, grade in sorted(qrels[qid].items())
    ]
    return atomic_write_text(path, "\n".join(lines) + "\n", "TREC qrels file")


def read_run(path: str | Path) -> dict[str, dict[str, float]]:
    """Read a TREC run file into ``{qid: {doc_id: score}}``."""
    run: dict[str, dict[str, float]] = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 6:
            raise ValueError(
                f"{path}:{number}: expected 'qid Q0 doc rank score tag', got {len(parts)} fields"
            )
        run.setdefault(decode_id(parts[0]), {})[decode_id(parts[2])] = float(parts[4])
    return run


def read_qrels(path: str | Path) -> dict[str, dict[str, int]]:
    """Read a TREC qrels file into ``{qid: {doc_id: grade}}``."""
    qrels: dict[str, dict[str, int]] = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 4:
            raise ValueError(f"{path}:{number}: expected 4 fields 'qid 0 doc grade', got {len(parts)}")
        qrels.setdefault(decode_id(parts[0]), {})[decode_id(parts[2])] = int(parts[3])
    return qrels
