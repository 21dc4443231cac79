"""Fault injection for reliability tests and drills: ``ERA_FAULT=<point>[:<n>]`` SIGKILLs the process.

The process kills itself (``kill -9``, no cleanup, no ``finally``) the ``n``-th time (default 1)
it reaches the named point. Points:

- ``encode.commit``: an embedding-cache shard was just committed (record written).
- ``stage1.epoch`` / ``stage2.epoch``: a Stage-1 / Stage-2 training epoch just ended.
- ``results.write``: results.json is fully written to its temporary file, not yet renamed.
- ``results.done``: results.json is in place, the DONE marker not yet written.
- ``write``: any atomic file write, its temporary file full, just before the rename.

Unset (the normal case) a point costs one environment lookup.
"""

from __future__ import annotations

import os
import signal
import sys
from collections import Counter
from typing import Any

ENV = "ERA_FAULT"
POINTS = ("encode.commit", "stage1.epoch", "stage2.epoch", "results.write", "results.done", "write")

_hits: Counter[str] = Counter()


def parse(spec: str) -> tuple[str, int]:
    """``(point, n)`` of an ``ERA_FAULT`` value; ValueError naming the variable when malformed."""
    point, _, count = spec.strip().partition(":")
    if point not in POINTS:
        raise ValueError(f"{ENV}={spec!r}: unknown fault point {point!r}; known: {', '.join(POINTS)}")
    if not count:
        return point, 1
    if not count.isdigit() or int(count) < 1:
        raise ValueError(f"{ENV}={spec!r}: the count after ':' must be a positive integer")
    return point, int(count)


def armed(point: str) -> bool:
    """Whether ``ERA_FAULT`` names ``point`` (so callers add hooks only when a drill asks for them)."""
    spec = os.environ.get(ENV)
    return bool(spec) and parse(spec)[0] == point


def hit(point: str) -> None:
    """Count one pass through ``point``; SIGKILL this process if it is the armed point's n-th pass."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    target, count = parse(spec)
    if target != point:
        return
    _hits[point] += 1
    if _hits[point] == count:
        print(f"{ENV}: killing process {os.getpid()} at {point} pass {count}", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)


def epoch_callbacks(point: str) -> list[Any]:
    """A callback hitting ``point`` at each training epoch's end (either engine), when that point is armed."""
    if not armed(point):
        return []
    from pytorch_lightning.callbacks import Callback

    class _EpochFault(Callback):
        observes_epochs = True  # changes nothing it sees: the in-memory loop calls it too

        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            hit(point)

    return [_EpochFault()]


def with_epoch_fault(trainer_kwargs: dict[str, Any] | None, point: str) -> dict[str, Any] | None:
    """``trainer_kwargs`` plus the epoch callback of ``point`` when armed (unchanged otherwise)."""
    extra = epoch_callbacks(point)
    if not extra:
        return trainer_kwargs
    kwargs = dict(trainer_kwargs or {})
    kwargs["callbacks"] = [*kwargs.get("callbacks", []), *extra]
    return kwargs
