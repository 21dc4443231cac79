"""method=era_plus through the real config: it starts at the document model's zero-shot and never
keeps weights that validate below it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from era_exp.adapters.store import load_adapter
from era_exp.pipeline.run import run
from helpers.config import TINY_BUILTIN


def test_era_plus_composes_its_recipe_and_the_command_line_still_wins(run_config) -> None:
    cfg = run_config("method=era_plus")
    assert cfg.method.name == "era_plus" and cfg.adapter.inputs == "query_and_doc"
    assert cfg.adapter.module._target_.endswith("DocResidualAdapter")
    assert (cfg.stage1.epochs, cfg.stage2.monitor, cfg.stage2.lr) == (0, "val_ndcg@10", 3e-4)
    assert cfg.stage2.objective.in_batch_negatives and cfg.stage2.patience == 30
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


def test_tiny_era_plus_on_the_builtin_task(run_config, tmp_path: Path) -> None:
    """MiniLM on both sides: the start is MiniLM's zero-shot, and Stage 2 keeps it unless an epoch
    validates higher, so era_plus's validation score is never below zero-shot's."""
    zero = run(run_config(*TINY_BUILTIN, "method=zero_shot"), tmp_path / "zero")
    results = run(
        run_config(*TINY_BUILTIN, "method=era_plus", "stage1.epochs=0", "stage2.nominal_epochs=6"),
        tmp_path / "plus",
    )
    stage = results["stages"]["adaptation"]
    assert stage["monitor"] == "val_ndcg@10" and results["stages"]["alignment"]["epochs"] == 0
    assert stage["monitor_history"][0] == pytest.approx(zero["validation"]["overall"]["ndcg@10"], abs=1e-4)
    assert stage["best_monitor"] == max(stage["monitor_history"])
    assert results["validation"]["overall"]["ndcg@10"] == pytest.approx(stage["best_monitor"], abs=1e-4)
    assert results["validation"]["overall"]["ndcg@10"] >= zero["validation"]["overall"]["ndcg@10"] - 1e-6
    identity = json.loads((tmp_path / "plus" / "adapter" / "adapter.json").read_text())
    adapter, meta = load_adapter(
        tmp_path / "plus" / "adapter", identity["query_identity"], identity["doc_identity"]
    )
    assert adapter.kind == meta.kind == "doc_residual"
    assert meta.method == "era_plus" and meta.kind == "doc_residual" and (meta.d_in, meta.d_out) == (768, 384)
