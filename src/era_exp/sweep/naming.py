"""Folder names of sweep jobs: the point's overrides, sorted, as one safe path component.

A sweep's job folder must be unique per grid point and the same on every rerun, so that a rerun
into the same ``hydra.sweep.dir`` finds the points it already finished. The overrides are sorted
(as Hydra's ``override_dirname``), so the name does not depend on their order on the command line.
The embedder pair is named as run: ``pair=`` and per-side choices (``embedder@query_embedder=``,
``embedder@doc_embedder=``) become one ``pair=<query>_to_<doc>`` item.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

from omegaconf import OmegaConf

RESOLVER = "era_point_dirname"
# Override groups that choose embedders; the folder names the pair they compose instead.
PAIR_GROUPS = ("pair", "embedder")
MAX_LENGTH = 200
# W&B's limit on a group name.
MAX_GROUP_LENGTH = 128
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


class FolderCollisionError(ValueError):
    """Two points of one grid would write into the same job folder."""


def _key_or_group(line: str) -> str:
    return line.split("=", 1)[0].lstrip("+~").split("@", 1)[0]


def check_distinct_folders(points: Sequence[Sequence[str]], exclude_keys: Sequence[str]) -> None:
    """Fail when grid points differ only in keys their folder names leave out (``exclude_keys``).

    Such points would share one job folder: the second would overwrite the first's results
    (``data.root=A,B``) or skip as already done (``logger=csv,wandb``). Sweep them as separate
    multiruns, each with its own ``hydra.sweep.dir``.
    """
    seen: dict[tuple[str, ...], list[str]] = {}
    for point in points:
        named = tuple(sorted(line for line in point if _key_or_group(line) not in exclude_keys))
        first = seen.setdefault(named, list(point))
        if sorted(first) != sorted(point):
            differing = sorted(set(point).symmetric_difference(first))
            raise FolderCollisionError(
                f"grid points {sorted(first)} and {sorted(point)} differ only in {differing}, which "
                "job folder names leave out (hydra.job.config.override_dirname.exclude_keys), so they "
                "would share one folder: sweep each value as its own multirun with its own hydra.sweep.dir"
            )


def point_dirname(
    task_overrides: Sequence[str], exclude_keys: Sequence[str], query_name: str, doc_name: str
) -> str:
    """The folder of a grid point from its overrides (``hydra.overrides.task``).

    Overrides of ``exclude_keys`` are left out, as Hydra's ``override_dirname`` does; embedder
    choices are replaced by the pair actually run, so a per-side override is never hidden behind
    the ``pair=`` it overrode.
    """
    lines, chooses_pair = [], False
    for line in task_overrides:
        key_or_group = _key_or_group(line)
        if key_or_group in PAIR_GROUPS:
            chooses_pair = True
        elif key_or_group not in exclude_keys:
            lines.append(line)
    if chooses_pair:
        lines.append(f"pair={query_name}_to_{doc_name}")
    return job_dirname(",".join(sorted(lines)))


def sweep_group(sweep_dir: str | Path) -> str:
    """The W&B group of a sweep: its folder's absolute path, the same for every job of the sweep.

    The whole path, not its last part: Hydra's default ``multirun/<date>/<time>`` would otherwise
    merge sweeps launched at the same time of day, and ``studies/a/mpnet`` with ``studies/b/mpnet``,
    or two projects' sweeps logged to one W&B project. A path longer than W&B allows keeps its end
    behind a short hash of the whole.
    """
    name = Path(sweep_dir).resolve().as_posix()
    if len(name) <= MAX_GROUP_LENGTH:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{digest}-{name[-(MAX_GROUP_LENGTH - len(digest) - 1) :]}"


def register_resolvers() -> None:
    """Make ``${era_point_dirname:...}`` available to the Hydra config (idempotent)."""
    if not OmegaConf.has_resolver(RESOLVER):
        OmegaConf.register_new_resolver(RESOLVER, point_dirname)
