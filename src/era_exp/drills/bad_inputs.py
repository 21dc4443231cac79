"""The bad-input table: each kind of broken task file or config value, and what its error must name.

Every case starts from a small valid task folder in MAIR's on-disk format (:func:`write_task`),
breaks one thing (a line of a file, or one config value) and runs the real pipeline. It holds when
the run fails before any encoding with an error naming ``file:line`` and the field, or the config key.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from era_exp.drills.common import Drill, Timer

TASK = "drill-task"
# A case still running after this long has not failed "within seconds": it is stopped and reported.
CASE_SECONDS = 30
QUERIES, DOCS = f"{TASK}/queries.jsonl", f"{TASK}/docs.jsonl"
N_DOCS, N_QUERIES = 24, 20


def _docs() -> list[dict]:
    return [{"id": f"d{i}", "doc": f"def function_{i}(x): return x + {i}  # adds {i}"} for i in range(N_DOCS)]


def _queries() -> list[dict]:
    return [
        {
            "qid": f"q{i}",
            "instruction": "Given a description, retrieve the function.",
            "query": f"a function that adds {i}",
            "labels": [{"id": f"d{i}", "score": 1}],
        }
        for i in range(N_QUERIES)
    ]


def write_task(root: Path, queries: list | None = None, docs: list | None = None) -> Path:
    """A valid one-task MAIR folder under ``root`` (rows given as dicts, or raw str/bytes lines)."""
    folder = root / TASK
    folder.mkdir(parents=True, exist_ok=True)
    (root / "tasks.json").write_text(json.dumps({TASK: {"domain": "Code"}}), encoding="utf-8")
    for name, rows in (("queries.jsonl", queries or _queries()), ("docs.jsonl", docs or _docs())):
        lines = [
            r if isinstance(r, bytes) else (r if isinstance(r, str) else json.dumps(r)).encode() for r in rows
        ]
        (folder / name).write_bytes(b"".join(line + b"\n" for line in lines))
    return root


def _query_row(line: int, change: Callable[[dict], object]) -> Callable[[Path], None]:
    """Rewrite query row ``line`` (1-based) with ``change(row)`` (a dict, or a raw line)."""

    def mutate(root: Path) -> None:
        rows: list = _queries()
        rows[line - 1] = change(dict(rows[line - 1]))
        write_task(root, queries=rows)

    return mutate


def _doc_row(line: int, change: Callable[[dict], object]) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        rows: list = _docs()
        rows[line - 1] = change(dict(rows[line - 1]))
        write_task(root, docs=rows)

    return mutate


def _set(**fields: object) -> Callable[[dict], dict]:
    return lambda row: {**row, **fields}


def _drop(field: str) -> Callable[[dict], dict]:
    return lambda row: {k: v for k, v in row.items() if k != field}


def _label(**fields: object) -> Callable[[dict], dict]:
    return lambda row: {**row, "labels": [{**row["labels"][0], **fields}]}


def _file(name: str, content: bytes | None) -> Callable[[Path], None]:
    """Replace (or, with None, delete) one file of the valid folder."""

    def mutate(root: Path) -> None:
        write_task(root)
        path = root / name
        if content is None:
            path.unlink()
        else:
            path.write_bytes(content)

    return mutate


@dataclass(frozen=True)
class BadInput:
    """One kind of bad input and the words its error must contain (location and field, or config key)."""

    name: str
    expect: tuple[str, ...]
    mutate: Callable[[Path], None] | None = None
    overrides: tuple[str, ...] = ()
    # A known gap: the issue it is filed under, for cases that do not hold yet.
    gap: str | None = None


def _q(line: int, field: str) -> tuple[str, ...]:
    return (f"{QUERIES}:{line}", field)


def _d(line: int, field: str) -> tuple[str, ...]:
    return (f"{DOCS}:{line}", field)


CASES: tuple[BadInput, ...] = (
    # Malformed query files.
    BadInput("query line is not JSON", _q(3, "malformed JSON"), _query_row(3, lambda r: '{"qid": "q2",')),
    BadInput("query line is not UTF-8", _q(3, "UTF-8"), _query_row(3, lambda r: b'{"qid": "\xff\xfe"}')),
    BadInput("query row is a list", _q(3, "JSON object"), _query_row(3, lambda r: list(r))),
    BadInput("query row is a number", _q(3, "JSON object"), _query_row(3, lambda r: 17)),
    BadInput("query without qid", _q(3, "'qid'"), _query_row(3, _drop("qid"))),
    BadInput("qid is empty", _q(3, "'qid'"), _query_row(3, _set(qid=""))),
    BadInput("qid is null", _q(3, "'qid'"), _query_row(3, _set(qid=None))),
    BadInput("qid is a boolean", _q(3, "'qid'"), _query_row(3, _set(qid=True))),
    BadInput("duplicate qid", _q(3, "duplicate query id"), _query_row(3, _set(qid="q0"))),
    BadInput("query text missing", _q(3, "'query'"), _query_row(3, _drop("query"))),
    BadInput("query text is a number", _q(3, "'query'"), _query_row(3, _set(query=42))),
    BadInput("query text is blank", _q(3, "'query'"), _query_row(3, _set(query="   "))),
    BadInput("instruction missing", _q(3, "'instruction'"), _query_row(3, _drop("instruction"))),
    BadInput("instruction is a list", _q(3, "'instruction'"), _query_row(3, _set(instruction=["x"]))),
    BadInput("labels missing", _q(3, "'labels'"), _query_row(3, _drop("labels"))),
    BadInput("labels is an object", _q(3, "'labels'"), _query_row(3, _set(labels={"d2": 1}))),
    BadInput("label entry without score", _q(3, "'labels'"), _query_row(3, _set(labels=[{"id": "d2"}]))),
    BadInput("label score is a string", _q(3, "'labels'"), _query_row(3, _label(score="1"))),
    BadInput("label score is fractional", _q(3, "'labels'"), _query_row(3, _label(score=1.5))),
    BadInput("label score is a boolean", _q(3, "'labels'"), _query_row(3, _label(score=True))),
    BadInput(
        "label score is negative",
        _q(3, "'labels'"),
        _query_row(3, _label(score=-1)),
    ),
    BadInput("label id is unknown", (*_q(3, "'labels'"), "d999"), _query_row(3, _label(id="d999"))),
    BadInput("label id is an object", _q(3, "labels.id"), _query_row(3, _label(id={"id": "d2"}))),
    BadInput(
        "a doc labelled twice",
        _q(3, "'labels'"),
        _query_row(3, _set(labels=[{"id": "d2", "score": 1}, {"id": "d2", "score": 2}])),
    ),
    BadInput(
        "no query has a relevant label",
        (QUERIES, "score > 0"),
        lambda root: write_task(
            root, queries=[{**q, "labels": [{"id": "d0", "score": 0}]} for q in _queries()]
        ),
    ),
    # Malformed doc files.
    BadInput("doc line is not JSON", _d(4, "malformed JSON"), _doc_row(4, lambda r: "{id: d3}")),
    BadInput("doc without id", _d(4, "'id'"), _doc_row(4, _drop("id"))),
    BadInput("duplicate doc id", _d(4, "duplicate doc id"), _doc_row(4, _set(id="d0"))),
    BadInput("doc text missing", _d(4, "'doc'"), _doc_row(4, _drop("doc"))),
    BadInput("doc text is empty", _d(4, "'doc'"), _doc_row(4, _set(doc=""))),
    BadInput("doc text is an object", _d(4, "'doc'"), _doc_row(4, _set(doc={"text": "x"}))),
    BadInput("docs.jsonl missing", (TASK, "docs.jsonl"), _file(DOCS, None)),
    BadInput("docs.jsonl empty", (DOCS, "no documents"), _file(DOCS, b"")),
    # The task index.
    BadInput("tasks.json is not JSON", ("tasks.json", "malformed JSON"), _file("tasks.json", b"{")),
    BadInput(
        "tasks.json names an unknown domain",
        ("tasks.json", "'domain'"),
        _file("tasks.json", json.dumps({TASK: {"domain": "Astrology"}}).encode()),
    ),
    BadInput("task with no domain anywhere", ("tasks.json", TASK), _file("tasks.json", b"{}")),
    # Config values.
    BadInput("unknown task name", ("NoSuchTask",), overrides=("data.tasks=[NoSuchTask]",)),
    BadInput("unknown domain", ("Astrology",), overrides=("data.domains=[Astrology]",)),
    BadInput("unknown multi-split mode", ("multi_split",), overrides=("data.multi_split=sideways",)),
    BadInput(
        "data folder does not exist", ("/nonexistent/mair",), overrides=("data.root=/nonexistent/mair",)
    ),
    BadInput(
        "empty task selection",
        ("tasks",),
        overrides=("data.tasks=[]",),
    ),
    BadInput("unknown method", ("method", "eraa"), overrides=("method=eraa",)),
    BadInput("unknown pair", ("pair", "mpnet_to_mpnt"), overrides=("pair=mpnet_to_mpnt",)),
    BadInput("unknown adapter", ("adapter", "quadratic"), overrides=("adapter=quadratic",)),
    BadInput("unknown miner", ("miner", "greedy"), overrides=("miner=greedy",)),
    BadInput(
        "train ratio above 1 (zero-shot)",
        ("train_ratio",),
        overrides=("train_ratio=1.5",),
    ),
    BadInput(
        "train ratio above 1 (ERA)",
        ("train_ratio",),
        overrides=("method=era", "train_ratio=1.5"),
    ),
    BadInput("train ratio of 0 (ERA)", ("train_ratio",), overrides=("method=era", "train_ratio=0")),
    BadInput("train ratio is text", ("train_ratio",), overrides=("method=era", "train_ratio=lots")),
    BadInput("LODO without a held-out domain", ("holdout_domain",), overrides=("setting=lodo",)),
    BadInput(
        "LODO with an unknown domain", ("Nowhere",), overrides=("setting=lodo", "holdout_domain=Nowhere")
    ),
    BadInput(
        "unknown Stage-1 loss",
        ("loss", "hinge"),
        overrides=("method=align_only", "stage1.loss=hinge"),
    ),
    BadInput(
        "negative Stage-1 epochs",
        ("epochs",),
        overrides=("method=align_only", "stage1.epochs=-1"),
    ),
    BadInput(
        "Stage-2 batch size 0",
        ("batch_size",),
        overrides=("method=label_only", "stage2.batch_size=0"),
    ),
    BadInput(
        "unknown metric",
        ("ndcg@ten",),
        overrides=("eval.metrics=[ndcg@ten]",),
    ),
    BadInput("seed is text", ("seed",), overrides=("seed=forty-two",)),
)


def case_overrides(case: BadInput, root: Path, cache_dir: Path) -> list[str]:
    """The run's overrides: the valid task, zero-shot, then the case's own (which win)."""
    base = {
        "data.root": str(root),
        "data.tasks": f"[{TASK}]",
        "paths.cache_dir": str(cache_dir),
        "method": "zero_shot",
    }
    for override in case.overrides:
        key, _, value = override.partition("=")
        base[key] = value
    return [f"{key}={value}" for key, value in base.items()]


def error_text(err: BaseException) -> str:
    """The error and its causes, as a user reads them."""
    parts = []
    while err is not None and len(parts) < 5:
        parts.append(f"{type(err).__name__}: {err}")
        err = err.__cause__ or err.__context__
    return " <- ".join(parts)


def run_case(case: BadInput, root: Path, cache_dir: Path, out_dir: Path) -> str | None:
    """Run ``case`` through the real config and pipeline; the error text, or None if it ran."""
    from era_exp.config import compose
    from era_exp.pipeline.run import run

    (case.mutate or write_task)(root)
    try:
        cfg = compose(case_overrides(case, root, cache_dir), return_hydra_config=False)
        run(cfg, out_dir)
    except Exception as err:
        return error_text(err)
    return None


def holds(case: BadInput, error: str | None) -> bool:
    """Whether the error names everything the case expects."""
    return error is not None and all(word in error for word in case.expect)


def bad_input_drill(work: Path, cache: Path) -> Drill:
    """Every case in a child process: the error, whether it names what it must, and how fast it came."""
    from era_exp.drills.runner import PHASE_STARTED, run_to_end

    timer = Timer()
    work.mkdir(parents=True, exist_ok=True)
    drill = Drill(
        name="the bad-input table",
        command="era-run data.root=<folder> data.tasks=[drill-task] method=zero_shot <one bad file or value>",
    )
    for index, case in enumerate(CASES):
        root, out = work / f"case-{index}", work / f"case-{index}-run"
        child = run_to_end(
            lambda case=case, root=root, out=out: {"error": run_case(case, root, cache, out)},
            timeout=CASE_SECONDS,
        )
        error = (child.result or {}).get("error") or child.error
        if child.returncode == -9:
            error = None
            note = f"(none: still running after {CASE_SECONDS} s, killed)"
        else:
            note = "(none: the run went ahead)"
        early = not child.has(PHASE_STARTED.format("encode"))
        drill.table.append(
            {
                "bad input": case.name,
                "must name": ", ".join(f"`{word}`" for word in case.expect),
                "holds": holds(case, error) and early,
                "seconds": round(child.seconds, 1),
                "error": note if error is None else error[:220],
                "filed under": case.gap or "",
            }
        )
    held = [row for row in drill.table if row["holds"]]
    failed = [row["bad input"] for row in drill.table if not row["holds"]]
    drill.figures = {
        "bad inputs tried": len(CASES),
        "held": len(held),
        "slowest failure (s)": max(row["seconds"] for row in drill.table),
        "drill seconds": timer.seconds,
    }
    drill.check("at least 30 kinds of bad input are tried", len(CASES) >= 30, f"{len(CASES)} kinds")
    drill.check(
        "each fails before encoding with an error naming file:line and field, or the config key",
        not failed,
        f"{len(held)} of {len(CASES)}" + (f"; not yet: {', '.join(failed)}" if failed else ""),
    )
    drill.check(
        "each failure comes within seconds",
        all(row["seconds"] < 30 for row in drill.table if row["holds"]),
        f"slowest {drill.figures['slowest failure (s)']} s",
    )
    drill.seconds = timer.seconds
    return drill
