"""The paper's grid on a MAIR-shaped replica through data=hub, with tiny Qwen3-Embedding models.

Every method in-domain, leave-one-domain-out for each of the six domains and domain-specific for each
domain; each point must finish and score every selected task (nothing dropped from an average).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from era_exp.config import compose
from era_exp.data.registry import DOMAINS, MAIR_TASKS
from era_exp.pipeline.run import run

METHODS = ("zero_shot", "align_only", "label_only", "era")
SETTINGS = [
    ("in_domain", []),
    *[("lodo", ["setting=lodo", f"holdout_domain={d}"]) for d in DOMAINS],
    *[("domain_specific", ["setting=domain_specific", f"domain={d}"]) for d in DOMAINS],
]
TINY_STAGES = [
    "stage1.epochs=2",
    "stage1.samples_per_task=16",
    "stage2.nominal_epochs=3",
    "stage2.patience=1",
    "train_ratio=0.2",
]


@pytest.fixture(scope="module")
def hub_mirror(grid_replica: Path, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """``data=hub`` on the replica's two repos as local mirrors, unpinned, with a private datasets cache."""
    return [
        "data=hub",
        f"data.queries={grid_replica / 'MAIR-Queries'}",
        f"data.docs={grid_replica / 'MAIR-Docs'}",
        "data.queries_revision=null",
        "data.docs_revision=null",
        f"data.cache_dir={tmp_path_factory.mktemp('datasets-cache')}",
    ]


@pytest.fixture(scope="module")
def embedding_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("embedding-cache")


def _in_domain(tasks: list[str], domain: str | None) -> set[str]:
    return {task for task in tasks if MAIR_TASKS[task] == domain}


def _check_complete(results: dict, tasks: list[str]) -> None:
    """Every selected task is scored, every unit's queries are counted once, every number is a number."""
    assert sorted(results["per_task"]) == sorted(tasks)
    scored = {unit: sizes["scored"] for unit, sizes in results["split_sizes"].items()}
    assert {unit for unit, n in scored.items() if n} == set(results["per_unit"])
    assert sum(scored.values()) == results["overall"]["num_queries"]
    for unit, values in results["per_unit"].items():
        assert values["num_queries"] == scored[unit]
        assert 0.0 <= values["ndcg@10"] <= 1.0
    assert all(math.isfinite(v) for v in results["overall"].values())


def _check_weighted(results: dict, task: str) -> None:
    """A multi-split task's score is the query-weighted mean of its sub-splits (MAIR's task score)."""
    units = {u: v for u, v in results["per_unit"].items() if u.startswith(f"{task}/")}
    assert len(units) > 1
    weighted = sum(v["ndcg@10"] * v["num_queries"] for v in units.values()) / sum(
        v["num_queries"] for v in units.values()
    )
    plain = sum(v["ndcg@10"] for v in units.values()) / len(units)
    assert results["per_task"][task]["ndcg@10"] == pytest.approx(weighted, abs=1e-12)
    assert results["per_task"][task]["ndcg@10_split_mean"] == pytest.approx(plain, abs=1e-12)


def test_era_in_domain_on_single_query_sub_splits(
    hub_mirror: list[str], tiny_qwen3_overrides: list[str], embedding_cache: Path, tmp_path: Path
) -> None:
    tasks = ["SWE-Bench-Lite", "CQADupStack", "SciFact"]
    cfg = compose(
        [
            *hub_mirror,
            *tiny_qwen3_overrides,
            *TINY_STAGES,
            "method=era",
            f"data.tasks=[{','.join(tasks)}]",
            f"paths.cache_dir={embedding_cache}",
        ],
        return_hydra_config=False,
    )
    results = run(cfg, tmp_path)
    _check_complete(results, tasks)
    _check_weighted(results, "CQADupStack")
    _check_weighted(results, "SWE-Bench-Lite")
    swe = {u: s for u, s in results["split_sizes"].items() if u.startswith("SWE-Bench-Lite/")}
    assert len(swe) == 119 and all(s["labelled"] == 1 for s in swe.values())
    assert sum(s["train"] for s in swe.values()) == int(119 * 0.2), "one split over the whole task"
    assert sum(s["test"] for s in swe.values()) == 119 - int(119 * 0.5)
    assert results["stages"]["adaptation"]["train_pairs"] > 0
    revisions = results["data"]["revisions"]
    assert revisions["queries"]["requested"] is None and revisions["docs"]["requested"] is None
    assert results["data"]["lenient_totals"] == {}


@pytest.mark.slow
def test_the_paper_grid_runs_every_point(
    hub_mirror: list[str],
    tiny_qwen3_overrides: list[str],
    embedding_cache: Path,
    grid_tasks: tuple[str, ...],
    tmp_path: Path,
) -> None:
    tasks = list(grid_tasks)
    assert {MAIR_TASKS[t] for t in tasks} == set(DOMAINS), "every domain is present"
    finished = []
    for method in METHODS:
        for setting, overrides in SETTINGS:
            name = f"{method}-{setting}-{overrides[-1].split('=')[-1] if overrides else 'all'}"
            cfg = compose(
                [
                    *hub_mirror,
                    *tiny_qwen3_overrides,
                    *TINY_STAGES,
                    *overrides,
                    f"method={method}",
                    f"data.tasks=[{','.join(tasks)}]",
                    f"paths.cache_dir={embedding_cache}",
                ],
                return_hydra_config=False,
            )
            results = run(cfg, tmp_path / name)
            assert (tmp_path / name / "DONE").read_text().strip() == results["run_key"]
            _check_complete(results, tasks)
            _check_weighted(results, "CQADupStack")
            trains = {unit.split("/")[0]: s["trains"] for unit, s in results["split_sizes"].items()}
            domain = overrides[-1].split("=")[1] if overrides else None
            if method == "zero_shot":
                assert not any(trains.values())
            elif setting == "lodo":
                assert {t for t, on in trains.items() if not on} == _in_domain(tasks, domain)
            elif setting == "domain_specific":
                assert {t for t, on in trains.items() if on} == _in_domain(tasks, domain)
            else:
                assert all(trains.values())
            finished.append(name)
    assert len(finished) == len(METHODS) * (1 + 2 * len(DOMAINS))


@pytest.mark.slow
def test_era_run_command_on_the_replica_with_minilm(grid_replica: Path, tmp_path: Path) -> None:
    """The command line of the issue: MiniLM on both sides, ERA at ratio 0.2, straight from the mirror.

    SWE-Bench-Lite brings 119 single-query sub-splits, CUAD four larger ones; texts are cut at 64
    tokens to keep MiniLM's encoding short on CPU.
    """
    tasks = "[SWE-Bench-Lite,CUAD]"
    command = [
        str(Path(sys.executable).with_name("era-run")),
        "data=hub",
        f"data.queries={grid_replica / 'MAIR-Queries'}",
        f"data.docs={grid_replica / 'MAIR-Docs'}",
        "data.queries_revision=null",
        "data.docs_revision=null",
        f"data.cache_dir={tmp_path / 'datasets'}",
        "pair=minilm_to_minilm",
        "method=era",
        "train_ratio=0.2",
        f"data.tasks={tasks}",
        "query_embedder.max_length=64",
        "doc_embedder.max_length=64",
        "stage1.epochs=2",
        "stage2.nominal_epochs=3",
        f"paths.cache_dir={tmp_path / 'cache'}",
        f"hydra.run.dir={tmp_path / 'run'}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600, env={**os.environ})
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    _check_complete(results, ["SWE-Bench-Lite", "CUAD"])
    for task in ("SWE-Bench-Lite", "CUAD"):
        _check_weighted(results, task)
