"""The real run config, composed as ``era-run`` would, with test-sized settings."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig

from era_exp.config import compose

# Both stages in a few seconds on the built-in task.
TINY_STAGES = ("stage1.epochs=3", "stage2.nominal_epochs=4", "stage2.patience=2")
# A whole run on the built-in task in seconds: 160 queries, 100 sampled documents, tiny stages.
TINY_BUILTIN = ("data=builtin", "data.max_queries=160", "stage1.samples_per_task=100", *TINY_STAGES)


def compose_run(
    cache_dir: Path | str | None, overrides: Sequence[str] = (), hydra: bool = False
) -> DictConfig:
    """The composed and validated run config; ``cache_dir`` (if given) holds its embeddings."""
    cache = [f"paths.cache_dir={cache_dir}"] if cache_dir is not None else []
    return compose([*cache, *overrides], return_hydra_config=hydra)
