"""era-report's domain-generality matrix on real runs: in-domain, leave-one-domain-out, domain-specific."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from era_exp.pipeline.run import run
from era_exp.report.build import build_report
from era_exp.report.collect import scan_sweep
from era_exp.report.domains import domain_matrices
from era_exp.report.grid import build_grid
from helpers.config import compose_run

# Code and Legal, 100 and 50 queries; MiniLM on both sides keeps it quick (the pair is not under test).
TASKS = "data.tasks=[TMDB,AILA2019-Statutes]"
SHORT_STAGE2 = ["stage2.nominal_epochs=3", "stage2.patience=2"]
# In the matrix's row order: in-domain, then domain-specific, then leave-one-domain-out rows.
SETTINGS = {
    "in_domain": ["setting=in_domain"],
    "only-Code": ["setting=domain_specific", "domain=Code"],
    "lodo-Legal": ["setting=lodo", "holdout_domain=Legal"],
}


@pytest.fixture(scope="module")
def domain_sweep(mair_lite_root: Path, embedding_cache: Path, tmp_path_factory: pytest.TempPathFactory):
    """zero_shot and label_only in each of the three settings, as ``era-run -m`` would lay them out."""
    sweep = tmp_path_factory.mktemp("domain-sweep")
    results = {}
    for name, setting in SETTINGS.items():
        for method in ("zero_shot", "label_only"):
            overrides = [f"data.root={mair_lite_root}", TASKS, "pair=minilm_to_minilm", f"method={method}"]
            overrides += [*setting, *SHORT_STAGE2]
            cfg = compose_run(embedding_cache, overrides)
            results[name, method] = run(cfg, sweep / f"{name}-{method}")
    return sweep, results


def test_matrix_cells_are_the_runs_per_domain_metrics(domain_sweep) -> None:
    sweep, results = domain_sweep
    [matrix] = domain_matrices(build_grid(scan_sweep(sweep).runs), "ndcg@10")
    assert (matrix.method, matrix.ratio, matrix.domains) == ("label_only", 0.2, ["Code", "Legal"])
    assert matrix.rows == ["all domains (in-domain)", "Code only", "all but Legal"]
    assert matrix.held_out == [None, None, "Legal"]
    for row, name in enumerate(SETTINGS):
        trained, baseline = results[name, "label_only"], results[name, "zero_shot"]
        for column, domain in enumerate(matrix.domains):
            value = trained["per_domain"][domain]["ndcg@10"]
            assert matrix.values[row][column] == pytest.approx(value)
            gain = value - baseline["per_domain"][domain]["ndcg@10"]
            assert matrix.gains[row][column] == pytest.approx(gain)
    # The held-out domain is scored on all its labelled queries, so its baseline is the LODO zero-shot.
    lodo_legal = results["lodo-Legal", "zero_shot"]["per_task"]["AILA2019-Statutes"]["num_queries"]
    in_domain_legal = results["in_domain", "zero_shot"]["per_task"]["AILA2019-Statutes"]["num_queries"]
    assert lodo_legal > in_domain_legal
    assert all(not math.isnan(g) for row in matrix.gains for g in row)


def test_report_writes_the_matrix_table_and_plot(domain_sweep, tmp_path: Path) -> None:
    sweep, results = domain_sweep
    report = build_report(sweep, tmp_path / "report")
    table = (report.out_dir / "domain_generality.md").read_text()
    lodo = results["lodo-Legal", "label_only"]["per_domain"]["Legal"]["ndcg@10"]
    assert "| all but Legal |" in table and f"{100 * lodo:.1f}" in table
    plots = sorted(p.name for p in (report.out_dir / "plots").glob("domain_matrix__*.png"))
    assert plots == ["domain_matrix__minilm_to_minilm__label_only__ratio-0.2__seed-42_test.png"]
    assert "Domain generality" in (report.out_dir / "index.html").read_text()


def test_no_matrix_without_a_domain_setting(domain_sweep) -> None:
    sweep, _ = domain_sweep
    in_domain_only = [r for r in scan_sweep(sweep).runs if r.context.setting == "in_domain"]
    assert domain_matrices(build_grid(in_domain_only), "ndcg@10") == []
