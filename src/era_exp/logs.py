"""What reaches the console and what only the run's log file gets.

The console shows progress bars, one line per phase of a run (``era_exp.console``), warnings and
errors, and the result table a command prints; every other record (cache counts, library
banners and tips) goes only to the log file: Hydra's job log under ``era-run`` (see
``conf/hydra/default.yaml``), the file :func:`setup_logging` names for the other commands.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

CONSOLE = "era_exp.console"
FILE_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"
CONSOLE_FORMAT = "[%(asctime)s] %(message)s"
CONSOLE_DATE = "%H:%M:%S"


def console() -> logging.Logger:
    """The logger whose INFO lines reach the console: one line per phase of a run."""
    return logging.getLogger(CONSOLE)


class ConsoleFilter(logging.Filter):
    """Passes the phase lines of :data:`CONSOLE` and anything at WARNING or above."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.name.startswith(CONSOLE)


def quiet_libraries() -> None:
    """Keep library chatter off the console: Hugging Face's weight-loading bars, Lightning's tips.

    Call before transformers or Lightning are imported (environment settings are read then).
    """
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "warning")
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning.fabric", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)


def setup_logging(log_file: str | Path | None = None) -> None:
    """Console handler (phase lines and warnings) and, with ``log_file``, a file handler for INFO and up."""
    quiet_libraries()
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(logging.Formatter(CONSOLE_FORMAT, CONSOLE_DATE))
    stream.addFilter(ConsoleFilter())
    root.addHandler(stream)
    if log_file is not None:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        file = logging.FileHandler(log_file, encoding="utf-8")
        file.setFormatter(logging.Formatter(FILE_FORMAT))
        root.addHandler(file)
