"""``logger=wandb``: one W&B run per job, grouped by sweep, with the stage curves and the run's metrics.

Without an API key (no ``WANDB_API_KEY``, no ``~/.netrc`` entry for the W&B host) runs are written
offline under the run folder, to be uploaded later with ``wandb sync``; with one they go online.
"""

from __future__ import annotations

import netrc
import os
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlparse

from omegaconf import DictConfig
from pytorch_lightning.loggers import WandbLogger

from era_exp.tracking.tables import overall_metrics, result_tables
from era_exp.tracking.tracker import Tracker, plain_config, point_tags

MODES = ("auto", "online", "offline", "disabled")


def has_api_key() -> bool:
    """Whether W&B could authenticate: ``WANDB_API_KEY`` or a netrc entry for its host."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    try:
        return netrc.netrc(os.environ.get("NETRC")).authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def resolve_mode(requested: str) -> str:
    """``auto`` follows ``WANDB_MODE`` when set, else online with an API key and offline without."""
    if requested not in MODES:
        raise ValueError(
            f"logger.mode={requested!r}: expected one of {', '.join(MODES)} (conf/logger/wandb.yaml)"
        )
    if requested != "auto":
        return requested
    return os.environ.get("WANDB_MODE") or ("online" if has_api_key() else "offline")


class WandbTracker(Tracker):
    """A W&B run opened at job start (config and tags), fed by the stages, finished at job end."""

    def __init__(
        self,
        cfg: DictConfig,
        out_dir: Path,
        sweep_group: str | None = None,
        *,
        project: str,
        entity: str | None,
        mode: str,
        group: str | None,
        dir: str | None,
        tags: Sequence[str],
    ) -> None:
        """Open the run; ``group`` (the entry's) wins over ``sweep_group`` (the sweep folder's path)."""
        import wandb

        point = point_tags(cfg)
        self.mode = resolve_mode(mode)
        root = Path(dir or os.environ.get("WANDB_DIR") or out_dir)
        root.mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(
            project=project,
            entity=entity,
            name=Path(out_dir).name,
            group=group or sweep_group,
            job_type=point["method"],
            tags=[point["pair"], point["method"], f"ratio={point['ratio']}", point["setting"], *tags],
            config=plain_config(cfg),
            dir=str(root),
            mode=self.mode,
            reinit="finish_previous",
        )
        # Both stages restart Lightning's step count, so curves are plotted against it, not W&B's step.
        self.run.define_metric("trainer/global_step")
        self.run.define_metric("*", step_metric="trainer/global_step", step_sync=True)
        self.loggers = (WandbLogger(experiment=self.run),)

    def log_results(self, results: dict) -> None:
        """Per-task and per-domain metrics as tables; overall metrics and the run key as summary."""
        import wandb

        tables = result_tables(results).items()
        self.run.log({name: wandb.Table(columns=header, data=rows) for name, (header, rows) in tables})
        self.run.summary.update({**overall_metrics(results), "run_key": results["run_key"]})
        if "reused_from" in results:
            self.run.summary["reused_from"] = results["reused_from"]

    def close(self, ok: bool) -> None:
        self.run.finish(exit_code=0 if ok else 1)
