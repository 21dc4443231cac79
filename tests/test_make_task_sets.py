"""The Makefile's task sets: which tasks each result page's runs get, per side mpnet sits on."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from era_exp.cli.results import _coverage
from era_exp.data.local import select_local_tasks

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = "AILA2019-Statutes,Competition-Math,HuggingfaceAPI,LegalQuAD,MBPP,PytorchAPI,SpotifyAPI,TMDB"

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _commands(*args: str) -> str:
    """What ``make -n`` would run, continuation lines joined."""
    done = subprocess.run(["make", "-n", *args], cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout.replace("\\\n", " ")


def _value(commands: str, flag: str) -> list[str] | None:
    words = commands.split()
    return words[words.index(flag) + 1].split(",") if flag in words else None


def test_mpnet_index_runs_leave_out_the_largest_corpora_and_query_side_runs_take_every_task(
    mair_lite_root: Path,
) -> None:
    zero_shot, studies, era_plus = (_commands(t) for t in ("zero-shot", "studies", "era-plus"))
    index = _value(studies, "--index-tasks")
    assert index == _value(zero_shot, "--mpnet-index-tasks"), "one list for every run with an mpnet index"
    assert index == _value(era_plus, "--mpnet-index-tasks"), "the era-plus page runs mpnet zero-shot too"
    every = {task for task, _ in select_local_tasks(mair_lite_root)}
    assert index is not None and set(index) <= every
    assert every - set(index) == {"NFCorpus", "SciFact"}
    for commands in (zero_shot, studies, era_plus):
        assert _value(commands, "--tasks") is None, "MiniLM and mpnet queries: every task"
    assert _value(era_plus, "--mpnet-tasks") is None, "mpnet->MiniLM: the same tasks as MiniLM->MiniLM"


def test_reproduction_and_the_sweep_page_stay_on_the_reference_tasks() -> None:
    assert _value(_commands("reproduction"), "--tasks") == REFERENCE.split(",")
    assert f"data.tasks=[{REFERENCE}]" in _commands("sweep")


def test_empty_lists_mean_every_task_and_a_task_list_narrows_every_page() -> None:
    everything = _commands("studies", "zero-shot", "MPNET_INDEX_TASKS=")
    assert "--index-tasks" not in everything and "--mpnet-index-tasks" not in everything
    assert "--mpnet-index-tasks" not in _commands("era-plus", "MPNET_INDEX_TASKS=")
    narrowed = _commands("studies", "MAIR_LITE_TASKS=TMDB,MBPP")
    assert _value(narrowed, "--tasks") == ["TMDB", "MBPP"]


def test_the_zero_shot_page_says_which_tasks_mpnet_left_out() -> None:
    assert _coverage({"TMDB", "MBPP"}, {"TMDB", "MBPP"}) == ["Both models ran on all 2 tasks.", ""]
    [line, _] = _coverage({"TMDB", "MBPP", "SciFact", "NFCorpus"}, {"TMDB", "MBPP"})
    assert line.startswith("MiniLM ran on all 4 tasks, mpnet on 2:")
    assert "the corpora of NFCorpus, SciFact were not encoded with it" in line


def test_the_search_target_repeats_the_launches_of_the_committed_search_page() -> None:
    page = (ROOT / "docs/results/hparams-search/stage2/search.md").read_text(encoding="utf-8")
    [command] = [line for line in page.splitlines() if line.startswith("- Command: ")]
    committed = command.removeprefix("- Command: ").strip("`").split()[1:]
    budget = "hydra.sweeper.n_trials="
    launches = []
    for line in _commands("hparams-search").splitlines():
        words = line.split()
        runs = [i for i, word in enumerate(words) if word.endswith("/era-run")]
        if runs:
            launches.append(words[runs[0] + 1 :])
    assert [[w for w in launch if w.startswith(budget)] for launch in launches] == [
        [f"{budget}16"],
        [f"{budget}30"],
    ]
    assert f"{budget}30" in committed, "the page reports the resumed launch"
    varying = (budget, "data.root=")  # the data root is wherever the page's maker had mair-lite
    for launch in launches:
        kept = {w for w in launch if not w.startswith(varying)}
        assert kept == {w for w in committed if not w.startswith(varying)}


def test_the_pages_target_makes_every_target_that_writes_a_result_page() -> None:
    rules = (ROOT / "Makefile").read_text(encoding="utf-8").split("\n\n")
    [pages] = [rule for rule in rules if rule.startswith("pages:")]
    made = [line.split()[-1] for line in pages.splitlines()[1:]]
    writers = [
        line.split(":", 1)[0]
        for rule in rules
        for line in rule.splitlines()
        if "## docs/results/" in line and not line.startswith("pages:")
    ]
    assert sorted(made) == sorted(writers)
