"""Trackers: loggers reach both stage trainers, results are recorded, the logger is always closed."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from era_exp.stages.lightning import fit
from era_exp.tracking.tracker import Tracker, point_tags, tracking

LOGGED = ("data=builtin", "train_ratio=0.1")
RESULTS = {
    "run_key": "0123456789abcdef",
    "overall": {"ndcg@10": 0.5, "map@100": 0.4, "num_tasks": 2},
    "per_task": {"A": {"ndcg@10": 0.6, "domain": "Code"}, "B": {"ndcg@10": 0.4, "domain": "Legal"}},
    "per_domain": {"Code": {"ndcg@10": 0.6, "num_tasks": 1}, "Legal": {"ndcg@10": 0.4, "num_tasks": 1}},
    "validation": {"overall": {"ndcg@10": 0.45, "num_tasks": 2}},
}


class _Toy(pl.LightningModule):
    """A one-weight model logging an epoch loss under a stage prefix, like the real stages."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix, self.weight = prefix, torch.nn.Parameter(torch.ones(1))

    def training_step(self, batch, batch_idx):
        loss = ((self.weight * batch[0]) ** 2).mean()
        self.log(f"{self.prefix}/train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class _Data(pl.LightningDataModule):
    def train_dataloader(self):
        return DataLoader(TensorDataset(torch.randn(8, 1)), batch_size=4)


def _stages(tracker: Tracker) -> None:
    """Two fits through the stages' Trainer with the tracker's kwargs, as Stage 1 and Stage 2."""
    for prefix in ("align", "adapt"):
        fit(_Toy(prefix), _Data(), max_epochs=2, trainer_kwargs=tracker.trainer_kwargs())


def test_point_tags(run_config) -> None:
    cfg = run_config("pair=mpnet_to_minilm", "method=era", "train_ratio=0.4")
    assert point_tags(cfg) == {
        "pair": "mpnet_to_minilm",
        "method": "era",
        "ratio": "0.4",
        "setting": "in_domain",
    }


def test_point_tags_name_the_pair_actually_run(run_config) -> None:
    """A per-side override changes the pair, and the tags say so."""
    cfg = run_config("pair=mpnet_to_minilm", "embedder@query_embedder=minilm", "method=era")
    assert point_tags(cfg)["pair"] == "minilm_to_minilm"


def test_no_logger_keeps_trainer_defaults(run_config, tmp_path: Path) -> None:
    with tracking(run_config(*LOGGED, "logger=none"), tmp_path) as tracker:
        assert "logger" not in tracker.trainer_kwargs()
        tracker.log_results(RESULTS)
    assert not any(tmp_path.iterdir())


def test_csv_logger_records_both_stages_and_the_tables(run_config, tmp_path: Path) -> None:
    with tracking(run_config(*LOGGED, "logger=csv"), tmp_path) as tracker:
        _stages(tracker)
        tracker.log_results(RESULTS)
    folder = tmp_path / "csv"
    rows = list(csv.DictReader((folder / "metrics.csv").read_text().splitlines()))
    assert sum(bool(row["align/train_loss"]) for row in rows) == 2
    assert sum(bool(row["adapt/train_loss"]) for row in rows) == 2
    assert rows[-1]["overall/ndcg@10"] == "0.5" and rows[-1]["validation/ndcg@10"] == "0.45"
    assert int(rows[-1]["step"]) > max(int(row["step"]) for row in rows[:-1]), "the summary row comes last"
    assert "train_ratio: 0.1" in (folder / "hparams.yaml").read_text()
    per_task = list(csv.DictReader((folder / "per_task.csv").read_text().splitlines()))
    assert [(row["task"], row["domain"], row["ndcg@10"]) for row in per_task] == [
        ("A", "Code", "0.6"),
        ("B", "Legal", "0.4"),
    ]


def test_csv_logger_is_flushed_when_the_job_fails(run_config, tmp_path: Path) -> None:
    with (
        pytest.raises(RuntimeError),
        tracking(run_config(*LOGGED, "logger=csv"), tmp_path) as tracker,
    ):
        _stages(tracker)
        raise RuntimeError("stage 3 exploded")
    assert (tmp_path / "csv" / "metrics.csv").is_file()


def test_each_logger_entry_builds_its_tracker(run_config, tmp_path: Path) -> None:
    from era_exp.tracking.csv_tracker import CsvTracker

    with tracking(run_config("logger=none"), tmp_path / "none") as tracker:
        assert type(tracker) is Tracker
    with tracking(run_config("logger=csv"), tmp_path / "csv") as tracker:
        assert isinstance(tracker, CsvTracker)
