"""When to show progress bars: only on a terminal, and never when ``ERA_QUIET`` or ``CI`` is set."""

from __future__ import annotations

import os
import sys


def quiet() -> bool:
    """Whether progress bars stay off: stderr is not a terminal, or ``ERA_QUIET`` / ``CI`` is set."""
    flags = (os.environ.get(var, "").strip().lower() for var in ("ERA_QUIET", "CI"))
    return any(flag not in ("", "0", "false", "no") for flag in flags) or not sys.stderr.isatty()
