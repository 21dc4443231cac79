"""``ResumableOptunaSweeper``: hydra-optuna-sweeper's ``OptunaSweeper`` that resumes its stored study.

Hydra finds sweepers only in the ``hydra_plugins`` namespace; the logic lives in
:mod:`era_exp.sweep.search`, imported when a search starts (Hydra imports this module at every start).
"""

from __future__ import annotations

from hydra.types import HydraContext, TaskFunction
from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper
from omegaconf import DictConfig


class ResumableOptunaSweeper(OptunaSweeper):
    """Select it with ``hydra.sweeper._target_`` on top of ``override /hydra/sweeper: optuna``."""

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        super().setup(hydra_context=hydra_context, task_function=task_function, config=config)
        self.config = config

    def sweep(self, arguments: list[str]) -> None:
        from era_exp.sweep.search import prepare_study

        prepare_study(self.sweeper, self.config, arguments)
        return super().sweep(arguments)
