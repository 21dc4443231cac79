"""The era_plus page's per-task tests on real tiny runs of two mair-lite tasks: the mpnet zero-shot run
it makes itself, the per-task table, the losses and the targets with their p-values."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from era_exp.cli.era_plus import (
    RATIOS,
    ZERO_SHOT_PAGE,
    PairStudy,
    losses,
    p_text,
    per_task_tests_table,
    ratio_table,
    restricted,
    run_mpnet_zero_shot,
    targets,
)
from era_exp.cli.results import Points, pct
from era_exp.report.significance import compare_task, compare_task_means

REPO_ROOT = Path(__file__).resolve().parents[2]
# Two small Code tasks (40 and 54 documents), so mpnet encodes their corpora in seconds.
TASKS = ("SpotifyAPI", "TMDB")
TINY = ("stage1.samples_per_task=40", "stage1.epochs=3", "stage2.nominal_epochs=4", "stage2.patience=2")

pytestmark = pytest.mark.mair_lite


@pytest.fixture(scope="module")
def tiny_page(mair_lite_root: Path, embedding_cache: Path, tmp_path_factory: pytest.TempPathFactory):
    """MiniLM zero-shot, ERA and era_plus (MiniLM→MiniLM, ratio 0.2) and the page's mpnet zero-shot run,
    on :data:`TASKS`; the same ERA and era_plus runs stand in for every ratio."""
    out_root = tmp_path_factory.mktemp("era-plus-significance")
    docs = out_root / "docs"
    docs.mkdir()
    shutil.copy(REPO_ROOT / ZERO_SHOT_PAGE, docs / ZERO_SHOT_PAGE.name)
    points = Points(str(mair_lite_root), out_root, TASKS)
    cache = f"paths.cache_dir={embedding_cache}"

    def tiny(name: str, *overrides: str) -> dict:
        results = points.run(name, [cache, "pair=minilm_to_minilm", *overrides, *TINY])
        return {**results, "_dir": str(points.folder(name))}

    zero = tiny("zero_shot-minilm", "method=zero_shot")
    era, plus = tiny("era", "method=era"), tiny("plus", "method=era_plus")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ERA_CACHE_DIR", str(embedding_cache))
        mpnet = run_mpnet_zero_shot(str(mair_lite_root), out_root, TASKS, docs)
    final = {(key, ratio): run for ratio in RATIOS for key, run in (("era", era), ("plus", plus))}
    study = PairStudy("minilm_to_minilm", "MiniLM→MiniLM", points)
    return study, final, zero, mpnet


def test_the_mpnet_zero_shot_run_reproduces_the_committed_column(tiny_page, tmp_path: Path) -> None:
    """On its own two tasks mpnet zero-shot scores what docs/results/zero-shot.md prints for them."""
    *_, mpnet = tiny_page
    assert sorted(mpnet.results["per_task"]) == sorted(TASKS)
    assert Path(mpnet.results["_dir"]).name.startswith("zero_shot-mpnet_to_mpnet-2tasks-")
    assert mpnet.results["config"]["query_embedder"] == mpnet.results["config"]["doc_embedder"]
    assert mpnet.mismatches() == []
    assert (
        "equal the mpnet column of [`zero-shot.md`](zero-shot.md) to the printed rounding"
        in mpnet.agreement()
    )
    # A committed column that disagrees is named, task by task.
    committed = {**mpnet.committed, "per_task": dict(mpnet.committed["per_task"])}
    committed["per_task"]["TMDB"] = {"ndcg@10": 0.5, "domain": "Code"}
    changed = type(mpnet)(mpnet.results, committed)
    assert changed.mismatches() == ["TMDB"]
    assert re.search(r"differ from .* on 1 of 2: TMDB \(\d+\.\d here, 50\.0 there\)", changed.agreement())
    assert "no committed" in type(mpnet)(mpnet.results, None).agreement()


def _references(final: dict, zero: dict, mpnet) -> list[tuple[str, dict]]:
    mine = {**restricted(mpnet.results, sorted(mpnet.results["per_task"])), "_dir": mpnet.results["_dir"]}
    return [("faithful ERA", final[("era", 0.2)]), ("MiniLM zero-shot", zero), ("mpnet zero-shot", mine)]


def test_the_per_task_table_is_each_task_s_paired_test(tiny_page) -> None:
    _, final, zero, mpnet = tiny_page
    plus = final[("plus", 0.2)]
    references = _references(final, zero, mpnet)
    table = per_task_tests_table(plus, references, 0.2)
    rows = {line.split(" | ")[0].strip("| "): line.strip("|").split(" | ") for line in table[2:]}
    for task in TASKS:
        cells = [cell.strip() for cell in rows[task]]
        for column, (_, other) in enumerate(references):
            test = compare_task(Path(plus["_dir"]), Path(other["_dir"]), task, alpha=0.05)
            delta = 100 * (plus["per_task"][task]["ndcg@10"] - other["per_task"][task]["ndcg@10"])
            mark = "**" if test.significant else ""
            assert cells[4 + 2 * column] == f"{mark}{delta:+.1f}{mark}"
            assert cells[5 + 2 * column] == f"{mark}{p_text(test.p_value)}{mark}"
            assert cells[2] == str(test.num_queries)
    assert {"**not above**", "**significantly above**", "**significantly below**"} <= set(rows)


def test_every_loss_carries_its_p_and_the_count_of_significant_ones(tiny_page) -> None:
    study, final, zero, mpnet = tiny_page
    references = _references(final, zero, mpnet)
    lines = [line for line in losses(study, final, zero, references[2][1]) if line.startswith("- ")]
    assert len(lines) == len(RATIOS) * len(references), "one line per ratio and reference"
    plus = final[("plus", 0.2)]
    lost_anywhere = 0
    for (name, other), line in zip(references, [ln for ln in lines if ln.startswith("- 0.2:")], strict=True):
        tests = {t: compare_task(Path(plus["_dir"]), Path(other["_dir"]), t, alpha=0.05) for t in TASKS}
        lost = [t for t in TASKS if plus["per_task"][t]["ndcg@10"] <= other["per_task"][t]["ndcg@10"]]
        lost_anywhere += len(lost)
        for task in lost:
            mine, theirs = plus["per_task"][task]["ndcg@10"], other["per_task"][task]["ndcg@10"]
            score = f"{task} ({pct(mine)} vs {pct(theirs)}"
            assert f"{score}, p = {p_text(tests[task].p_value)}, {tests[task].num_queries} queries)" in line
        below = [t for t in lost if tests[t].significant and tests[t].difference < 0]
        above = [t for t in TASKS if tests[t].significant and tests[t].difference > 0]
        assert f"significantly below on {len(below)}" in line
        assert f"significantly above on {len(above)} of {len(TASKS)}" in line
        assert (
            f"not above {name} on {len(lost)} of 2 tasks" if lost else f"above {name} on all 2 tasks"
        ) in line
    assert lost_anywhere, "mpnet zero-shot is far above MiniLM's on SpotifyAPI: at least one loss is listed"


def test_a_loss_without_significance_still_fails_the_strict_target(tiny_page) -> None:
    """ERA's own run as era_plus: equal on every task, so no difference is significant, yet every task
    is 'not above' and the target of being above ERA on every task does not hold."""
    study, final, zero, mpnet = tiny_page
    tied = {**final, **{("plus", ratio): final[("era", ratio)] for ratio in RATIOS}}
    [line] = [ln for ln in targets(study, tied, zero, None) if "above faithful ERA on every task" in ln]
    assert "**does not hold** (0 of 2 tasks; not above on" in line
    assert "p = n/a" in line and "significantly below on 0; significantly above on 0 of 2" in line
    page = "\n".join(targets(study, final, zero, _references(final, zero, mpnet)[2][1]))
    assert "a task below it fails the target whether or not its difference is significant" in page
    assert re.search(r"pooled over their \d+ queries: p = ", page)


def test_the_ratio_table_tests_the_mean_over_tasks_it_prints(tiny_page) -> None:
    """The Δ of each ratio is the difference of means over tasks (each task alike), and its first p is the
    randomization test of that difference; the pooled t-test weighs SpotifyAPI's and TMDB's queries alike."""
    study, final, zero, _ = tiny_page
    plus, era = final[("plus", 0.2)], final[("era", 0.2)]
    test = compare_task_means(Path(plus["_dir"]), Path(era["_dir"]), sorted(TASKS), alpha=0.05)
    assert test.difference == pytest.approx(plus["overall"]["ndcg@10"] - era["overall"]["ndcg@10"], abs=1e-5)
    header, _, *rows = ratio_table(study, final, zero)
    columns = [cell.strip() for cell in header.strip("|").split("|")]
    assert columns[3:6] == ["Δ", "p, mean over tasks", "p, pooled queries"]
    cells = [cell.strip() for cell in rows[RATIOS.index(0.2)].strip("|").split("|")]
    assert len(cells) == len(columns)
    assert cells[3] == f"{100 * test.difference:+.1f}"
    assert cells[4] == test.p_text()
    zero_test = compare_task_means(Path(plus["_dir"]), Path(zero["_dir"]), sorted(TASKS), alpha=0.05)
    assert columns[-2:] == ["p, mean over tasks", "p, pooled queries"] and cells[-2] == zero_test.p_text()
    page = "\n".join(targets(study, final, zero, None))
    assert "on the mean over tasks (paired randomization test, each task alike)" in page
    assert "on the mean over queries (paired t-test pooled over the tasks' queries" in page
