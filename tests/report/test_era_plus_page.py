"""The era_plus page's reference column and means: read from the committed zero-shot page as printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from era_exp.cli.era_plus import (
    BEFORE_BALANCE,
    CHALLENGERS,
    IDEA_RATIOS,
    IDEAS,
    RATIOS,
    SHIPPED,
    PairStudy,
    final_specs,
    idea_specs,
    mpnet_zero_shot,
    recipe_decision,
    restricted,
    trace_specs,
)
from era_exp.cli.results import Points
from era_exp.pipeline.results import run_key

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
        for key in ("lr", "monitor", "nominal_epochs", "objective", "balance"):
            assert cfg.stage2[key] == shipped.stage2[key], key
        assert cfg.adapter == shipped.adapter and cfg.stage1 == shipped.stage1


def _scored(tasks: float, domains: float, key: str) -> dict:
    overall = {"ndcg@10": tasks, "ndcg@10_domain_mean": domains}
    return {"validation": {"overall": overall}, "run_key": key}


def test_an_idea_replaces_the_recipe_only_when_higher_on_every_pair_and_both_means(tmp_path) -> None:
    """The decision rule of the page: averaged over the idea ratios, higher over tasks and over
    domains on both pairs; era_plus as shipped is named as the winner only when it is the same runs."""
    studies = [PairStudy(pair, pair, Points("mair-lite", tmp_path, None)) for pair in ("a_to_b", "c_to_d")]
    winner, half, loser = CHALLENGERS[-1], CHALLENGERS[0], CHALLENGERS[1]
    # (tasks, domains) per pair at each idea ratio; ``half`` wins over tasks only, on one pair domains fall.
    scores = {
        BEFORE_BALANCE: [(0.40, 0.50), (0.40, 0.50)],
        winner: [(0.41, 0.51), (0.42, 0.505)],
        half: [(0.41, 0.49), (0.41, 0.51)],
        loser: [(0.39, 0.50), (0.40, 0.50)],
    }
    ideas = {
        study.pair: {
            (key, ratio): _scored(*values[i], key=f"{key}-{ratio}")
            for key, values in scores.items()
            for ratio in IDEA_RATIOS
        }
        for i, study in enumerate(studies)
    }
    for study in studies:
        for ratio in IDEA_RATIOS:
            ideas[study.pair][(SHIPPED, ratio)] = ideas[study.pair][(winner, ratio)]
    lines = recipe_decision(studies, ideas)
    rows = {line.split(" | ")[0].strip("| "): line for line in lines if line.startswith("| ")}
    label = {idea.key: idea.label for idea in IDEAS}
    assert rows[label[winner]].endswith("| yes |")
    assert rows[label[half]].endswith("| no |") and rows[label[loser]].endswith("| no |")
    assert "| +1.00 | +1.00 | +2.00 | +0.50 |" in rows[label[winner]]
    decision = next(line for line in lines if line.startswith("- **Decision:**"))
    assert f"“{label[winner]}” passes the rule" in decision and "the same run keys" in decision
    for study in studies:  # shipped still the recipe before balancing: the page says so
        for ratio in IDEA_RATIOS:
            ideas[study.pair][(SHIPPED, ratio)] = ideas[study.pair][(BEFORE_BALANCE, ratio)]
    decision = next(line for line in recipe_decision(studies, ideas) if line.startswith("- **Decision:**"))
    assert "era_plus as shipped is the recipe before balancing" in decision


def test_the_shipped_recipe_is_filed_with_the_idea_that_chose_it(run_config, tmp_path: Path) -> None:
    """era_plus as shipped and the idea it came from are one run (same key) in one folder, and that
    folder is not the one the recipe before balancing filled, so neither recipe's run replaces the
    other's when both are computed into one out-root."""
    study = PairStudy("mpnet_to_minilm", "mpnet→MiniLM", Points("mair-lite", tmp_path, None))
    ideas, final = idea_specs(study), final_specs(study)
    for ratio in IDEA_RATIOS:
        (shipped, shipped_overrides), (chosen, chosen_overrides) = (
            ideas[(SHIPPED, ratio)],
            ideas[(CHALLENGERS[-1], ratio)],
        )
        assert shipped == chosen and final[(SHIPPED, ratio)][0] == shipped
        assert run_key(run_config("data=builtin", *shipped_overrides)) == run_key(
            run_config("data=builtin", *chosen_overrides)
        )
        before, before_overrides = ideas[(BEFORE_BALANCE, ratio)]
        assert run_key(run_config("data=builtin", *before_overrides)) != run_key(
            run_config("data=builtin", *shipped_overrides)
        )
        assert f"idea-plus-{study.pair}-{ratio}" not in {shipped, before}
