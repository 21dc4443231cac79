"""Where the Hydra configuration lives, and composing it outside the command line (tests, benchmarks)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig


def conf_dir() -> Path:
    """The ``conf/`` folder: ``ERA_CONF_DIR``, else the one in the source checkout, else ``./conf``."""
    if "ERA_CONF_DIR" in os.environ:
        return Path(os.environ["ERA_CONF_DIR"]).resolve()
    for parent in Path(__file__).resolve().parents:
        if (parent / "conf" / "run.yaml").is_file():
            return parent / "conf"
    return (Path.cwd() / "conf").resolve()


def compose(
    overrides: Sequence[str] = (), config_name: str = "run", return_hydra_config: bool = True
) -> DictConfig:
    """Compose the real config with command-line style overrides, as ``era-run`` would."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        return hydra_compose(config_name, overrides=list(overrides), return_hydra_config=return_hydra_config)
