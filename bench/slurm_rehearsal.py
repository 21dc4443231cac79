"""``make slurm-rehearsal``: both cluster routes on a real SLURM, checked against one local process.

Run on a login node (or any host where ``sbatch`` reaches a scheduler); the working tree, the data
root and the scratch folder must be on a file system the compute nodes share. From empty caches:

1. **array**: ``era-encode hydra/launcher=slurm encode.array_jobs=N`` (submitit, one job per shard);
2. **ddp**: ``sbatch --wait --ntasks-per-node=R --wrap "srun era-encode ... encode.devices=R"``
   (Lightning's DDP, ranks started by srun, SLURM's environment read by Lightning);
3. **local**: plain ``era-encode`` in this process's host, one process;
4. **sweep**: ``era-run -m hydra/launcher=slurm`` over a small grid from the array's cache, and the
   same grid run locally from the local cache.

Checks: every route encoded each distinct text once in total, the three caches hold bit-identical
vectors, and every grid point's results (overall and per task) are equal on SLURM and locally.
Records the scheduler's version, the jobs' accounting states (``sacct``) and each step's wall time
in ``bench/results/slurm.json``, which ``bench/run_all.py`` renders into docs/benchmarks.md.
Exits non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(command: list[str], env: dict[str, str], log: Path) -> tuple[float, str]:
    """Run ``command`` (failing loudly, its output kept in ``log``); wall seconds and stdout."""
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True)
    log.write_text(f"$ {' '.join(command)}\n{done.stdout}\n--- stderr ---\n{done.stderr}")
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command)}; output in {log}")
    return round(time.perf_counter() - start, 2), done.stdout


def summary_of(stdout: str) -> dict:
    """The JSON summary ``era-encode`` prints last."""
    return json.loads(stdout[stdout.index("{") :])


def job_ids(text: str) -> list[str]:
    """SLURM job ids named in submitit's log lines or sbatch's reply."""
    return sorted(set(re.findall(r"(?:Submitted batch job |\.submitit/)(\d+)", text)))


def accounting(jobs: list[str]) -> list[dict]:
    """``sacct``'s record of each job and its steps: id, name, state, elapsed, nodes, tasks."""
    if not jobs:
        return []
    fields = "JobID,JobName,State,Elapsed,NodeList,NTasks"
    out = subprocess.run(
        ["sacct", "-j", ",".join(jobs), "-o", fields, "--parsable2", "--noheader"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    names = fields.lower().split(",")
    return [dict(zip(names, line.split("|"), strict=True)) for line in out.splitlines() if line]


def sinfo(*options: str) -> str:
    """What ``sinfo`` says with ``options`` (the scheduler's version, its nodes)."""
    return subprocess.run(["sinfo", *options], capture_output=True, text=True).stdout.strip()


def cache_vectors(root: Path) -> dict[str, dict[bytes, np.ndarray]]:
    """Every vector of a cache folder by embedder identity and text key (its shards, read as stored)."""
    found: dict[str, dict[bytes, np.ndarray]] = {}
    for record in sorted(root.glob("*/shard-*.json")):
        meta = json.loads(record.read_text())
        keys = np.load(record.parent / meta["keys"]["file"])
        vectors = np.load(record.parent / meta["vectors"]["file"])
        mine = found.setdefault(record.parent.name, {})
        mine.update((key.tobytes(), row) for key, row in zip(keys, vectors, strict=True))
    return found


def same_vectors(a: dict, b: dict) -> bool:
    """Both caches hold the same identities, keys and vectors, bit for bit."""
    return a.keys() == b.keys() and all(
        a[i].keys() == b[i].keys() and all(np.array_equal(a[i][k], b[i][k]) for k in a[i]) for i in a
    )


def point_scores(sweep: Path) -> dict[str, dict]:
    """Each grid point's overall and per-task scores, by its folder name."""
    return {
        path.parent.name: {"overall": r["overall"], "per_task": r["per_task"]}
        for path in sorted(sweep.glob("*/results.json"))
        for r in [json.loads(path.read_text())]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="../shared/data/mair-lite")
    parser.add_argument("--tasks", default="SpotifyAPI,TMDB")
    parser.add_argument("--pair", default="minilm_to_minilm")
    parser.add_argument("--partition", help="sbatch --partition (the cluster's default if unset)")
    parser.add_argument(
        "--gpus", type=int, default=0, help="GPUs per array or sweep job, one per DDP rank (0: CPU, gloo)"
    )
    parser.add_argument("--array-jobs", type=int, default=2)
    parser.add_argument("--ranks", type=int, default=2, help="srun tasks (one rank each) of the DDP route")
    parser.add_argument("--workdir", default="outputs/slurm-rehearsal", help="a folder every node sees")
    parser.add_argument("--out", default="bench/results/slurm.json")
    args = parser.parse_args()

    work = (REPO / args.workdir).resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ERA_QUIET": "1"}
    data = [f"pair={args.pair}", f"data.root={Path(args.data_root).resolve()}", f"data.tasks=[{args.tasks}]"]
    grid = [*data, "method=era", "train_ratio=0.2"]
    accelerator = "gpu" if args.gpus else "cpu"
    jobs = [
        "hydra/launcher=slurm",
        f"hydra.launcher.gpus_per_node={args.gpus or 'null'}",
        "hydra.launcher.cpus_per_task=1",
        "hydra.launcher.mem_gb=4",
        "hydra.launcher.timeout_min=30",
        *([f"hydra.launcher.partition={args.partition}"] if args.partition else []),
    ]
    sbatch = ["sbatch", "--wait", "--nodes=1", f"--ntasks-per-node={args.ranks}", "--cpus-per-task=1"]
    sbatch += [f"--partition={args.partition}"] if args.partition else []
    sbatch += [f"--gpus-per-node={args.ranks}"] if args.gpus else []
    cache = {name: work / f"cache-{name}" for name in ("array", "ddp", "local")}
    encode = [str(BIN / "era-encode"), *grid]
    ddp = [*encode, f"paths.cache_dir={cache['ddp']}", f"encode.accelerator={accelerator}"]
    ddp += [f"encode.devices={args.ranks}", "encode.nodes=1"]

    steps: dict[str, dict] = {}
    seconds, out = run(
        [
            *encode,
            f"paths.cache_dir={cache['array']}",
            *jobs,
            f"encode.array_jobs={args.array_jobs}",
            f"hydra.sweep.dir={work / 'encode-array'}",
        ],
        env,
        work / "array.log",
    )
    logged = (work / "array.log").read_text() + "\n".join(
        str(p) for p in (work / "encode-array").glob(".submitit/*")
    )
    steps["array"] = {"seconds": seconds, "summary": summary_of(out), "jobs": job_ids(logged)}
    seconds, _ = run(
        [
            *sbatch,
            "-o",
            str(work / "ddp-%j.out"),
            "-e",
            str(work / "ddp-%j.err"),
            "--wrap",
            "srun " + " ".join(ddp),
        ],
        env,
        work / "ddp.log",
    )
    ddp_out = "".join(p.read_text() for p in work.glob("ddp-*.out"))
    ddp_jobs = job_ids((work / "ddp.log").read_text())
    steps["ddp"] = {"seconds": seconds, "summary": summary_of(ddp_out), "jobs": ddp_jobs}
    seconds, out = run([*encode, f"paths.cache_dir={cache['local']}"], env, work / "local.log")
    steps["local"] = {"seconds": seconds, "summary": summary_of(out), "jobs": []}

    sweep = [str(BIN / "era-run"), "-m", *data, "method=era,zero_shot", "train_ratio=0.05,0.2"]
    seconds, out = run(
        [*sweep, f"paths.cache_dir={cache['array']}", *jobs, f"hydra.sweep.dir={work / 'sweep-slurm'}"],
        env,
        work / "sweep-slurm.log",
    )
    logged = (work / "sweep-slurm.log").read_text() + "\n".join(
        str(p) for p in (work / "sweep-slurm").glob(".submitit/*")
    )
    steps["sweep_slurm"] = {"seconds": seconds, "jobs": job_ids(logged)}
    seconds, _ = run(
        [*sweep, f"paths.cache_dir={cache['local']}", f"hydra.sweep.dir={work / 'sweep-local'}"],
        env,
        work / "sweep-local.log",
    )
    steps["sweep_local"] = {"seconds": seconds, "jobs": []}
    for step in steps.values():
        step["accounting"] = accounting(step["jobs"])

    vectors = {name: cache_vectors(folder) for name, folder in cache.items()}
    needed = steps["local"]["summary"]["needed"]
    on_slurm, local = point_scores(work / "sweep-slurm"), point_scores(work / "sweep-local")
    checks = {
        "each text encoded once, array": steps["array"]["summary"]["encoded"] == needed,
        "each text encoded once, ddp": steps["ddp"]["summary"]["encoded"] == needed,
        "every DDP rank encoded": all(r["encoded"] > 0 for r in steps["ddp"]["summary"]["processes"]),
        "array vectors = local vectors": same_vectors(vectors["array"], vectors["local"]),
        "ddp vectors = local vectors": same_vectors(vectors["ddp"], vectors["local"]),
        "sweep on SLURM = sweep locally": bool(local) and on_slurm == local,
        "every job COMPLETED": all(
            row["state"] == "COMPLETED" for step in steps.values() for row in step["accounting"]
        ),
    }

    result = {
        "scheduler": sinfo("--version"),
        "nodes": sinfo("-h", "-o", "%N %c %m"),
        "tasks": args.tasks.split(","),
        "pair": args.pair,
        "texts": needed,
        "array_jobs": args.array_jobs,
        "ranks": args.ranks,
        "gpus": args.gpus,
        "grid_points": len(local),
        "steps": steps,
        "checks": checks,
        "when": time.strftime("%Y-%m-%d"),
    }
    out_path = REPO / args.out
    tmp = out_path.with_suffix(".tmp")
    text = json.dumps(result, indent=2).replace(f"{REPO}/", "")  # folders relative to the checkout
    tmp.write_text(text + "\n")
    tmp.replace(out_path)
    for name, step in steps.items():
        print(f"{name:12s} {step['seconds']:7.2f} s  jobs {','.join(step['jobs']) or '-'}")
    for name, ok in checks.items():
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
    print(f"wrote {out_path}")
    if not all(checks.values()):
        raise SystemExit("a check failed")


if __name__ == "__main__":
    main()
