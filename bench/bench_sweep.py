"""Cost of a whole sweep: the built-in task over the full grid (2 pairs × 4 methods × 4 ratios).

Three passes share one fresh embedding cache:
cold   — ``era-encode`` on an empty cache, then the multirun into a new sweep folder;
warm   — the same multirun into another new folder (every point computed or reused, nothing encoded),
         on an empty Stage-1 store of its own, so each pair's Stage 1 is trained once in the pass;
resume — the warm multirun again into its own folder (every point found complete and skipped).
Reports wall time per pass, the warm time per grid point, how many points were computed versus
reused from a twin with the same run key, and texts encoded versus distinct texts the grid needs
(equal when nothing is encoded twice). Writes JSON to --out and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
# Ratio slowest, as in `make sweep`, so most twins sharing a run key are not launched side by side
# (zero_shot's two pairs, one key, are).
GRID = [
    "train_ratio=0.05,0.1,0.2,0.4",
    "method=zero_shot,align_only,label_only,era",
    "pair=mpnet_to_minilm,minilm_to_minilm",
]


def timed(command: list[str], env: dict[str, str]) -> float:
    """Run ``command`` to completion (failing loudly) and return its wall seconds."""
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return round(time.perf_counter() - start, 1)


def point_results(sweep_dir: Path) -> list[dict]:
    """results.json of every grid point folder of a sweep."""
    return [json.loads(path.read_text()) for path in sorted(sweep_dir.glob("*/results.json"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="bench/results/sweep.json")
    parser.add_argument("--jobs", type=int, default=2, help="parallel jobs (hydra/launcher=parallel)")
    parser.add_argument("settings", nargs="*", help="extra overrides for every point, e.g. stage1.epochs=20")
    args = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ERA_QUIET": "1"}
    with tempfile.TemporaryDirectory(prefix="era-bench-sweep-") as tmp:
        root = Path(tmp)
        overrides = ["data=builtin", f"paths.cache_dir={root / 'cache'}", *GRID, *args.settings]
        summary = root / "encode.json"
        encode_s = timed([str(BIN / "era-encode"), *overrides, "--summary", str(summary)], env)
        encode = json.loads(summary.read_text())

        # As `make sweep`: the cores shared out between the jobs.
        threads = str(max(1, (os.cpu_count() or 1) // args.jobs))
        job_env = {**env, "OMP_NUM_THREADS": threads}

        def multirun(name: str) -> float:
            sweep = [
                f"hydra.sweep.dir={root / name}",
                # Each pass starts on an empty Stage-1 store: a pair's Stage 1 is trained once per pass.
                f"paths.stage1_dir={root / f'stage1-{name}'}",
                "hydra/launcher=parallel",
                f"hydra.launcher.n_jobs={args.jobs}",
            ]
            return timed([str(BIN / "era-run"), "-m", *overrides, *sweep], job_env)

        cold_s = multirun("cold")
        warm_s = multirun("warm")
        resume_s = multirun("warm")
        cold, warm = point_results(root / "cold"), point_results(root / "warm")
    computed = [r for r in cold if "reused_from" not in r]
    row = {
        "grid": GRID,
        "settings": args.settings,
        "jobs": args.jobs,
        "points": len(warm),
        "points_computed": len(computed),
        "points_reused": len(cold) - len(computed),
        "cold_encode_seconds": encode_s,
        "cold_sweep_seconds": cold_s,
        "cold_total_seconds": round(encode_s + cold_s, 1),
        "warm_sweep_seconds": warm_s,
        "warm_seconds_per_point": round(warm_s / max(len(warm), 1), 2),
        "resume_seconds": resume_s,
        "texts_needed": encode["needed"],
        "texts_encoded": encode["encoded"] + sum(r["cache"]["encoded"] for r in computed),
        "texts_encoded_by_runs": sum(r["cache"]["encoded"] for r in computed),
        "cpu_count": os.cpu_count(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(row, indent=2) + "\n")
    print("| measure | value |\n|---|---:|")
    for key, value in row.items():
        if not isinstance(value, list):
            print(f"| {key} | {value} |")


if __name__ == "__main__":
    main()
