"""Concurrent processes: 4 runs sharing one cold cache, and 2 runs into one output folder."""

from __future__ import annotations

from pathlib import Path

from era_exp.drills.common import Drill, Timer, audit_cache, comparable, config, differences, run_target
from era_exp.drills.runner import PHASE_STARTED, fork


def cold_cache_drill(work: Path, overrides: list[str], processes: int = 4) -> Drill:
    """``processes`` runs started at once on one empty cache: each text encoded once in total."""
    timer = Timer()
    work.mkdir(parents=True, exist_ok=True)
    cache = work / "cache"
    drill = Drill(
        name=f"{processes} concurrent processes on a cold cache",
        command=f"{processes} × era-run "
        + " ".join(overrides)
        + f" paths.cache_dir={cache} (one folder each)",
    )
    cfg = config([*overrides, f"paths.cache_dir={cache}"])
    children = [fork(run_target(cfg, work / f"run-{i}")) for i in range(processes)]
    codes = [child.join() for child in children]
    drill.check("every process finishes", all(code == 0 for code in codes), f"exit codes {codes}")
    if not all(code == 0 for code in codes):
        drill.notes += [child.error for child in children if child.error]
        return drill
    encoded = [child.result["cache"]["encoded"] for child in children]
    audit = audit_cache(cache)
    distinct = len(audit.keys)
    first = comparable(work / "run-0")
    diffs = [differences(first, comparable(work / f"run-{i}")) for i in range(1, processes)]
    drill.figures = {
        "texts encoded per process": encoded,
        "texts encoded in total": sum(encoded),
        "distinct texts": distinct,
        "shards committed": audit.shards,
        "drill seconds": timer.seconds,
    }
    drill.check(
        "texts encoded in total = distinct texts (each encoded once)",
        sum(encoded) == distinct and audit.duplicate_rows == 0,
        f"{sum(encoded)} encoded, {distinct} distinct, {audit.duplicate_rows} stored twice",
    )
    drill.check("every committed shard matches its record", not audit.bad, f"{len(audit.bad)} bad")
    drill.check(
        "all processes report identical results",
        not any(diffs),
        "identical" if not any(diffs) else f"differences: {diffs}",
    )
    drill.seconds = timer.seconds
    return drill


def one_folder_drill(work: Path, overrides: list[str], cache: Path) -> Drill:
    """2 runs of one config started at once into one folder: one computes, the other waits and reuses."""
    timer = Timer()
    work.mkdir(parents=True, exist_ok=True)
    out = work / "shared-run"
    drill = Drill(
        name="2 concurrent processes on one output folder",
        command="2 × era-run " + " ".join(overrides) + f" hydra.run.dir={out.name} (the same folder)",
    )
    cfg = config([*overrides, f"paths.cache_dir={cache}"])
    children = [fork(run_target(cfg, out)) for _ in range(2)]
    codes = [child.join() for child in children]
    computed = sum(child.has(PHASE_STARTED.format("load_data")) for child in children)
    waited = sum(child.has("waiting for another process writing") for child in children)
    reused = sum(child.has("completed by another process meanwhile") for child in children)
    drill.figures = {
        "processes": 2,
        "computed": computed,
        "waited for the lock": waited,
        "returned the stored results": reused,
        "drill seconds": timer.seconds,
    }
    drill.check("both finish", codes == [0, 0], f"exit codes {codes}")
    drill.check(
        "exactly one computes; the other waits, then returns the stored results",
        computed == 1 and reused == 1,
        f"{computed} computed, {waited} waited, {reused} returned the stored results",
    )
    if codes == [0, 0]:
        keys = {child.result["run_key"] for child in children}
        drill.check("both return the same run", len(keys) == 1, f"run keys {sorted(keys)}")
        comparable(out)  # the folder holds one complete, readable run
    drill.seconds = timer.seconds
    return drill
