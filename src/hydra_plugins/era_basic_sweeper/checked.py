"""``FolderCheckedSweeper``: Hydra's ``BasicSweeper`` that checks the grid's job folders before launching.

Hydra finds sweepers only in the ``hydra_plugins`` namespace; the check lives in
:func:`era_exp.sweep.naming.check_distinct_folders`.
"""

from __future__ import annotations

from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser


class FolderCheckedSweeper(BasicSweeper):
    """Selected by ``conf/hydra/default.yaml`` (``hydra.sweeper._target_``) for every multirun."""

    def sweep(self, arguments: list[str]) -> Any:
        from era_exp.sweep.naming import check_distinct_folders

        assert self.config is not None and self.hydra_context is not None
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        (points,) = self.split_arguments(parser.parse_overrides([*self._parse_config(), *arguments]), None)
        check_distinct_folders(points, self.config.hydra.job.config.override_dirname.exclude_keys)
        return super().sweep(arguments)
