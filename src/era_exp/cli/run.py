"""``era-run``: evaluate one configuration (or a Hydra multirun grid or search of them)."""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig

from era_exp.config import ConfigError, conf_dir, register_configs, validate
from era_exp.pipeline.objective import ObjectiveError, optimized_metric, validation_objective
from era_exp.sweep.naming import register_resolvers

log = logging.getLogger(__name__)
register_resolvers()
register_configs()


@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="run")
def main(cfg: DictConfig) -> float | None:
    """Run one configuration into Hydra's output folder; return the objective for sweepers.

    The objective is ``eval.optimized_metric`` on the validation split, never the test split
    (``None`` when the run scored no validation queries). The config is validated before the
    pipeline (torch, Lightning, models) is even imported.
    """
    try:
        validate(cfg)
        metric = optimized_metric(cfg)
    except (ConfigError, ObjectiveError) as err:
        sys.exit(f"era-run: invalid config: {err}")
    from era_exp.sweep.job import hydra_job

    results = hydra_job(cfg)
    value = validation_objective(results, metric)
    if value is None:
        log.warning("no validation queries were scored (eval.split=%s): no objective", cfg.eval.split)
    return value


if __name__ == "__main__":
    main()
