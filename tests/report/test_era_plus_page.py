"""The era_plus page's reference column and means: read from the committed zero-shot page as printed."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from era_exp.cli.era_plus import (
    BALANCED,
    BEFORE_BALANCE,
    IDEA_RATIOS,
    IDEAS,
    PREVIOUS,
    RATIOS,
    RECIPE,
    REPLACED,
    ROUNDS,
    SEEDS,
    SHIPPED,
    PairStudy,
    final_specs,
    idea_specs,
    mpnet_zero_shot,
    recipe_decision,
    restricted,
    seed_specs,
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


def test_each_round_is_ideas_tried_once_against_the_winner_of_the_round_before() -> None:
    keys = [idea.key for idea in IDEAS]
    tried = [key for stage in ROUNDS for key in stage.challengers]
    assert set(tried) <= set(keys) and len(tried) == len(set(tried))
    assert all(stage.base in keys and stage.base not in stage.challengers for stage in ROUNDS)
    for before, after in pairwise(ROUNDS):
        assert after.base in before.challengers
    # Every idea listed after the first round's base is one round's challenger (or a baseline row
    # that no round judges: the shipped recipe, label-only and align-only).
    later = keys[keys.index(ROUNDS[0].base) + 1 :]
    unjudged = {SHIPPED, *(key for key in later if key.startswith(("label-only", "align-only")))}
    assert set(later) - unjudged <= set(tried)


def test_the_final_runs_at_the_idea_ratios_are_the_ideas_runs(tmp_path: Path) -> None:
    """Prefetching in parallel computes each distinct run once: era and era_plus at 0.05 and 0.2 are ideas."""
    study = PairStudy("mpnet_to_minilm", "mpnet→MiniLM", Points("mair-lite", tmp_path, None))
    ideas, final = idea_specs(study), final_specs(study)
    for key in ("era", "plus"):
        for ratio in IDEA_RATIOS:
            assert final[(key, ratio)] == ideas[(key, ratio)]
    for ratio in IDEA_RATIOS:  # the recipe era_plus replaced
        assert final[(PREVIOUS, ratio)] == ideas[(REPLACED, ratio)]
    assert ideas[("align-only", 0.05)] == ideas[("align-only", 0.2)], "ratio-free ideas run once"
    distinct = set(ideas.values()) | set(final.values())
    ratio_free = sum(idea.ratio_free for idea in IDEAS)
    expected = len(IDEAS) * len(IDEA_RATIOS) - ratio_free * (len(IDEA_RATIOS) - 1) + 1  # + MiniLM zero-shot
    assert len(distinct) == expected + 3 * (len(RATIOS) - len(IDEA_RATIOS))


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
    """The decision rule of the page, each round against its own base: averaged over the idea ratios,
    higher over tasks and over domains on both pairs; era_plus as shipped is named as the idea whose
    runs it is."""
    studies = [PairStudy(pair, pair, Points("mair-lite", tmp_path, None)) for pair in ("a_to_b", "c_to_d")]
    first, second, *later = ROUNDS
    winner, half, loser = first.challengers[-1], first.challengers[0], first.challengers[1]
    assert winner == second.base == BALANCED and first.base == BEFORE_BALANCE
    # (tasks, domains) per pair at each idea ratio; ``half`` wins over tasks only, on one pair domains
    # fall; in the second round, against ``winner``, every idea but one is a little lower on one mean.
    scores = {
        BEFORE_BALANCE: [(0.40, 0.50), (0.40, 0.50)],
        winner: [(0.41, 0.51), (0.42, 0.505)],
        half: [(0.41, 0.49), (0.41, 0.51)],
        loser: [(0.39, 0.50), (0.40, 0.50)],
    }
    for key in first.challengers:
        scores.setdefault(key, [(0.30, 0.30), (0.30, 0.30)])
    for key in second.challengers:
        scores[key] = [(0.415, 0.51), (0.42, 0.505)]
    scores[second.challengers[-1]] = [(0.42, 0.52), (0.43, 0.51)]
    # The third round: both ideas pass against its base (scored as the second round's ideas), the
    # first by more.
    third = later[0]
    scores[third.challengers[0]] = [(0.425, 0.52), (0.43, 0.515)]
    scores[third.challengers[1]] = [(0.42, 0.515), (0.425, 0.51)]
    for key in (key for stage in later[1:] for key in stage.challengers):
        scores[key] = [(0.30, 0.30), (0.30, 0.30)]
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
    label = {idea.key: idea.label for idea in IDEAS}
    headings = [i for i, line in enumerate(lines) if line.startswith("### Against ")]
    assert len(headings) == len(ROUNDS) and f"(“{label[BALANCED]}”)" in lines[headings[1]]
    rounds = [lines[start:end] for start, end in pairwise([*headings, len(lines)])]
    rows = [
        {line.split(" | ")[0].strip("| "): line for line in part if line.startswith("| ")} for part in rounds
    ]
    assert rows[0][label[winner]].endswith("| yes |")
    assert rows[0][label[half]].endswith("| no |") and rows[0][label[loser]].endswith("| no |")
    assert "| +1.00 | +1.00 | +2.00 | +0.50 |" in rows[0][label[winner]]
    # The second round is measured against its own base, not the first round's.
    assert "| +0.50 | +0.00 | +0.00 | +0.00 | no |" in rows[1][label[second.challengers[0]]]
    assert rows[1][label[second.challengers[-1]]].endswith("| yes |")
    decisions = [line for line in lines if line.startswith("- **Decision:**")]
    assert f"“{label[winner]}” passes the rule" in decisions[0]
    assert f"“{label[second.challengers[-1]]}” passes the rule" in decisions[1]
    assert third.base in second.challengers
    assert rows[2][label[third.challengers[0]]].endswith("| yes |")
    assert rows[2][label[third.challengers[1]]].endswith("| yes |")
    assert "pass the rule" in decisions[2] and decisions[2].endswith(
        f"of them “{label[third.challengers[0]]}”, the highest mean Δ over the columns, replaces "
        f"{third.recipe}."
    )
    assert all("no idea passes the rule" in decision for decision in decisions[3:])
    shipped = next(line for line in lines if line.startswith("- **era_plus as shipped**"))
    assert f"“{label[winner]}” (the same run keys)" in shipped
    for study in studies:  # shipped still the recipe before balancing: the page says so
        for ratio in IDEA_RATIOS:
            ideas[study.pair][(SHIPPED, ratio)] = ideas[study.pair][(BEFORE_BALANCE, ratio)]
    shipped = next(line for line in recipe_decision(studies, ideas) if line.startswith("- **era_plus as"))
    assert f"“{label[BEFORE_BALANCE]}” (the same run keys)" in shipped


def test_the_shipped_recipe_is_filed_with_the_idea_that_chose_it(run_config, tmp_path: Path) -> None:
    """era_plus as shipped and the idea it came from (the one filed under :data:`RECIPE`) are one run
    (same key) in one folder, and that folder is none of the ones the earlier recipes filled, so no
    recipe's run replaces another's when all are computed into one out-root."""
    study = PairStudy("mpnet_to_minilm", "mpnet→MiniLM", Points("mair-lite", tmp_path, None))
    ideas, final = idea_specs(study), final_specs(study)
    chosen_key = next(
        idea.key for idea in IDEAS if idea.key != SHIPPED and idea.stem == f"{SHIPPED}-{RECIPE}"
    )
    [won] = [stage for stage in ROUNDS if stage.base == REPLACED]
    assert chosen_key in won.challengers
    earlier_bases = [stage.base for stage in ROUNDS[: ROUNDS.index(won) + 1]]
    for ratio in IDEA_RATIOS:
        (shipped, shipped_overrides), (chosen, chosen_overrides) = (
            ideas[(SHIPPED, ratio)],
            ideas[(chosen_key, ratio)],
        )
        assert shipped == chosen and final[(SHIPPED, ratio)][0] == shipped
        assert run_key(run_config("data=builtin", *shipped_overrides)) == run_key(
            run_config("data=builtin", *chosen_overrides)
        )
        for earlier in earlier_bases:
            before, before_overrides = ideas[(earlier, ratio)]
            assert before != shipped
            assert run_key(run_config("data=builtin", *before_overrides)) != run_key(
                run_config("data=builtin", *shipped_overrides)
            )
        assert f"idea-plus-{study.pair}-{ratio}" != shipped


def test_the_seed_runs_reuse_the_page_runs_at_its_seed_and_vary_only_the_seed(run_config, tmp_path) -> None:
    """MiniLM->MiniLM at seed 42 is the final runs and MiniLM zero-shot (same folders, same keys);
    the other seeds are the same configs with another seed; mpnet->MiniLM's table is on the tasks
    mpnet indexes, with mpnet zero-shot among its references."""
    minilm = PairStudy("minilm_to_minilm", "MiniLM→MiniLM", Points("mair-lite", tmp_path, None))
    specs, final, ideas = seed_specs(minilm, None), final_specs(minilm), idea_specs(minilm)
    assert {key for key, _ in specs} == {"zero-shot", "era", "plus"} and SEEDS[0] == 42
    for key in ("era", "plus"):
        name, overrides, tasks = specs[(key, 42)]
        assert tasks is None and name == final[(key, 0.2)][0]
        assert run_key(run_config("data=builtin", *overrides)) == run_key(
            run_config("data=builtin", *final[(key, 0.2)][1])
        )
    assert specs[("zero-shot", 42)][0] == ideas[("zero-shot", 0.0)][0]
    for key in ("zero-shot", "era", "plus"):
        names = {specs[(key, seed)][0] for seed in SEEDS}
        assert len(names) == len(SEEDS)
        for seed in SEEDS:
            assert run_config("data=builtin", *specs[(key, seed)][1]).seed == seed
    index = ("MBPP", "TMDB")
    mpnet = PairStudy("mpnet_to_minilm", "mpnet→MiniLM", Points("mair-lite", tmp_path, None))
    mpnet_specs = seed_specs(mpnet, index)
    assert {key for key, _ in mpnet_specs} == {"zero-shot", "era", "plus", "mpnet"}
    assert all(tasks == index for _, _, tasks in mpnet_specs.values())
    assert "pair=mpnet_to_mpnet" in mpnet_specs[("mpnet", 1)][1]


def test_the_replaced_recipe_is_the_base_of_the_round_the_shipped_recipe_won(run_config) -> None:
    """The test table "against the recipe it replaced" compares era_plus with the base of the round
    whose winner it is, not with a later round's base (which is era_plus itself)."""
    shipped = run_config("pair=mpnet_to_minilm", "method=era_plus")
    overrides = {idea.key: idea.overrides for idea in IDEAS}
    [won] = [stage for stage in ROUNDS if stage.base == REPLACED]
    same = [key for key in won.challengers if run_config("pair=mpnet_to_minilm", *overrides[key]) == shipped]
    assert same, "one challenger of the round against the replaced recipe is era_plus as shipped"
    for stage in ROUNDS[ROUNDS.index(won) + 1 :]:
        assert run_config("pair=mpnet_to_minilm", *overrides[stage.base]) == shipped
