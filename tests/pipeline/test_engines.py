"""End to end on the built-in task: ERA gives the same numbers under either training engine."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from era_exp.config import compose
from era_exp.pipeline.run import run

VOLATILE = {"profile", "peak_rss_mib", "config", "cache"}


def _comparable(results: dict) -> dict:
    """Results without wall times, memory, paths and cache counters (the first run encodes)."""
    kept = {key: value for key, value in results.items() if key not in VOLATILE}
    kept["stages"] = {
        name: {k: v for k, v in report.items() if k not in ("seconds", "stage1_key")}
        if isinstance(report, dict)
        else report
        for name, report in results["stages"].items()
    }
    return kept


@pytest.mark.slow
def test_era_on_the_builtin_task_is_identical_under_both_engines(tmp_path: Path) -> None:
    # The paper's stage settings: 100 Stage-1 epochs, Stage 2 until early stopping.
    cfg = compose(
        [f"paths.cache_dir={tmp_path / 'cache'}", "data=builtin", "method=era", "train_ratio=0.2"],
        return_hydra_config=False,
    )
    loop = run(cfg, tmp_path / "loop")
    trainer = run(cfg, tmp_path / "lightning", engine="lightning")
    assert not trainer["stages"]["alignment"]["reused"], "the Trainer trains its own Stage 1"
    assert _comparable(loop) == _comparable(trainer)
    assert loop["stages"]["adaptation"]["epochs"] > 1
    weights = [
        torch.load(tmp_path / name / "adapter" / "adapter.pt", weights_only=True)
        for name in ("loop", "lightning")
    ]
    for name, value in weights[0].items():
        assert torch.equal(value, weights[1][name]), name
    for run_file in (tmp_path / "loop" / "runs").iterdir():
        assert run_file.read_text() == (tmp_path / "lightning" / "runs" / run_file.name).read_text()
