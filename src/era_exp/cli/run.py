"""``era-run``: evaluate one configuration (or a Hydra multirun grid of them)."""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig

from era_exp.config import conf_dir
from era_exp.sweep.job import hydra_job
from era_exp.sweep.naming import register_resolvers

log = logging.getLogger(__name__)
register_resolvers()


@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="run")
def main(cfg: DictConfig) -> float:
    """Run one configuration into Hydra's output folder; return nDCG@10 for sweepers."""
    results = hydra_job(cfg)
    return results["overall"]["ndcg@10"]


if __name__ == "__main__":
    main()
