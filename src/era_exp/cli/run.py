"""``era-run``: evaluate one configuration (or a Hydra multirun grid of them)."""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig

from era_exp.config import ConfigError, conf_dir, register_configs, validate
from era_exp.sweep.naming import register_resolvers

log = logging.getLogger(__name__)
register_resolvers()
register_configs()


@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="run")
def main(cfg: DictConfig) -> float:
    """Run one configuration into Hydra's output folder; return nDCG@10 for sweepers.

    The config is validated before the pipeline (torch, Lightning, models) is even imported.
    """
    try:
        validate(cfg)
    except ConfigError as err:
        sys.exit(f"era-run: invalid config: {err}")
    from era_exp.sweep.job import hydra_job

    results = hydra_job(cfg)
    return results["overall"]["ndcg@10"]


if __name__ == "__main__":
    main()
