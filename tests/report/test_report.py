"""era-report on a synthetic sweep: tidy table, Markdown, significance, plots, skipped runs, CLI."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from scipy.stats import ttest_rel

from era_exp.cli.report import main
from era_exp.evaluate.metrics import evaluate_run
from era_exp.report.build import Report, build_report
from era_exp.report.collect import scan_sweep
from era_exp.report.grid import build_grid
from era_exp.report.search import SEARCH_FILE
from era_exp.report.significance import BlockComparison, PairComparison
from era_exp.retrieve.trec import read_qrels, read_run
from helpers.fake_sweep import INCOMPLETE, SWEEP, UNITS, FakeRun, write_fake_run


@pytest.fixture(scope="module")
def report(fake_sweep: Path) -> Report:
    return build_report(fake_sweep)


def test_tidy_table_has_a_row_per_run_and_task_plus_domain_and_overall_rows(report: Report) -> None:
    tasks = {task for task, _, _ in UNITS.values()}
    domains = {domain for _, domain, _ in UNITS.values()}
    csv = pd.read_csv(report.out_dir / "results.csv")
    parquet = pd.read_parquet(report.out_dir / "results.parquet")
    assert len(report.runs) == len(SWEEP) + 1  # the reused twin is a run folder of its own
    assert len(csv) == len(parquet) == len(report.runs) * (len(tasks) + len(domains) + 1)
    assert list(csv.columns) == list(parquet.columns)
    for column in (
        "pair",
        "query_embedder",
        "doc_embedder",
        "method",
        "train_ratio",
        "setting",
        "holdout_domain",
        "train_domain",
        "seed",
        "task",
        "domain",
        "ndcg@10",
        "map@100",
        "recall@100",
        "mrr@100",
    ):
        assert column in parquet.columns
    tasks_rows = parquet[parquet["level"] == "task"]
    assert set(tasks_rows["task"]) == tasks
    assert set(parquet.loc[parquet["level"] == "domain", "domain"]) == domains
    overall = parquet[parquet["level"] == "overall"]
    assert set(overall["pair"]) == {"mpnet→minilm", "minilm→minilm", "minilm→mpnet"}
    assert overall.loc[overall["method"].isin(["zero_shot", "align_only"]), "train_ratio"].isna().all()
    assert overall["ndcg@10_domain_mean"].notna().all()
    # TaskB pools its two sub-splits' scored queries.
    assert set(tasks_rows.loc[tasks_rows["task"] == "TaskB", "num_queries"]) == {40}


def test_overall_values_come_from_results_json(report: Report) -> None:
    frame = report.frame
    for record in report.runs:
        row = frame[(frame["run_dir"] == record.path.name) & (frame["level"] == "overall")].iloc[0]
        assert row["ndcg@10"] == pytest.approx(record.results["overall"]["ndcg@10"])
        assert row["pair"] == f"{record.query_embedder}→{record.doc_embedder}"


def test_incomplete_runs_are_skipped_and_listed(fake_sweep: Path, report: Report, capsys) -> None:
    assert sorted(i.path.name for i in report.incomplete) == sorted(INCOMPLETE)
    assert {r.path.name for r in report.runs}.isdisjoint(INCOMPLETE)
    page = (report.out_dir / "index.html").read_text()
    for name in INCOMPLETE:
        assert f"skipped {name}:" in page
    assert main([str(fake_sweep), "--out", str(report.out_dir)]) == 0
    printed = capsys.readouterr().out
    assert all(name in printed for name in INCOMPLETE)


def test_runs_without_a_ratio_join_every_ratio_block_of_their_pair(fake_sweep: Path) -> None:
    grid = build_grid(scan_sweep(fake_sweep).runs)
    blocks = {(b.pair, b.ratio): b for b in grid.blocks}
    assert set(blocks) == {
        ("mpnet→minilm", 0.1),
        ("mpnet→minilm", 0.2),
        ("minilm→minilm", 0.2),
        ("minilm→mpnet", 0.2),
    }
    for ratio in (0.1, 0.2):
        block = blocks["mpnet→minilm", ratio]
        assert block.methods == ["zero_shot", "align_only", "label_only", "era"]
        # The pair has no zero_shot run: the document model's (MiniLM's) zero-shot stands in.
        assert block.borrowed == {"zero_shot"}
        assert block.runs["zero_shot"].info["query_model_used"] == "minilm"
    assert blocks["minilm→mpnet", 0.2].methods == ["era"]


def test_reused_twins_are_one_run_but_conflicting_duplicates_are_reported(
    fake_sweep: Path, report: Report, tmp_path: Path
) -> None:
    assert "ignored" not in (report.out_dir / "index.html").read_text()
    write_fake_run(tmp_path / "a", FakeRun("minilm", "minilm", "era", 0.2))
    write_fake_run(tmp_path / "b", FakeRun("minilm", "minilm", "era", 0.2))
    grid = build_grid(scan_sweep(tmp_path).runs)
    assert [r.path.name for r in grid.duplicates] == ["b"]
    page = (build_report(tmp_path).out_dir / "index.html").read_text()
    assert "ignored b: another run key" in page


def test_markdown_tables_state_the_test_and_mark_significant_wins(report: Report) -> None:
    overall = (report.out_dir / "overall.md").read_text()
    for header in ("nDCG@10", "nDCG@10 (domain mean)", "MAP@100", "R@100", "MRR@100"):
        assert f"| {header} |" in overall
    assert "p ≤ α = 0.05" in overall
    assert "No correction for multiple comparisons" in overall
    era_row = next(
        line for line in overall.splitlines() if line.startswith("| mpnet→minilm | 0.2 | d | era |")
    )
    # ERA ranks the relevant document near the top; zero-shot (letter a) far lower.
    assert "ᵃ" in era_row.split("|")[5]
    zero_row = next(
        line for line in overall.splitlines() if line.startswith("| mpnet→minilm | 0.2 | a | zero_shot")
    )
    assert not any(ch in zero_row.split("|")[5] for ch in "ᵃᵇᶜᵈ")
    per_domain = (report.out_dir / "per_domain.md").read_text()
    assert "| Code | Legal |" in per_domain
    assert "p-value" in (report.out_dir / "significance.md").read_text()


def test_significance_matches_a_direct_paired_t_test(fake_sweep: Path, report: Report) -> None:
    table = pd.read_csv(report.out_dir / "significance.csv")
    assert set(table["method_a"] + ">" + table["method_b"]) >= {"era>zero_shot", "era>label_only"}
    assert (table["significant"] == (table["p_value"] <= 0.05)).all()
    row = table[(table["pair"] == "minilm→minilm") & (table["method_a"] == "era")].iloc[0]
    folders = {(r.pair, r.method): r.path for r in report.runs}
    scores = [_pooled_ndcg(folders["minilm→minilm", method]) for method in ("era", "zero_shot")]
    assert row["p_value"] == pytest.approx(ttest_rel(*scores).pvalue, rel=1e-6)
    assert row["num_queries"] == sum(n for _, _, n in UNITS.values())
    assert row["delta"] == pytest.approx(np.mean(scores[0]) - np.mean(scores[1]))


def test_alpha_is_the_threshold_applied(fake_sweep: Path, tmp_path: Path) -> None:
    strict = build_report(fake_sweep, tmp_path / "strict", alpha=1e-30)
    table = pd.read_csv(strict.out_dir / "significance.csv")
    assert not table["significant"].all()
    assert (table["significant"] == (table["p_value"] <= 1e-30)).all()
    assert "p ≤ α = 1e-30" in (strict.out_dir / "overall.md").read_text()


def test_plots_are_valid_non_blank_pngs(report: Report) -> None:
    pngs = sorted((report.out_dir / "plots").glob("*.png"))
    names = {p.name.split("__")[0] for p in pngs}
    assert names == {"ndcg_vs_ratio", "era_gain_heatmap", "domains"}
    assert len([p for p in pngs if p.name.startswith("domains")]) == 4
    for png in pngs:
        image = matplotlib.image.imread(png)
        assert image.ndim == 3 and min(image.shape[:2]) > 100
        assert image.std() > 0.01, f"{png} is blank"


def test_dashboard_is_offline_and_shows_every_plot(report: Report) -> None:
    page = (report.out_dir / "index.html").read_text()
    assert "<script" not in page and "http://" not in page and "https://" not in page
    sources = re.findall(r"<img alt='[^']*' src='([^']+)'>", page)
    pngs = sorted(p.relative_to(report.out_dir).as_posix() for p in (report.out_dir / "plots").glob("*.png"))
    assert sorted(sources) == pngs, "every plot shown once, from its file beside the page"
    assert all((report.out_dir / source).is_file() for source in sources)
    for text in (
        "9 finished (8 distinct computations)",
        "LocalSource(root=/data/fake)",
        "Grid axes",
        "train ratio (3)",
        "Significance",
    ):
        assert text in page


def test_a_folder_without_finished_runs_is_an_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "0" / ".hydra").mkdir(parents=True)
    assert main([str(tmp_path)]) == 2
    assert "no finished run" in capsys.readouterr().err


def _pooled_ndcg(run_dir: Path) -> list[float]:
    """Per-query nDCG@10 over all units of a run, in a fixed query order."""
    values = []
    for qrels_file in sorted((run_dir / "qrels").glob("*.qrels")):
        qrels = read_qrels(qrels_file)
        _, per_query = evaluate_run(
            qrels, read_run(run_dir / "runs" / f"{qrels_file.stem}.trec"), ["ndcg@10"]
        )
        values += [per_query[qid]["ndcg@10"] for qid in sorted(qrels)]
    assert not any(math.isnan(v) for v in values)
    return values


def _optimising(fake_sweep: Path, folder: Path, metric: str, only: str | None = None) -> Path:
    """A copy of the synthetic sweep whose runs (or only run ``only``) optimise ``metric``."""
    shutil.copytree(fake_sweep, folder)
    for results_file in folder.glob("*/results.json"):
        if only is None or results_file.parent.name == only:
            results = json.loads(results_file.read_text())
            results["config"]["eval"]["optimized_metric"] = metric
            results_file.write_text(json.dumps(results))
    return folder


def test_the_report_leads_with_the_runs_optimised_metric(fake_sweep: Path, tmp_path: Path) -> None:
    report = build_report(_optimising(fake_sweep, tmp_path / "sweep", "map@100"), tmp_path / "out")
    overall = (report.out_dir / "overall.md").read_text()
    header = next(line for line in overall.splitlines() if line.startswith("| pair"))
    assert header.split(" | ")[4:7] == ["MAP@100", "MAP@100 (domain mean)", "nDCG@10"]
    assert "on per-query MAP@100" in overall
    assert "## MAP@100 per domain" in (report.out_dir / "per_domain.md").read_text()
    assert "Significance of MAP@100 differences" in (report.out_dir / "significance.md").read_text()
    assert "map@100_a" in pd.read_csv(report.out_dir / "significance.csv").columns
    assert {p.name.split("__")[0] for p in (report.out_dir / "plots").glob("*.png")} == {
        "map_vs_ratio",
        "era_gain_heatmap",
        "domains",
    }


def test_runs_optimising_different_metrics_need_an_explicit_metric(
    fake_sweep: Path, tmp_path: Path, capsys
) -> None:
    sweep = _optimising(fake_sweep, tmp_path / "sweep", "mrr@100", only="0")
    assert main([str(sweep), "--out", str(tmp_path / "out")]) == 2
    assert (
        "optimise different metrics (mrr@100, ndcg@10): choose one with --metric" in capsys.readouterr().err
    )
    assert main([str(sweep), "--out", str(tmp_path / "out"), "--metric", "recall@100"]) == 0
    assert "Significance of R@100 differences" in (tmp_path / "out" / "significance.md").read_text()
    assert main([str(sweep), "--out", str(tmp_path / "out"), "--metric", "ndcg@5"]) == 2
    assert "ndcg@5 was not computed by" in capsys.readouterr().err


def test_a_letter_needs_the_printed_mean_to_agree_with_the_pooled_test() -> None:
    # Pooled over queries era beats zero_shot significantly, but the mean over tasks the table
    # prints puts zero_shot ahead (one large task dominates the pool): no letter either way.
    test = BlockComparison(
        {"zero_shot": "a", "era": "b"},
        1217,
        [PairComparison("era", "zero_shot", 0.4048, 0.3906, 0.016, True)],
    )
    assert test.superscript("era", {"zero_shot": 0.3289, "era": 0.3260}) == ""
    assert test.superscript("zero_shot", {"zero_shot": 0.3289, "era": 0.3260}) == ""
    assert test.superscript("era", {"zero_shot": 0.3289, "era": 0.3492}) == "ᵃ"
    assert test.superscript("era", {"zero_shot": None, "era": 0.3492}) == ""


def test_options_a_search_report_cannot_honour_are_refused(tmp_path: Path, capsys) -> None:
    (tmp_path / SEARCH_FILE).write_text("{}")
    for option in (["--metric", "map@100"], ["--alpha", "0.01"]):
        assert main([str(tmp_path), *option]) == 2
        assert f"{option[0]} do not apply to a search folder" in capsys.readouterr().err
