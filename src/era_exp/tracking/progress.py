"""Training progress output: a Rich progress bar on a terminal, nothing in CI, logs or when quiet."""

from __future__ import annotations

from typing import Any

from era_exp.stages.trainer import interactive


def progress_kwargs() -> dict[str, Any]:
    """Trainer keyword arguments for the progress bar (a fresh callback per call)."""
    if not interactive():
        return {"enable_progress_bar": False}
    from pytorch_lightning.callbacks import RichProgressBar  # Lightning only for a terminal's bar

    return {"enable_progress_bar": True, "callbacks": [RichProgressBar()]}
