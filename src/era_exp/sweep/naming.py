"""Folder names of sweep jobs: Hydra's ``override_dirname`` made safe as one path component.

A sweep's job folder must be unique per grid point and the same on every rerun, so that a rerun
into the same ``hydra.sweep.dir`` finds the points it already finished. Hydra sorts the overrides,
so the name does not depend on their order on the command line.
"""

from __future__ import annotations

import hashlib
import re

from omegaconf import OmegaConf

RESOLVER = "era_dirname"
MAX_LENGTH = 200
_UNSAFE = re.compile(r"[^A-Za-z0-9._=,+@-]+")


def job_dirname(override_dirname: str) -> str:
    """``override_dirname`` as a single safe folder name; ``default`` when there are no overrides.

    Unsafe characters (``/``, brackets, spaces...) become ``_``; when anything was replaced or the
    name was cut to ``MAX_LENGTH``, a short hash of the original keeps distinct points distinct.
    """
    if not override_dirname:
        return "default"
    safe = _UNSAFE.sub("_", override_dirname).strip("._") or "overrides"
    if safe == override_dirname and len(safe) <= MAX_LENGTH:
        return safe
    digest = hashlib.sha1(override_dirname.encode()).hexdigest()[:8]
    return f"{safe[:MAX_LENGTH]}-{digest}"


def register_resolvers() -> None:
    """Make ``${era_dirname:...}`` available to the Hydra config (idempotent)."""
    if not OmegaConf.has_resolver(RESOLVER):
        OmegaConf.register_new_resolver(RESOLVER, job_dirname)
