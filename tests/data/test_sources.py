"""Sources built from config dictionaries the way Hydra instantiates them."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from era_exp.data.errors import DataError
from era_exp.data.sources import BuiltinSource, HubSource, LocalSource


def test_local_source_from_config(mair_lite_root: Path) -> None:
    cfg = OmegaConf.create(
        {
            "_target_": "era_exp.data.sources.LocalSource",
            "root": str(mair_lite_root),
            "tasks": ["MBPP", "TMDB"],
            "domains": None,
            "strict": True,
            "multi_split": "per_split",
        }
    )
    source = instantiate(cfg)
    assert isinstance(source, LocalSource)
    assert [t.name for t in source.load()] == ["MBPP", "TMDB"]


def test_local_source_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        LocalSource(tmp_path / "missing").load()
    with pytest.raises(DataError, match="does not exist"):
        LocalSource("relative/missing").load()


def test_builtin_source_from_config() -> None:
    source = instantiate({"_target_": "era_exp.data.sources.BuiltinSource", "max_queries": 20})
    assert isinstance(source, BuiltinSource)
    [task] = source.load()
    assert task.name == "stdlib-codesearch" and len(task.queries) == 20


def test_hub_source_from_config_fails_clearly_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    source = instantiate({"_target_": "era_exp.data.sources.HubSource", "tasks": "SciFact", "domains": None})
    assert isinstance(source, HubSource) and source.tasks == ("SciFact",)
    with pytest.raises(DataError, match="HF_HUB_OFFLINE"):
        source.load()
