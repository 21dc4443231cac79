"""The drills' bad-input table as tests: each bad file or config value fails naming where and what."""

from __future__ import annotations

from pathlib import Path

import pytest

from era_exp.drills.bad_inputs import CASES, holds, run_case, write_task
from era_exp.pipeline.results import RESULTS_FILE


def _param(case):
    # Known gaps are not run here: some run to the end or never stop (see docs/reliability.md).
    marks = [pytest.mark.xfail(reason=case.gap, run=False)] if case.gap else []
    return pytest.param(case, id=case.name, marks=marks)


def test_the_table_holds_at_least_30_kinds_of_bad_input() -> None:
    assert len(CASES) >= 30
    assert len({case.name for case in CASES}) == len(CASES)


def test_the_untouched_task_folder_is_valid(tmp_path: Path) -> None:
    from era_exp.data.local import load_local_tasks

    (task,) = load_local_tasks(write_task(tmp_path))
    assert len(task.labelled_queries) == 20 and len(task.corpus) == 24


@pytest.mark.parametrize("case", [_param(case) for case in CASES])
def test_bad_input_fails_naming_its_location_and_field(case, tmp_path: Path) -> None:
    error = run_case(case, tmp_path / "data", tmp_path / "cache", tmp_path / "run")
    assert error is not None, "the run went ahead"
    assert holds(case, error), f"expected {case.expect} in: {error}"
    assert not (tmp_path / "run" / RESULTS_FILE).exists()
    assert not list((tmp_path / "cache").rglob("shard-*")), "it failed before encoding anything"
