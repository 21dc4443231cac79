"""The grid points of a multirun command line, expanded exactly as Hydra's basic sweeper does.

Sweep parameters come from the config's ``hydra.sweeper.params`` (experiments declare their grid
there) followed by the command line, which wins on a shared key.
"""

from __future__ import annotations

from collections.abc import Sequence

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig

from era_exp.config import compose


def expand_grid(overrides: Sequence[str]) -> list[list[str]]:
    """The override list of every job ``era-run -m <overrides>`` would launch, in launch order."""
    parser = OverridesParser.create()
    parsed = parser.parse_overrides(list(overrides))
    fixed = [override.input_line for override in parsed if not override.is_sweep_override()]
    params = compose(fixed, check=False).hydra.sweeper.get("params") or {}
    declared = [f"{key}={value}" for key, value in params.items()]
    (points,) = BasicSweeper.split_arguments(parser.parse_overrides([*declared, *overrides]), None)
    return points


def compose_grid(overrides: Sequence[str]) -> list[DictConfig]:
    """The composed config of every grid point (without Hydra's own node)."""
    return [compose(point, return_hydra_config=False) for point in expand_grid(overrides)]
