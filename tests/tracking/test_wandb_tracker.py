"""W&B tracking: offline without credentials, one finished run per job, even a failed one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from era_exp.tracking.tracker import tracking
from era_exp.tracking.wandb_tracker import has_api_key, resolve_mode

from .test_trackers import RESULTS, _stages


@pytest.fixture
def no_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No API key in the environment and an empty netrc file."""
    for name in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    netrc = tmp_path / "netrc"
    netrc.write_text("")
    monkeypatch.setenv("NETRC", str(netrc))
    return netrc


def test_offline_without_credentials(no_credentials: Path) -> None:
    assert not has_api_key()
    assert resolve_mode("auto") == "offline"


def test_online_with_a_key_or_a_netrc_entry(no_credentials: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    no_credentials.write_text("machine api.wandb.ai\n  login user\n  password abc\n")
    assert resolve_mode("auto") == "online"
    no_credentials.write_text("")
    monkeypatch.setenv("WANDB_API_KEY", "abc")
    assert resolve_mode("auto") == "online"


def test_explicit_and_environment_modes_win(no_credentials: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_API_KEY", "abc")
    assert resolve_mode("offline") == "offline"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert resolve_mode("auto") == "disabled"
    with pytest.raises(ValueError, match=r"conf/logger/wandb\.yaml"):
        resolve_mode("sometimes")


WANDB_RUN = ("data=builtin", "logger=wandb", "method=era", "train_ratio=0.1")


def test_offline_run_gets_curves_tables_and_summary(run_config, tmp_path: Path, no_credentials: Path) -> None:
    import wandb

    out_dir = tmp_path / "method=era,train_ratio=0.1"
    with tracking(run_config(*WANDB_RUN), out_dir, group="my-sweep") as tracker:
        run = tracker.run
        assert tracker.mode == "offline" and run.group == "my-sweep" and run.name == out_dir.name
        assert {"minilm_to_minilm", "era", "ratio=0.1", "in_domain"} <= set(run.tags)
        assert run.config["train_ratio"] == 0.1 and run.config["stage2"]["objective"]["temperature"] == 0.05
        _stages(tracker)
        tracker.log_results(RESULTS)
        assert run.summary["overall/ndcg@10"] == 0.5 and run.summary["validation/ndcg@10"] == 0.45
    assert wandb.run is None
    (offline,) = (out_dir / "wandb").glob("offline-run-*")
    assert list(offline.glob("*.wandb"))


def test_failed_job_still_finishes_its_run(run_config, tmp_path: Path, no_credentials: Path) -> None:
    import wandb

    with pytest.raises(RuntimeError), tracking(run_config(*WANDB_RUN), tmp_path):
        assert wandb.run is not None
        raise RuntimeError("boom")
    assert wandb.run is None
    assert os.environ.get("WANDB_MODE") is None
