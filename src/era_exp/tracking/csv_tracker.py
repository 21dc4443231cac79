"""``logger=csv``: Lightning's CSVLogger in ``<run>/csv/`` plus the run's metric tables as CSV files."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

from omegaconf import DictConfig
from pytorch_lightning.loggers import CSVLogger

from era_exp.io import atomic_write_text
from era_exp.tracking.tables import overall_metrics, result_tables
from era_exp.tracking.tracker import Tracker, plain_config

CSV_DIR = "csv"


class _CSVLogger(CSVLogger):
    """Lightning's CSVLogger, remembering the highest step the stages logged at."""

    last_step = -1

    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        super().log_metrics(metrics, step)
        if step is not None:
            self.last_step = max(self.last_step, step)


class CsvTracker(Tracker):
    """Stage curves in ``csv/metrics.csv``, the config in ``csv/hparams.yaml``, tables next to them."""

    def __init__(self, cfg: DictConfig, out_dir: Path, sweep_group: str | None = None) -> None:
        self.dir = Path(out_dir) / CSV_DIR
        # A redone job starts a fresh log rather than appending to a failed attempt's.
        shutil.rmtree(self.dir, ignore_errors=True)
        self.logger = _CSVLogger(save_dir=out_dir, name=CSV_DIR, version="")
        self.logger.log_hyperparams(plain_config(cfg))
        self.loggers = (self.logger,)

    def log_results(self, results: dict) -> None:
        """Overall metrics as the last row of metrics.csv; per-task and per-domain as their own files."""
        # One step past the stages' last, so the row sorts after their curves.
        self.logger.log_metrics(overall_metrics(results), step=self.logger.last_step + 1)
        for name, (header, rows) in result_tables(results).items():
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
            atomic_write_text(self.dir / f"{name}.csv", buffer.getvalue())

    def close(self, ok: bool) -> None:
        self.logger.save()
