"""The stdlib-codesearch task: deterministic, consistent, and free of query leakage into documents."""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys

import pytest

from era_exp.data.builtin import TASK_NAME, stdlib_codesearch_task
from era_exp.data.schema import Task


@pytest.fixture(scope="module")
def task() -> Task:
    return stdlib_codesearch_task()


def test_two_builds_are_identical(task: Task) -> None:
    again = stdlib_codesearch_task()
    assert again == task
    assert again.corpus.fingerprint() == task.corpus.fingerprint()


def test_shape_and_sorting(task: Task) -> None:
    assert (task.name, task.task, task.domain) == (TASK_NAME, TASK_NAME, "Code")
    assert len(task.queries) >= 300
    qids = [q.qid for q in task.queries]
    assert qids == sorted(qids) and len(set(qids)) == len(qids)
    assert list(task.corpus.ids) == sorted(task.corpus.ids)
    assert len({q.text for q in task.queries}) == len(task.queries)
    assert task.corpus.key == f"{TASK_NAME}-{task.corpus.fingerprint()}"


def test_labels_point_at_the_function_and_docs_lack_docstrings(task: Task) -> None:
    for q in task.queries:
        assert q.labels == {q.qid: 1}
        assert q.qid in task.corpus
        assert len(q.text.split()) >= 4
        source = task.corpus.texts[task.corpus.position(q.qid)]
        assert q.text not in source
        function = ast.parse(source).body[0]
        assert isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef)
        assert function.name == q.qid.rsplit(".", 1)[1]
        assert ast.get_docstring(function) is None


def test_ids_name_real_stdlib_objects(task: Task) -> None:
    for qid in task.corpus.ids[::25]:
        parts = qid.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
            assert obj.__doc__
            break
        else:
            pytest.fail(f"{qid} names no module")


def test_max_queries_is_a_fixed_subset_with_the_full_corpus(task: Task) -> None:
    small = stdlib_codesearch_task(max_queries=50)
    assert len(small.queries) == 50
    assert small.corpus == task.corpus
    assert all(q in task.queries for q in small.queries)
    assert stdlib_codesearch_task(max_queries=50).queries == small.queries
    modules = {q.qid.split(".")[0] for q in small.queries}
    assert len(modules) > 5
    with pytest.raises(ValueError, match="max_queries"):
        stdlib_codesearch_task(max_queries=0)


def test_same_task_in_a_fresh_interpreter(task: Task) -> None:
    code = "from era_exp.data.builtin import stdlib_codesearch_task as t; print(t().corpus.key)"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == task.corpus.key
