"""The MAIR task registry: counts, domains, shared corpora, name checks."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from era_exp.data.registry import (
    DOMAINS,
    MAIR_TASKS,
    SHARED_CORPORA,
    UnknownTaskError,
    check_domains,
    check_task_names,
    corpus_group,
    domain_of,
)


def test_126_tasks_in_six_domains_with_mair_counts() -> None:
    assert len(MAIR_TASKS) == 126
    assert set(DOMAINS) == {"Web", "Medical", "Code", "Academic", "Legal", "Finance"}
    counts = Counter(MAIR_TASKS.values())
    assert counts == {"Web": 54, "Medical": 19, "Code": 18, "Academic": 16, "Legal": 11, "Finance": 8}


def test_package_copy_matches_shared_task_list(mair_task_list: Path) -> None:
    assert json.loads(mair_task_list.read_text())["tasks"] == MAIR_TASKS


def test_domain_of_and_corpus_groups() -> None:
    assert domain_of("SciFact") == "Academic"
    assert len(SHARED_CORPORA) == 12
    assert corpus_group("ELI5") == "AY2"
    assert corpus_group("CAsT_2020") == "CAsT_2019"
    assert corpus_group("SciFact") == "SciFact"
    assert all(task in MAIR_TASKS for tasks in SHARED_CORPORA.values() for task in tasks)


def test_unknown_task_names_get_suggestions() -> None:
    assert check_task_names(["SciFact", "NFCorpus", "SciFact"]) == ["SciFact", "NFCorpus"]
    with pytest.raises(UnknownTaskError, match=r"unknown task 'Scifact'; did you mean 'SciFact'") as err:
        check_task_names(["Scifact", "NFCorpus"])
    assert "NFCorpus'" not in str(err.value).split("did you mean")[0]
    with pytest.raises(UnknownTaskError, match="did you mean 'SciFact'"):
        domain_of("SciFcat")
    assert check_task_names(["TAT-QA"], extra=["TAT-QA"]) == ["TAT-QA"]


def test_unknown_domain_gets_suggestion() -> None:
    assert check_domains(["Code", "Legal"]) == ["Code", "Legal"]
    with pytest.raises(UnknownTaskError, match="did you mean 'Medical'"):
        check_domains(["medical"])
