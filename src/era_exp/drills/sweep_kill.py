"""A sweep killed with SIGKILL midway through the real ``era-run -m``, then launched again."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from era_exp.drills.common import Drill, Timer, temp_files
from era_exp.pipeline.results import DONE_FILE, RESULTS_FILE

GRID = ("method=zero_shot,label_only", "train_ratio=0.1,0.2")
POINTS = 4  # 2 methods × 2 ratios; zero_shot ignores the ratio, so 3 computations


def _launch(command: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "ERA_QUIET": "1", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    handle = open(log, "w")  # noqa: SIM115 - the child writes to it until it ends
    return subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _done(sweep_dir: Path) -> dict[Path, int]:
    return {path.parent: path.stat().st_mtime_ns for path in sweep_dir.rglob(DONE_FILE)}


def sweep_drill(work: Path, overrides: list[str], cache: Path, rng: random.Random) -> Drill:
    """Kill the sweep at a random moment after its first point finished; the relaunch must complete it."""
    timer = Timer()
    work.mkdir(parents=True, exist_ok=True)
    sweep_dir = work / "sweep"
    args = ["-m", *overrides, *GRID, f"paths.cache_dir={cache}", f"hydra.sweep.dir={sweep_dir}"]
    command = [sys.executable, "-m", "era_exp.cli.run", *args]
    drill = Drill(name="a sweep killed and resumed", command="era-run " + " ".join(args))
    first = _launch(command, work / "sweep-first.log")
    while not _done(sweep_dir) and first.poll() is None:
        time.sleep(0.2)
    time.sleep(rng.uniform(0.0, 0.5))  # points take seconds: kill before the rest finish
    killed = first.poll() is None
    if killed:
        os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    before = _done(sweep_dir)
    resume = _launch(command, work / "sweep-resume.log")
    resume.wait()
    log = (work / "sweep-resume.log").read_text()
    after = _done(sweep_dir)
    computed = log.count(": computing run ")
    reused = log.count(" reused from ")
    skipped = log.count(", skipped")
    untouched = sum(after.get(folder) == stamp for folder, stamp in before.items())
    results = {folder: json.loads((folder / RESULTS_FILE).read_text()) for folder in after}
    by_key: dict[str, set[str]] = {}
    for folder_results in results.values():
        by_key.setdefault(folder_results["run_key"], set()).add(json.dumps(folder_results["overall"]))
    drill.figures = {
        "points": POINTS,
        "finished before the kill": len(before),
        "killed": killed,
        "resume computed": computed,
        "resume reused a twin": reused,
        "resume skipped as finished": skipped,
        "drill seconds": timer.seconds,
    }
    drill.check("the sweep was killed midway", killed and len(before) < POINTS, f"{len(before)} points done")
    drill.check("the relaunch exits 0", resume.returncode == 0, f"exit {resume.returncode}")
    drill.check("every point is finished after it", len(after) == POINTS, f"{len(after)} of {POINTS}")
    drill.check(
        "points finished before the kill are skipped, not redone",
        untouched == len(before) and skipped == len(before),
        f"{untouched} of {len(before)} untouched",
    )
    drill.check(
        "each run key is computed once over both launches; twins share one result",
        computed + len({r["run_key"] for f, r in results.items() if f in before and "reused_from" not in r})
        == 3
        and all(len(values) == 1 for values in by_key.values()),
        f"{computed} computed by the relaunch, {reused} reused, {len(by_key)} keys",
    )
    drill.check("no temporary file is left", not temp_files(sweep_dir), f"{len(temp_files(sweep_dir))} left")
    drill.seconds = timer.seconds
    return drill
