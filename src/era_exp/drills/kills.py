"""kill -9 at random moments during encoding, Stage 1, Stage 2 and the results write, then resume.

One output folder and one cache take every kill in turn; after each kill the folder must not look
finished and every committed cache shard must match its record. Each Stage-1 attempt starts on an
empty Stage-1 store, so it trains (and may be killed while storing its outcome); later attempts
and the resume reuse what the last one stored. The resume must then finish with results, TREC
files and adapter bit-identical to an uninterrupted run on a cold cache.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

from era_exp.drills.common import (
    Drill,
    Timer,
    audit_cache,
    comparable,
    config,
    differences,
    run_target,
    temp_files,
)
from era_exp.drills.runner import PHASE_STARTED, fork, run_to_end
from era_exp.pipeline.results import DONE_FILE, completed_results

PHASES = ("encode", "stage1", "stage2", "write")
# Fault points of the results write, besides the n-th atomic write of the attempt (see era_exp.faults).
WRITE_POINTS = ("results.write", "results.done")


def _write_faults(reference_out: Path) -> list[str]:
    """``write:n`` for every atomic write a warm run makes (adapter, TREC files, results, DONE)."""
    written = [p for p in reference_out.rglob("*") if p.is_file() and not p.name.startswith(".")]
    return [f"write:{n}" for n in range(1, len(written) + 1)] + list(WRITE_POINTS)


def kill_drill(work: Path, overrides: list[str], task_label: str, kills: int, rng: random.Random) -> Drill:
    """The kill drill on one task; ``kills`` landed kills per phase."""
    timer = Timer()
    work.mkdir(parents=True, exist_ok=True)
    drill = Drill(
        name=f"kill -9 during encoding, Stage 1, Stage 2 and the results write ({task_label})",
        command="era-run " + " ".join(overrides),
    )
    ref_out, ref_cache = work / "reference", work / "reference-cache"
    reference_cfg = config([*overrides, f"paths.cache_dir={ref_cache}"])
    reference = run_to_end(run_target(reference_cfg, ref_out))
    if reference.returncode != 0:
        drill.check("the uninterrupted reference run finishes", False, reference.error or "")
        return drill
    durations = {name: entry["seconds"] for name, entry in reference.result["profile"].items()}
    distinct = reference.result["cache"]["encoded"]
    expected = comparable(ref_out)

    out, cache = work / "killed", work / "cache"
    cfg = config([*overrides, f"paths.cache_dir={cache}"])
    key = reference.result["run_key"]
    faults = _write_faults(ref_out)
    landed = dict.fromkeys(PHASES, 0)
    attempts = dict.fromkeys(PHASES, 0)
    finished_early = dict.fromkeys(PHASES, 0)
    looked_finished = 0
    bad_shards: list[str] = []
    cold_restarts = 0
    stage1_clears = 0
    stale_after_write_kills = 0
    attempt_seconds: list[float] = []
    for phase in PHASES:
        while landed[phase] < kills and attempts[phase] < 4 * kills:
            attempts[phase] += 1
            if phase == "encode" and audit_cache(cache).rows >= distinct:
                shutil.rmtree(cache)  # nothing left to encode: start the encode kills on a cold cache
                cold_restarts += 1
            if phase == "stage1":
                # An attempt that outlived Stage 1 stored its outcome: empty the store so this one trains.
                stage1_clears += Path(cfg.paths.stage1_dir).is_dir()
                shutil.rmtree(cfg.paths.stage1_dir, ignore_errors=True)
            if phase == "write":
                child = fork(run_target(cfg, out), {"ERA_FAULT": rng.choice(faults)})
                child.join()
                in_phase = child.returncode == -9
                stale_after_write_kills += in_phase and bool(temp_files(out))
            else:
                child = fork(run_target(cfg, out))
                if child.wait_for(PHASE_STARTED.format(phase), timeout=1800):
                    child.join(timeout=rng.uniform(0.0, max(durations.get(phase, 1.0), 0.2)))
                if child.returncode is None:
                    child.kill()
                in_phase = child.returncode == -9 and child.last_phase() == phase
            attempt_seconds.append(child.seconds)
            if child.returncode == 0:
                finished_early[phase] += 1
                (out / DONE_FILE).unlink(missing_ok=True)  # so the next attempt computes again
                continue
            landed[phase] += in_phase
            looked_finished += completed_results(out, key) is not None
            bad_shards += audit_cache(cache).bad
    resume = run_to_end(run_target(cfg, out))
    audit = audit_cache(cache)
    total = sum(landed.values())
    drill.figures = {
        "kills landed per phase": landed,
        "attempts per phase": attempts,
        "attempts that finished before the kill (redone)": finished_early,
        "distinct texts of the run": distinct,
        "texts in committed shards after the resume": audit.rows,
        "texts the resume still had to encode": (resume.result or {}).get("cache", {}).get("encoded"),
        "encode kills restarted on a cold cache (cache already complete)": cold_restarts,
        "Stage-1 kills started on an emptied Stage-1 store (an outcome was stored)": stage1_clears,
        "reference phase seconds": durations,
        "mean seconds per killed attempt": round(sum(attempt_seconds) / max(len(attempt_seconds), 1), 1),
        "drill seconds": timer.seconds,
    }
    drill.check(
        f"≥ {kills} kills landed in each phase",
        all(n >= kills for n in landed.values()),
        ", ".join(f"{p}: {n}" for p, n in landed.items()) + f" ({total} kills survived)",
    )
    drill.check(
        "no killed attempt left a finished-looking folder (DONE naming the run)",
        looked_finished == 0,
        f"{looked_finished} of {total}",
    )
    drill.check(
        "every committed shard matches its record after every kill",
        not bad_shards,
        f"{len(bad_shards)} bad shard records" + (f": {bad_shards[0]}" if bad_shards else ""),
    )
    drill.check("the resume finishes", resume.returncode == 0, resume.error or "exit 0")
    if resume.returncode == 0:
        diff = differences(expected, comparable(out))
        drill.check(
            "the resume's results, TREC files and adapter are bit-identical to the uninterrupted run",
            not diff,
            "identical" if not diff else "differ in " + ", ".join(diff),
        )
    drill.check(
        "each text is stored once (no text committed twice)",
        audit.duplicate_rows == 0 and audit.rows == distinct,
        f"{audit.rows} rows in {audit.shards} shards for {distinct} distinct texts",
    )
    drill.check(
        "temporary files of killed writers are gone after the resume",
        not temp_files(out),
        f"{stale_after_write_kills} write kills left one; {len(temp_files(out))} remain",
    )
    drill.seconds = timer.seconds
    return drill
