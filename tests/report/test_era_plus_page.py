"""The era_plus page's reference column and means: read from the committed zero-shot page as printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from era_exp.cli.era_plus import (
    IDEA_RATIOS,
    IDEAS,
    RATIOS,
    PairStudy,
    final_specs,
    idea_specs,
    mpnet_zero_shot,
    restricted,
    trace_specs,
)
from era_exp.cli.results import Points

ZERO_SHOT_PAGE = Path(__file__).resolve().parents[2] / "docs" / "results" / "zero-shot.md"


def test_mpnet_zero_shot_is_the_committed_column_with_its_printed_means() -> None:
    mpnet = mpnet_zero_shot(ZERO_SHOT_PAGE)
    assert mpnet is not None and len(mpnet["per_task"]) == 11, "mpnet indexed 11 of the 13 corpora"
    assert mpnet["per_task"]["SpotifyAPI"] == {"ndcg@10": pytest.approx(0.455), "domain": "Code"}
    assert "SciFact" not in mpnet["per_task"], "a task mpnet did not run ('—') is no score"
    # Means of the page's rounded per-task scores: within 0.05 of the page's own means (40.7, 50.5).
    assert mpnet["overall"]["ndcg@10"] == pytest.approx(0.407, abs=5e-4)
    assert mpnet["overall"]["ndcg@10_domain_mean"] == pytest.approx(0.505, abs=5e-4)
    assert mpnet["per_domain"]["Legal"]["ndcg@10"] == pytest.approx(0.0475)


def test_restricting_a_run_recomputes_its_means_over_the_kept_tasks() -> None:
    mpnet = mpnet_zero_shot(ZERO_SHOT_PAGE)
    code = restricted(mpnet, ["SpotifyAPI", "TMDB", "MBPP"])
    assert code["overall"]["ndcg@10"] == pytest.approx((0.455 + 0.224 + 0.873) / 3)
    assert set(code["per_domain"]) == {"Code"}


def test_every_idea_names_an_entry_that_composes(run_config) -> None:
    for idea in IDEAS:
        cfg = run_config("pair=mpnet_to_minilm", *idea.overrides)
        assert cfg.method.alignment or cfg.method.adaptation, idea.key


def test_the_final_runs_at_the_idea_ratios_are_the_ideas_runs(tmp_path: Path) -> None:
    """Prefetching in parallel computes each distinct run once: era and era_plus at 0.05 and 0.2 are ideas."""
    study = PairStudy("mpnet_to_minilm", "mpnet→MiniLM", Points("mair-lite", tmp_path, None))
    ideas, final = idea_specs(study), final_specs(study)
    for key in ("era", "plus"):
        for ratio in IDEA_RATIOS:
            assert final[(key, ratio)] == ideas[(key, ratio)]
    assert ideas[("align-only", 0.05)] == ideas[("align-only", 0.2)], "ratio-free ideas run once"
    distinct = set(ideas.values()) | set(final.values())
    assert len(distinct) == len(IDEAS) * len(IDEA_RATIOS) - 2 + 1 + 2 * (len(RATIOS) - len(IDEA_RATIOS))


def test_trace_runs_are_the_shipped_recipe_run_to_its_nominal_end(run_config, tmp_path: Path) -> None:
    """What the per-task selection rules replay: era_plus as shipped, its trace recorded, and early
    stopping left to the replay (patience = nominal epochs)."""
    study = PairStudy("mpnet_to_minilm", "mpnet→MiniLM", Points("mair-lite", tmp_path, None))
    shipped = run_config("pair=mpnet_to_minilm", "method=era_plus")
    specs = trace_specs(study)
    assert sorted(ratio for _, ratio in specs) == sorted(RATIOS)
    for _, overrides in specs.values():
        cfg = run_config(*overrides)
        assert cfg.stage2.trace is not None and cfg.stage2.patience == cfg.stage2.nominal_epochs
        for key in ("lr", "monitor", "nominal_epochs", "objective"):
            assert cfg.stage2[key] == shipped.stage2[key], key
        assert cfg.adapter == shipped.adapter and cfg.stage1 == shipped.stage1
