"""The oracle fit (pipeline/ceiling.py): Stage 2 trains on the test queries it scores, its results say
so, and nothing a run config composes reaches it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from era_exp.cli.era_plus import CEILINGS, PairStudy, ceiling_specs, final_specs, idea_specs, trace_specs
from era_exp.cli.results import Points
from era_exp.config import conf_dir
from era_exp.pipeline.ceiling import OracleFitError, check_oracle_config, oracle_fit, oracle_key
from era_exp.pipeline.results import DONE_FILE, ORACLE_FIT, completed_results, run_key
from era_exp.pipeline.run import run
from era_exp.report.collect import scan_sweep
from helpers.config import TINY_BUILTIN, compose_run

# era_plus on the built-in task (MiniLM on both sides), its closed-form Stage 1, six Stage-2 epochs.
TINY_PLUS = (*TINY_BUILTIN, "method=era_plus", "stage1.epochs=0", "stage2.nominal_epochs=6")


def _qids(folder: Path) -> set[str]:
    """The query ids of a run folder's qrels files (the queries it scored)."""
    return {
        line.split()[0]
        for path in (folder / "qrels").glob("*.qrels")
        for line in path.read_text().splitlines()
    }


@pytest.fixture(scope="module")
def tiny_fit(embedding_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The oracle fit of tiny era_plus, the same config as a normal run, and MiniLM zero-shot."""
    root = tmp_path_factory.mktemp("ceiling")
    cfg = compose_run(embedding_cache, TINY_PLUS)
    return {
        "cfg": cfg,
        "fit_dir": root / "fit",
        "fit": oracle_fit(cfg, root / "fit"),
        "run_dir": root / "run",
        "run": run(cfg, root / "run"),
        "zero": run(compose_run(embedding_cache, (*TINY_BUILTIN, "method=zero_shot")), root / "zero"),
    }


def test_the_fit_trains_on_the_test_queries_and_scores_them(tiny_fit: dict) -> None:
    fit, normal, zero = tiny_fit["fit"], tiny_fit["run"], tiny_fit["zero"]
    (task,) = fit["split_sizes"]
    test = normal["split_sizes"][task]["test"]
    assert fit["split_sizes"][task] == {"trained": test, "scored": test}
    assert _qids(tiny_fit["fit_dir"]) == _qids(tiny_fit["run_dir"]), "scored: the run's own test split"
    stage = fit["stages"]["adaptation"]
    assert stage["train_pairs"] == stage["val_pairs"] > normal["stages"]["adaptation"]["train_pairs"]
    # Early stopping watched the test queries: its start is MiniLM's zero-shot on them (both sides
    # MiniLM), and the epoch it kept scores on the test split what the monitor saw.
    assert stage["monitor_history"][0] == pytest.approx(zero["overall"]["ndcg@10"], abs=1e-4)
    assert fit["overall"]["ndcg@10"] == pytest.approx(stage["best_monitor"], abs=1e-4)
    assert fit["overall"]["ndcg@10"] >= zero["overall"]["ndcg@10"] - 1e-6


def test_the_fit_is_marked_and_kept_apart_from_runs(tiny_fit: dict, tmp_path: Path) -> None:
    fit, cfg, folder = tiny_fit["fit"], tiny_fit["cfg"], tiny_fit["fit_dir"]
    stored = json.loads((folder / "results.json").read_text())
    marker = stored[ORACLE_FIT]
    assert (marker["trained_on"], marker["early_stopped_on"], marker["scored_on"]) == ("test",) * 3
    assert marker["config_run_key"] == run_key(cfg) != fit["run_key"] == oracle_key(cfg)
    assert stored["validation"] is None and not (folder / "adapter").exists()
    assert (folder / DONE_FILE).read_text().strip() == oracle_key(cfg)
    assert completed_results(folder, run_key(cfg)) is None, "a normal run never takes the fit for its own"
    assert oracle_fit(cfg, folder) == stored, "a complete fit is read back, not recomputed"
    scan = scan_sweep(folder.parent)
    assert folder not in {record.path for record in scan.runs}
    assert any(item.path == folder and "oracle fit" in item.reason for item in scan.incomplete)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("method=zero_shot",), "no Stage 2"),
        (("method=era",), "stage2.monitor"),
        (("method=era_plus", "setting=lodo", "holdout_domain=Code"), "in_domain"),
        (("method=era_plus", "stage2/trace=per_query"), "trace"),
    ],
)
def test_configs_a_fit_cannot_be_made_of_fail_before_any_work(run_config, overrides, message) -> None:
    with pytest.raises(OracleFitError, match=message):
        check_oracle_config(run_config(*TINY_BUILTIN, *overrides))


def test_no_config_entry_reaches_the_fit(repo_root: Path) -> None:
    """The fit is a function called by name: no entry of conf/ or experiments/ mentions it."""
    entries = [*conf_dir().rglob("*.yaml"), *(repo_root / "experiments").rglob("*.yaml")]
    assert entries
    for path in entries:
        text = path.read_text(encoding="utf-8").lower()
        assert "ceiling" not in text and "oracle" not in text, path


def test_the_page_fits_have_their_own_folders_and_compose(run_config, tmp_path: Path) -> None:
    study = PairStudy("mpnet_to_minilm", "mpnet→MiniLM", Points("mair-lite", tmp_path, None))
    names = {name for name, _ in ceiling_specs(study).values()}
    assert len(names) == len(CEILINGS) and all(name.startswith("oracle-fit-") for name in names)
    runs = {
        name
        for specs in (idea_specs(study), final_specs(study), trace_specs(study))
        for name, _ in specs.values()
    }
    assert not names & runs
    for _, overrides in ceiling_specs(study).values():
        check_oracle_config(run_config(*overrides))


def test_a_real_fit_on_mair_lite_tasks(mair_lite_root: Path, embedding_cache: Path, tmp_path: Path) -> None:
    """Two small mair-lite tasks, MiniLM on both sides, the MLP class: every test query trained and scored."""
    selection = ("data=mair_lite", f"data.root={mair_lite_root}", "data.tasks=[SpotifyAPI,TMDB]")
    overrides = (*selection, "method=era_plus", "adapter=doc_residual_mlp", "stage2.nominal_epochs=8")
    cfg = compose_run(embedding_cache, overrides)
    fit = oracle_fit(cfg, tmp_path / "fit")
    normal = run(compose_run(embedding_cache, (*selection, "method=zero_shot")), tmp_path / "zero")
    assert fit["run"]["adapter"] == "doc_residual_mlp"
    for task in ("SpotifyAPI", "TMDB"):
        test = normal["split_sizes"][task]["test"]
        assert fit["split_sizes"][task] == {"trained": test, "scored": test}
        assert fit["per_unit"][task]["num_queries"] == test
    stage = fit["stages"]["adaptation"]
    assert stage["monitor_history"][0] == pytest.approx(normal["overall"]["ndcg@10"], abs=1e-4)
    assert fit["overall"]["ndcg@10"] == pytest.approx(stage["best_monitor"], abs=1e-4)
    assert _qids(tmp_path / "fit") == _qids(tmp_path / "zero")
