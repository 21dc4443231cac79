"""The across-seeds table: each task's difference at every seed, and how many seeds it is above."""

from __future__ import annotations

import pytest

from era_exp.report.seeds import SeedComparison, seed_table


def _results(scores: dict[str, float], domains: dict[str, str]) -> dict:
    per_domain: dict[str, list[float]] = {}
    for task, score in scores.items():
        per_domain.setdefault(domains[task], []).append(score)
    domain_means = [sum(v) / len(v) for v in per_domain.values()]
    return {
        "per_task": {task: {"ndcg@10": score, "domain": domains[task]} for task, score in scores.items()},
        "overall": {
            "ndcg@10": sum(scores.values()) / len(scores),
            "ndcg@10_domain_mean": sum(domain_means) / len(domain_means),
        },
    }


DOMAINS = {"A": "Code", "B": "Code", "C": "Legal"}


@pytest.fixture
def comparison() -> SeedComparison:
    # A is above at both seeds, B at one (a tie counts as not above), C at none.
    method = {
        7: _results({"A": 0.5, "B": 0.4, "C": 0.05}, DOMAINS),
        8: _results({"A": 0.6, "B": 0.3, "C": 0.2}, DOMAINS),
    }
    reference = {
        7: _results({"A": 0.4, "B": 0.3, "C": 0.2}, DOMAINS),
        8: _results({"A": 0.5, "B": 0.3, "C": 0.2}, DOMAINS),
    }
    return SeedComparison("ref", method, reference)


def test_it_sorts_tasks_by_how_consistently_they_lose(comparison: SeedComparison) -> None:
    assert comparison.delta(7, "A") == pytest.approx(0.1)
    assert comparison.below_everywhere((7, 8), list(DOMAINS)) == ["C"]
    assert comparison.below_somewhere((7, 8), list(DOMAINS)) == ["B"]


def test_the_table_prints_every_seed_the_counts_and_both_means(comparison: SeedComparison) -> None:
    lines = seed_table([comparison], (7, 8), DOMAINS)
    assert lines[0] == "| task | domain | − ref: seed 7 | − ref: seed 8 | seeds above ref |"
    rows = {line.split(" | ")[0].strip("| "): line for line in lines[2:]}
    assert rows["A"] == "| A | Code | +10.0 | +10.0 | 2/2 |"
    assert rows["B"] == "| B | Code | +10.0 | +0.0 | 1/2 |"
    assert rows["C"] == "| C | Legal | -15.0 | +0.0 | 0/2 |"
    # Mean over tasks: seed 7 (+0.1 +0.1 -0.15) / 3, seed 8 (+0.1 + 0 + 0) / 3.
    assert rows["**mean over tasks**"] == "| **mean over tasks** |  | **+1.7** | **+3.3** | 2/2 |"
    # Domain means: seed 7 (Code +0.1, Legal -0.15) / 2; seed 8 (Code +0.05, Legal 0) / 2.
    assert rows["**mean of domain means**"] == "| **mean of domain means** |  | **-2.5** | **+2.5** | 1/2 |"
    assert rows["**tasks above**"] == "| **tasks above** |  | 2/3 | 1/3 |  |"
