"""``stdlib-codesearch``: a code-search task built from the running Python's standard library.

Query = the summary paragraph of a public function's or method's docstring; document = that function's
source with its docstring removed; one relevant document per query. It needs no download, so it serves
as a small real task for offline runs and tests. Output is sorted, so it is identical across runs.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import inspect
import io
import re
from dataclasses import dataclass
from types import FunctionType, ModuleType

from era_exp.data.schema import Corpus, Query, Task

TASK_NAME = "stdlib-codesearch"
DOMAIN = "Code"
INSTRUCTION = (
    "Given a description of a Python standard library function, retrieve the function's source code."
)
MIN_SUMMARY_WORDS = 4

# Pure-Python standard library modules (no C implementation replacing their public functions).
MODULES = (
    "argparse",
    "ast",
    "base64",
    "calendar",
    "cmd",
    "colorsys",
    "configparser",
    "contextlib",
    "copy",
    "csv",
    "dataclasses",
    "difflib",
    "email.utils",
    "enum",
    "filecmp",
    "fnmatch",
    "fractions",
    "ftplib",
    "functools",
    "gettext",
    "glob",
    "gzip",
    "heapq",
    "html",
    "imaplib",
    "ipaddress",
    "json",
    "json.decoder",
    "json.encoder",
    "mimetypes",
    "pathlib",
    "pprint",
    "queue",
    "quopri",
    "reprlib",
    "sched",
    "shlex",
    "shutil",
    "smtplib",
    "statistics",
    "string",
    "tarfile",
    "tempfile",
    "textwrap",
    "tokenize",
    "urllib.parse",
    "uuid",
    "zipfile",
)


@dataclass(frozen=True)
class _Entry:
    """One function: its dotted id, docstring summary and docstring-free source."""

    ident: str
    summary: str
    source: str


def _public_functions(module: ModuleType) -> list[tuple[str, FunctionType]]:
    """``(dotted id, function)`` for public functions and methods of public classes defined in ``module``."""
    name = module.__name__
    found: list[tuple[str, FunctionType]] = []
    for attr, value in vars(module).items():
        if attr.startswith("_"):
            continue
        if inspect.isfunction(value) and value.__module__ == name and value.__qualname__ == attr:
            found.append((f"{name}.{attr}", value))
        elif inspect.isclass(value) and value.__module__ == name and value.__qualname__ == attr:
            for method_name, member in vars(value).items():
                function = getattr(member, "__func__", member)
                if (
                    not method_name.startswith("_")
                    and inspect.isfunction(function)
                    and function.__qualname__ == f"{attr}.{method_name}"
                ):
                    found.append((f"{name}.{attr}.{method_name}", function))
    return found


def _summary(docstring: str) -> str:
    """The docstring's first paragraph on one line."""
    paragraph = inspect.cleandoc(docstring).split("\n\n", 1)[0]
    return " ".join(paragraph.split())


def _function_nodes(tree: ast.Module) -> dict[tuple[str, int], ast.FunctionDef | ast.AsyncFunctionDef]:
    """Every function node keyed by (name, first line including decorators), matching ``co_firstlineno``."""
    nodes = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            nodes[(node.name, first)] = node
    return nodes


def _strip_docstring(lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    """Source of ``node`` without its docstring (and the blank lines after it), dedented to column 0.

    None when the docstring shares a line with other code or nothing but the docstring is left.
    """
    doc = node.body[0]
    if len(node.body) < 2 or doc.end_lineno is None or doc.end_col_offset is None:
        return None
    first = min([node.lineno] + [d.lineno for d in node.decorator_list])
    start_line, end_line = lines[doc.lineno - 1], lines[doc.end_lineno - 1]
    if start_line[: doc.col_offset].strip() or end_line[doc.end_col_offset :].strip():
        return None
    body_start = doc.end_lineno
    while body_start < node.end_lineno and not lines[body_start].strip():
        body_start += 1
    kept = lines[first - 1 : doc.lineno - 1] + lines[body_start : node.end_lineno]
    indent = kept[0][: len(kept[0]) - len(kept[0].lstrip())]
    return "".join(line.removeprefix(indent) for line in kept).rstrip() + "\n"


def _module_entries(module_name: str) -> list[_Entry]:
    module = importlib.import_module(module_name)
    source = inspect.getsource(module)
    lines = io.StringIO(source).readlines()  # split on newlines only, as ast numbers lines
    nodes = _function_nodes(ast.parse(source))
    entries = []
    for ident, function in _public_functions(module):
        node = nodes.get((function.__name__, function.__code__.co_firstlineno))
        docstring = ast.get_docstring(node, clean=False) if node is not None else None
        if node is None or not docstring:
            continue
        summary = _summary(docstring)
        if len(summary.split()) < MIN_SUMMARY_WORDS or re.match(rf"{re.escape(node.name)}\s*\(", summary):
            continue
        code = _strip_docstring(lines, node)
        if code is not None and summary not in code:
            entries.append(_Entry(ident, summary, code))
    return entries


def _subset(queries: list[Query], max_queries: int) -> list[Query]:
    """A fixed spread of ``max_queries`` queries (by a hash of their ids), kept in id order."""
    chosen = sorted(queries, key=lambda q: hashlib.sha1(q.qid.encode()).hexdigest())[:max_queries]
    return sorted(chosen, key=lambda q: q.qid)


def stdlib_codesearch_task(max_queries: int | None = None) -> Task:
    """The ``stdlib-codesearch`` task (domain Code); ``max_queries`` keeps a fixed subset of queries,
    the corpus stays complete."""
    if max_queries is not None and max_queries < 1:
        raise ValueError(f"max_queries must be a positive integer or None, got {max_queries!r}")
    entries = sorted((e for name in MODULES for e in _module_entries(name)), key=lambda e: e.ident)
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry.summary] = counts.get(entry.summary, 0) + 1
    entries = [e for e in entries if counts[e.summary] == 1]
    queries = [
        Query(qid=e.ident, instruction=INSTRUCTION, text=e.summary, labels={e.ident: 1}) for e in entries
    ]
    if max_queries is not None:
        queries = _subset(queries, max_queries)
    draft = Corpus(key="", ids=tuple(e.ident for e in entries), texts=tuple(e.source for e in entries))
    corpus = Corpus(key=f"{TASK_NAME}-{draft.fingerprint()}", ids=draft.ids, texts=draft.texts)
    return Task(name=TASK_NAME, task=TASK_NAME, domain=DOMAIN, queries=tuple(queries), corpus=corpus)
