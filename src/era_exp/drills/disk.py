"""A full disk under the cache and under the output folder (a small tmpfs; needs root)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from era_exp.drills.common import Drill, Timer, audit_cache, comparable, config, differences, run_target
from era_exp.drills.runner import run_to_end
from era_exp.pipeline.results import DONE_FILE


def _mount(point: Path, size: str) -> str | None:
    """Mount (or remount at a new size) a tmpfs on ``point``; the error text if that failed."""
    point.mkdir(parents=True, exist_ok=True)
    remount = os.path.ismount(point)
    options = f"remount,size={size}" if remount else f"size={size}"
    command = ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)]
    done = subprocess.run(command, capture_output=True, text=True)
    return None if done.returncode == 0 else (done.stderr.strip() or f"mount exited {done.returncode}")


def _unmount(point: Path) -> None:
    if os.path.ismount(point):
        subprocess.run(["umount", "-l", str(point)], check=False, capture_output=True)


def disk_drill(work: Path, overrides: list[str], warm_cache: Path, reference_out: Path) -> Drill:
    """Fill a tiny tmpfs holding the cache, then one holding the output folder; resume after freeing space."""
    timer = Timer()
    work.mkdir(parents=True, exist_ok=True)
    drill = Drill(
        name="a full disk under the cache and under the output folder",
        command="era-run "
        + " ".join(overrides)
        + " with paths.cache_dir, then hydra.run.dir, on a 64 KiB tmpfs",
    )
    if os.geteuid() != 0 or shutil.which("mount") is None:
        drill.skipped = "not running as root: no tmpfs can be mounted, so the full-disk drill is skipped"
        return drill
    expected = comparable(reference_out)
    cases = (
        ("cache", lambda mnt: mnt / "cache", lambda mnt: work / "run-cache-full", "embedding cache shard"),
        ("output folder", lambda mnt: warm_cache, lambda mnt: mnt / "run", "TREC"),
    )
    for label, cache_of, out_of, what in cases:
        mnt = work / f"tmpfs-{label.replace(' ', '-')}"
        error = _mount(mnt, "64k")
        if error:
            drill.skipped = f"cannot mount a tmpfs here ({error}): the full-disk drill is skipped"
            return drill
        try:
            cache, out = cache_of(mnt), out_of(mnt)
            full_folder = cache if label == "cache" else out
            cfg = config([*overrides, f"paths.cache_dir={cache}"])
            failed = run_to_end(run_target(cfg, out))
            message = failed.error or ""
            drill.table.append({"full": label, "error": message[:400]})
            drill.check(
                f"with the {label} full the run fails with an error naming it and what was being written",
                failed.returncode != 0
                and "No space left on device" in message
                and str(full_folder) in message
                and what in message,
                message[:300] or f"exit {failed.returncode}",
            )
            drill.check(
                f"with the {label} full nothing looks finished and no committed shard is corrupt",
                not (out / DONE_FILE).exists() and not audit_cache(cache).bad,
                f"DONE {'present' if (out / DONE_FILE).exists() else 'absent'}, "
                f"{len(audit_cache(cache).bad)} bad shards",
            )
            _mount(mnt, "64m")
            resumed = run_to_end(run_target(cfg, out))
            same = resumed.returncode == 0 and not differences(expected, comparable(out))
            drill.check(
                f"once space is freed the run resumes with identical results ({label})",
                same,
                "identical" if same else (resumed.error or "results differ"),
            )
        finally:
            _unmount(mnt)
    drill.figures = {"full-disk cases": len(cases), "drill seconds": timer.seconds}
    drill.seconds = timer.seconds
    return drill
