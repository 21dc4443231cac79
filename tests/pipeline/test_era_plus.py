"""method=era_plus through the real config: it starts at the document model's zero-shot and never
keeps weights that validate below it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from era_exp.adapters.store import load_adapter
from era_exp.config import ConfigError
from era_exp.pipeline.results import TRACE_FILE
from era_exp.pipeline.run import run
from era_exp.report.selection import shared_epoch, split_halves
from era_exp.stages.monitor import load_trace
from helpers.config import TINY_BUILTIN, compose_run

# era_plus's own closed-form Stage 1 (TINY_BUILTIN's few SGD epochs undone), six Stage-2 epochs.
TINY_PLUS = (*TINY_BUILTIN, "method=era_plus", "stage1.epochs=0", "stage2.nominal_epochs=6")


@pytest.fixture(scope="module")
def tiny_plus(embedding_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A tiny era_plus run on the built-in task (MiniLM on both sides): its folder and results."""
    folder = tmp_path_factory.mktemp("plus")
    return folder, run(compose_run(embedding_cache, TINY_PLUS), folder)


def test_era_plus_composes_its_recipe_and_the_command_line_still_wins(run_config) -> None:
    cfg = run_config("method=era_plus")
    assert cfg.method.name == "era_plus" and cfg.adapter.inputs == "query_and_doc"
    assert cfg.adapter.module._target_.endswith("DocResidualAdapter")
    assert (cfg.stage1.epochs, cfg.stage2.monitor, cfg.stage2.lr) == (0, "val_ndcg@10", 3e-4)
    assert cfg.stage2.objective.in_batch_negatives and cfg.stage2.patience == 30
    assert cfg.stage2.balance == "task"
    overridden = run_config("method=era_plus", "stage2.lr=3e-4", "stage2.monitor=val_loss")
    assert (overridden.stage2.lr, overridden.stage2.monitor) == (3e-4, "val_loss")
    faithful = run_config("method=era")
    assert (faithful.adapter.inputs, faithful.stage1.epochs, faithful.stage2.monitor) == (
        "query",
        100,
        "val_loss",
    )


def test_an_adapter_that_reads_other_inputs_than_configured_fails_before_data_is_read(run_config, tmp_path):
    cfg = run_config(*TINY_BUILTIN, "method=era_plus", "adapter.inputs=query")
    with pytest.raises(ValueError, match=r"adapter\.inputs"):
        run(cfg, tmp_path)


def test_tiny_era_plus_on_the_builtin_task(run_config, tmp_path: Path, tiny_plus) -> None:
    """MiniLM on both sides: the start is MiniLM's zero-shot, and Stage 2 keeps it unless an epoch
    validates higher, so era_plus's validation score is never below zero-shot's."""
    zero = run(run_config(*TINY_BUILTIN, "method=zero_shot"), tmp_path / "zero")
    folder, results = tiny_plus
    stage = results["stages"]["adaptation"]
    assert stage["monitor"] == "val_ndcg@10" and results["stages"]["alignment"]["epochs"] == 0
    assert stage["monitor_history"][0] == pytest.approx(zero["validation"]["overall"]["ndcg@10"], abs=1e-4)
    assert stage["best_monitor"] == max(stage["monitor_history"])
    assert results["validation"]["overall"]["ndcg@10"] == pytest.approx(stage["best_monitor"], abs=1e-4)
    assert results["validation"]["overall"]["ndcg@10"] >= zero["validation"]["overall"]["ndcg@10"] - 1e-6
    identity = json.loads((folder / "adapter" / "adapter.json").read_text())
    adapter, meta = load_adapter(folder / "adapter", identity["query_identity"], identity["doc_identity"])
    assert adapter.kind == meta.kind == "doc_residual"
    assert meta.method == "era_plus" and meta.kind == "doc_residual" and (meta.d_in, meta.d_out) == (768, 384)


def test_stage2_trace_records_every_epoch_and_changes_no_number(run_config, tmp_path, tiny_plus) -> None:
    """stage2/trace=per_query: each monitor call's per-query validation nDCG@10, the starting weights
    first; its means are the monitor's history, replaying Stage 2's rule on it finds the kept epoch,
    and the run's scores equal those of the same run without the trace."""
    _, plain = tiny_plus
    traced = run(run_config(*TINY_PLUS, "stage2/trace=per_query"), tmp_path / "traced")
    assert (
        traced["overall"] == plain["overall"]
        and traced["validation"]["overall"] == plain["validation"]["overall"]
    )
    stage = traced["stages"]["adaptation"]
    assert stage["trace_file"] == TRACE_FILE and "trace" not in stage
    factors, trace = load_trace(tmp_path / "traced" / TRACE_FILE)
    assert factors == (1.0, 0.25, 0.5, 0.75)
    ((task, values),) = trace.items()
    assert task == "stdlib-codesearch"
    assert values.shape == (stage["epochs"] + 1, len(factors), traced["split_sizes"][task]["val"])
    assert values[:, 0, :].mean(axis=1) == pytest.approx(stage["monitor_history"], abs=1e-6)
    assert (values[0] == values[0, 0]).all(), (
        "shrinking the starting weights toward themselves changes nothing"
    )
    replayed = shared_epoch(values[:, 0, :].mean(axis=1), patience=2)
    assert replayed.call == stage["best_epoch"] + 1 and replayed.last == stage["epochs"]
    # With one task, letting each task choose is the shared choice: the split-halves replay agrees.
    scores = split_halves(trace, factors, patience=2, splits=3)
    assert scores["each task its own epoch"] == scores["shared epoch (shipped)"]
    assert scores["each task its shrink factor"] == scores["one shrink factor for all tasks"]
    shipped = scores["shared epoch (shipped)"]
    assert shipped.below_shipped == 0 and 0 <= shipped.mean <= 1


def test_stage2_trace_needs_the_retrieval_monitor(run_config) -> None:
    with pytest.raises(ConfigError, match=r"stage2\.monitor=val_ndcg@10"):
        run_config("method=era", "stage2/trace=per_query")
