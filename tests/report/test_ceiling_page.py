"""The era_plus page's oracle-fit section, built from real fits and runs on two mair-lite tasks: its table
holds every fit, and its bullets name exactly the tasks their numbers say."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from era_exp.cli.era_plus import CEILINGS, RATIOS, ceiling_section, mpnet_zero_shot
from era_exp.pipeline.ceiling import oracle_fit
from era_exp.pipeline.run import run
from helpers.config import compose_run

ZERO_SHOT_PAGE = Path(__file__).resolve().parents[2] / "docs" / "results" / "zero-shot.md"
TASKS = ("SpotifyAPI", "TMDB")
SHORT = ("stage2.nominal_epochs=6", "stage2.patience=3")


def _named(line: str) -> set[str]:
    """The tasks a bullet lists as ``Task (a vs b)``."""
    return set(re.findall(r"([\w-]+) \(\d+\.\d vs \d+\.\d\)", line))


@pytest.mark.slow
def test_the_section_states_what_the_fits_say(
    mair_lite_root: Path, embedding_cache: Path, tmp_path: Path
) -> None:
    selection = ("data=mair_lite", f"data.root={mair_lite_root}", f"data.tasks=[{','.join(TASKS)}]")

    def config(*overrides: str):
        return compose_run(embedding_cache, (*selection, "pair=minilm_to_minilm", *overrides))

    zero = run(config("method=zero_shot"), tmp_path / "zero")
    final = {
        ("plus", ratio): run(
            config("method=era_plus", f"train_ratio={ratio}", *SHORT), tmp_path / f"plus-{ratio}"
        )
        for ratio in (0.2, RATIOS[-1])
    }
    fits = {
        ceiling.key: oracle_fit(config(*ceiling.overrides, *SHORT), tmp_path / f"fit-{ceiling.key}")
        for ceiling in CEILINGS
    }
    mpnet = mpnet_zero_shot(ZERO_SHOT_PAGE)
    assert mpnet is not None and set(TASKS) <= set(mpnet["per_task"])
    lines = ceiling_section(zero, final, fits, mpnet)
    assert lines[0].startswith("### How far") and "oracle fit, not a result" in lines[0]
    text = "\n".join(lines)
    assert "trains on each task's test queries" in text and "never used to choose a setting" in text
    header = next(line for line in lines if line.startswith("| task |"))
    assert all(ceiling.label in header for ceiling in CEILINGS) and "mpnet zero-shot" in header

    def best(task: str) -> float:
        return max(fit["per_task"][task]["ndcg@10"] for fit in fits.values())

    def score(results: dict, task: str) -> float:
        return results["per_task"][task]["ndcg@10"]

    below = next(line for line in lines if line.startswith("- **Even the best fit"))
    assert _named(below) == {t for t in TASKS if best(t) <= score(mpnet, t)}
    cleared = next(line for line in lines if line.startswith("- **The fit clears"))
    plus = final[("plus", 0.2)]
    assert _named(cleared) == {t for t in TASKS if best(t) > score(mpnet, t) >= score(plus, t)}
    base, wide = (fits[ceiling.key] for ceiling in (CEILINGS[0], CEILINGS[-1]))
    capacity = next(line for line in lines if line.startswith("- **Capacity."))
    higher = capacity.split(" higher on ")[1].split(", lower on ")[0]
    assert _named(higher) == {t for t in TASKS if score(wide, t) - score(base, t) > 0.01}
