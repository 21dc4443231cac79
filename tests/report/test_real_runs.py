"""era-report on real pipeline runs: the built-in task, the bundled MiniLM, two methods."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from era_exp.config import compose
from era_exp.pipeline.run import run
from era_exp.report.build import build_report

METHODS = ("zero_shot", "align_only")


@pytest.mark.slow
def test_report_of_a_real_tiny_sweep(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    results = {}
    for method in METHODS:
        out_dir = sweep / method
        overrides = [
            "data=builtin",
            "data.max_queries=40",
            "pair=minilm_to_minilm",
            f"method={method}",
            f"paths.cache_dir={tmp_path / 'cache'}",
        ]
        results[method] = run(compose(overrides, return_hydra_config=False), out_dir)
    report = build_report(sweep)
    assert not report.incomplete
    overall = report.frame[report.frame["level"] == "overall"].set_index("method")
    for method, values in results.items():
        assert overall.loc[method, "ndcg@10"] == pytest.approx(values["overall"]["ndcg@10"])
        assert pd.isna(overall.loc[method, "train_ratio"])
    significance = pd.read_csv(report.out_dir / "significance.csv")
    assert list(significance["method_a"] + ">" + significance["method_b"]) == ["align_only>zero_shot"]
    scored = results["zero_shot"]["per_unit"]["stdlib-codesearch"]["num_queries"]
    assert significance.loc[0, "num_queries"] == scored
    assert 0 <= significance.loc[0, "p_value"] <= 1
    assert (report.out_dir / "index.html").is_file()
    assert "stdlib-codesearch" in set(report.frame["task"].dropna())
