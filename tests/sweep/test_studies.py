"""The studies behind docs/results/studies/: every grid point composes, and a tiny study runs end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from era_exp.cli import studies
from era_exp.cli.results import task_tag
from era_exp.cli.studies import (
    STUDIES,
    Part,
    PartReport,
    Study,
    Sweep,
    TaskSets,
    losses,
    plan,
    run_study,
    study_page,
    sweep_overrides,
    task_domains,
)
from era_exp.config import compose
from era_exp.report.build import build_report
from era_exp.report.collect import scan_sweep
from era_exp.report.grid import build_grid
from era_exp.sweep.grid import expand_grid
from helpers.fake_sweep import FakeRun, write_fake_run

ELEVEN = ("AILA2019-Statutes", "HumanEval-X", "TAT-QA", "TMDB")  # stands in for the mpnet-index tasks


@pytest.mark.parametrize("name", sorted(STUDIES))
def test_every_sweep_of_every_study_composes(name: str) -> None:
    """Each sweep's grid expands and one point per pair composes and validates; a zero-shot baseline
    is in it; a sweep is marked ``mpnet_index`` exactly when some point indexes with mpnet."""
    study = STUDIES[name]
    data = ["data=mair_lite", "data.root=mair-lite", "data.tasks=[TMDB,MBPP]"]
    methods = set()
    for sweep in study.sweeps:
        points = expand_grid([*data, *sweep_overrides(sweep, ["Code"])])
        by_pair = {next((o for o in point if o.startswith("pair=")), None): point for point in points}
        doc_models = set()
        for point in by_pair.values():
            cfg = compose(point, return_hydra_config=False)
            assert cfg.data.root == "mair-lite" and list(cfg.data.tasks) == ["TMDB", "MBPP"]
            doc_models.add(cfg.doc_embedder.name)
        assert sweep.mpnet_index == ("mpnet" in doc_models), f"{name}/{sweep.name}: {sorted(doc_models)}"
        methods |= {o.split("=", 1)[1] for point in points for o in point if o.startswith("method=")}
    assert "zero_shot" in methods, f"{name}: no zero-shot baseline to report losses against"


def test_query_side_sweeps_take_every_task_and_index_sweeps_the_index_tasks() -> None:
    query, index = (
        Sweep("q", ("pair=mpnet_to_minilm",)),
        Sweep("i", ("pair=minilm_to_mpnet",), mpnet_index=True),
    )
    assert TaskSets(None, ELEVEN).of(query) is None and TaskSets(None, ELEVEN).of(index) == ELEVEN
    assert TaskSets(("TMDB", "MBPP"), None).of(index) == ("TMDB", "MBPP"), "no index list: every task"
    assert TaskSets(("MBPP", "TMDB", "TAT-QA"), ELEVEN).of(index) == ("TMDB", "TAT-QA")
    with pytest.raises(ValueError, match=r"'i' needs an mpnet index.*SciFact"):
        TaskSets(("SciFact",), ELEVEN).of(index)


def test_pairs_heatmap_runs_on_the_index_tasks_and_the_minilm_index_on_every_task() -> None:
    [grid, widened] = plan(STUDIES["pairs"], TaskSets(None, ELEVEN))
    assert (grid.tasks, grid.folder, [s.name for s in grid.sweeps]) == (ELEVEN, "", ["grid"])
    assert "pair=mpnet_to_minilm,minilm_to_minilm,mpnet_to_mpnet,minilm_to_mpnet" in grid.sweeps[0].overrides
    assert (widened.tasks, widened.folder, [s.name for s in widened.sweeps]) == (
        None,
        "minilm_index",
        ["minilm_index"],
    )
    points = expand_grid(sweep_overrides(widened.sweeps[0], []))
    assert {o for point in points for o in point if o.startswith("pair=")} == {
        "pair=mpnet_to_minilm",
        "pair=minilm_to_minilm",
    }, "the widened part has no mpnet index, so it needs no mpnet corpus"


def test_one_task_set_is_one_part_and_the_widening_sweep_is_dropped() -> None:
    """With an mpnet index on every task the four pairs cover the MiniLM-index runs already."""
    [only] = plan(STUDIES["pairs"], TaskSets(None, None))
    assert (only.tasks, only.folder, [s.name for s in only.sweeps]) == (None, "", ["grid"])
    for name in ("train-ratio", "domains", "ablation-adapter"):
        [part] = plan(STUDIES[name], TaskSets(None, ELEVEN))
        assert part.tasks is None and part.sweeps == STUDIES[name].sweeps, name


def test_a_page_on_two_task_sets_reports_each_under_its_own_heading(tmp_path: Path) -> None:
    sweeps = (Sweep("grid", ("pair=mpnet_to_mpnet",), about="Both indexes"), Sweep("wide", ("pair=a",)))
    study = Study("tiny", "A tiny study", "About it.", sweeps)
    parts = []
    for folder, sweep, tasks in (("", sweeps[0], ELEVEN), ("wide", sweeps[1], None)):
        root = tmp_path / "out" / task_tag(tasks)
        write_fake_run(root / "zs", FakeRun("minilm", "minilm", "zero_shot"))
        write_fake_run(root / "era", FakeRun("mpnet", "minilm", "era", 0.2))
        report = build_report(root, tmp_path / "docs" / folder)
        parts.append(PartReport(Part(tasks, (sweep,), folder), ["data=mair_lite"], [(sweep, [])], report))
    text = study_page(study, parts)
    assert "- `grid`: `era-run data=mair_lite`" in text and "- `wide`: `era-run data=mair_lite`" in text
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings == [
        "# A tiny study",
        "## Both indexes (2 tasks)",
        "### Overall",
        "### Significance of nDCG@10 differences",
        "### Where it loses",
        "## wide (2 tasks)",
        "### Overall",
        "### Significance of nDCG@10 differences",
        "### Where it loses",
    ]
    assert "[index.html](index.html)" in text and "[wide/index.html](wide/index.html)" in text
    single = study_page(study, parts[:1])
    assert [line for line in single.splitlines() if line.startswith("## ")] == [
        "## Overall",
        "## Significance of nDCG@10 differences",
        "## Where it loses",
    ]


def test_domain_sweeps_cover_only_the_selected_tasks_domains(mair_lite_root: Path) -> None:
    [lodo] = [s for s in STUDIES["domains"].sweeps if s.per_domain == "holdout_domain"]
    domains = task_domains(str(mair_lite_root), ["TMDB", "AILA2019-Statutes", "TAT-QA"])
    assert sweep_overrides(lodo, domains)[-1] == "holdout_domain=Code,Finance,Legal"
    every = task_domains(str(mair_lite_root), None)
    assert sweep_overrides(lodo, every)[-1] == "holdout_domain=Academic,Code,Finance,Legal,Medical,Web"


def test_losses_name_every_trained_method_of_a_block(tmp_path: Path) -> None:
    write_fake_run(tmp_path / "zs", FakeRun("minilm", "minilm", "zero_shot"))
    write_fake_run(tmp_path / "era", FakeRun("minilm", "minilm", "era", 0.2))
    lines = losses(build_grid(scan_sweep(tmp_path).runs))
    assert lines[0] == "## Where it loses"
    [line] = lines[2:]
    assert line.startswith("- minilm→minilm, era, train ratio 0.2") and "below it on no task" in line


def test_the_encode_keeps_the_cores_and_each_parallel_run_gets_one_thread(
    mair_lite_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A study's encode runs alone, on the threads the caller gave it; its runs share the cores."""
    calls: list[tuple[str, str | None]] = []
    monkeypatch.setattr(
        studies, "_call", lambda argv, env: calls.append((argv[0], env.get("OMP_NUM_THREADS")))
    )
    monkeypatch.setattr(studies, "build_report", lambda sweep, out: None)
    monkeypatch.setattr(studies, "study_page", lambda study, parts: "page")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    study = Study("tiny", "A tiny study", "Two methods.", (Sweep("grid", ("method=zero_shot,era",)),))
    run_study(
        study, str(mair_lite_root), TaskSets(("TMDB",), None), tmp_path / "out", tmp_path / "docs", jobs=2
    )
    assert calls == [("era-encode", "2"), ("era-run", "1")]


@pytest.mark.slow
def test_a_tiny_study_runs_reports_and_writes_its_page(
    mair_lite_root: Path, embedding_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ERA_CACHE_DIR", str(embedding_cache))
    grid = (
        "method=zero_shot,label_only",
        "pair=minilm_to_minilm",
        "stage2.nominal_epochs=3",
        "stage2.patience=2",
    )
    study = Study("tiny", "A tiny study", "Zero-shot and label-only on one task.", (Sweep("grid", grid),))
    tasks = TaskSets(("TMDB",), ("TMDB",))
    page = run_study(study, str(mair_lite_root), tasks, tmp_path / "out", tmp_path / "docs", jobs=1)
    text = page.read_text()
    assert (
        text.startswith("# A tiny study")
        and "- Tasks: 1 mair-lite tasks in 1 domains (Code 1): TMDB." in text
    )
    assert "- minilm→minilm, label_only, train ratio 0.2" in text
    assert (page.parent / "overall.md").is_file() and (page.parent / "index.html").is_file()
    runs = scan_sweep(tmp_path / "out" / "tiny" / task_tag(["TMDB"])).runs
    assert sorted(r.method for r in runs) == ["label_only", "zero_shot"]
