"""Warm grid points end to end, as a sweep pays them: one ``era-run`` process each, embeddings cached.

``python bench/bench_warm.py`` (or ``make bench-warm``) measures every case, writes
bench/results/warm_run.json and renders docs/benchmarks.md from it. Run it on idle cores: the
figures are wall and CPU seconds of this machine.

Each case (a method, an embedder pair and a set of mair-lite tasks) is measured in one or two
thread settings:

- *1 thread*: ``OMP_NUM_THREADS=1``. Its CPU seconds are the run's own work, which other jobs on
  the cores inflate far less than wall time; on idle cores its wall time is about its CPU time.
- *threads = cores*: every core of the machine for the run (``threads=<cores>``, no
  ``OMP_NUM_THREADS``), as the authors' scripts ran with torch's default threads on 2 cores. Its
  wall time is the like-for-like figure against theirs, on idle cores only.

Each measurement runs ``--repeats`` times, each a fresh process into a fresh output folder, and
reports the process's wall and CPU seconds, each phase from results.json with its peak resident
memory, and start-up (imports, config, writing results: wall minus the phases); the figures are
the fastest repeat. A sweep's worker process runs many points (the parallel launcher's joblib
workers are reused), so imports and first-call loads are paid once per worker: for the ERA cases
on 11 tasks, a point in a worker that already ran one is measured too, as a one-worker sweep of
the same point twice against a sweep of it once (``skip_completed=false``, so the second is
computed again), the difference of the fastest of each. A case whose embeddings are not all in
the cache is not run (it would encode, for hours with mpnet on CPU): it is recorded as not
measured, with the count of missing texts. The authors' figures for ERA on 11 tasks on 2 cores
are written beside them.

Every case computes its Stage 1 (``reuse_stage1=false``) except the *further point* of a pair:
the same ERA point measured after a run at train ratio 0.1 stored the pair's Stage 1 in a fresh
Stage-1 store of its own (``paths.stage1_dir``), as every later point of a train-ratio sweep or
trial of a Stage-2 search finds it. ``--cases`` measures some cases only (into another ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import run_all

BIN = Path(sys.executable).parent
REFERENCE_TASKS = (
    "AILA2019-Statutes,Competition-Math,HuggingfaceAPI,LegalQuAD,MBPP,PytorchAPI,SpotifyAPI,TMDB"
)
# The authors' 11 tasks are the 8 reference tasks and 3 they do not name. These 3 bring the totals
# closest to theirs (5,142 alignment documents, 1,689 test queries) among the other mair-lite tasks:
# 5,268 alignment documents and 1,938 test queries at ratio 0.2.
ELEVEN_TASKS = f"{REFERENCE_TASKS},HumanEval-X,NFCorpus,SciFact"
TASK_SETS = {"8 reference tasks": REFERENCE_TASKS, "11 tasks": ELEVEN_TASKS}
PAIRS = {"MiniLM→MiniLM": "minilm_to_minilm", "mpnet→MiniLM": "mpnet_to_minilm"}
ONE_THREAD, ALL_CORES = "1 thread", "threads = cores"
# Stage 1 of a case: trained by every measured run, or stored by an earlier point of the pair.
COMPUTED, STORED = "computed", "stored"
# The train ratio of the point that stores a further point's Stage 1.
FILL_RATIO = 0.1
# (method, pair, task set, thread settings, Stage 1): the authors' setting first.
CASES = (
    ("era", "mpnet→MiniLM", "11 tasks", (ONE_THREAD, ALL_CORES), COMPUTED),
    ("era", "mpnet→MiniLM", "11 tasks", (ONE_THREAD, ALL_CORES), STORED),
    ("era", "MiniLM→MiniLM", "11 tasks", (ONE_THREAD, ALL_CORES), COMPUTED),
    ("era", "mpnet→MiniLM", "8 reference tasks", (ONE_THREAD,), COMPUTED),
    ("zero_shot", "MiniLM→MiniLM", "11 tasks", (ONE_THREAD,), COMPUTED),
)


def case_name(case: tuple) -> str:
    """A case's name for ``--cases``: method, pair, task count, Stage 1 (era-mpnet_to_minilm-11-stored)."""
    method, pair, task_set, _, stage1 = case
    return f"{method}-{PAIRS[pair]}-{len(TASK_SETS[task_set].split(','))}-{stage1}"


# The authors' scripts, ERA at ratio 0.2 on 11 mair-lite tasks (5,142 alignment documents, 1,689
# test queries), 2 CPU cores, torch's default threads, warm embeddings: wall seconds per stage,
# imports not included.
AUTHORS = {
    "tasks": 11,
    "alignment_documents": 5142,
    "test_queries": 1689,
    "cores": 2,
    "stage1": [15.0, 15.0],
    "stage2": [10.0, 28.0],
    "evaluate": [3.0, 4.0],
    "source": "reference runs of the authors' ERA code (mpnet→MiniLM, paper settings)",
}


def overrides(method: str, pair: str, tasks: str, data_root: str) -> list[str]:
    """The era-run overrides of one case (the sweep grid's point ``method``, ``pair``, ratio 0.2)."""
    return [
        "data=mair_lite",
        f"data.root={data_root}",
        f"data.tasks=[{tasks}]",
        f"pair={PAIRS[pair]}",
        f"method={method}",
        "train_ratio=0.2",
    ]


def thread_setting(setting: str, base_env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """Extra overrides and the environment of a thread setting."""
    if setting == ONE_THREAD:
        return [], {**base_env, "OMP_NUM_THREADS": "1"}
    env = {key: value for key, value in base_env.items() if key != "OMP_NUM_THREADS"}
    return [f"threads={os.cpu_count()}"], env


def missing_texts(case_overrides: list[str]) -> dict[str, int]:
    """Texts of the case not in the embedding cache yet, per embedder identity (nothing is encoded)."""
    from era_exp.sweep.needs import plan_encoding

    return {
        identity: count
        for per_cache in plan_encoding(case_overrides).missing().values()
        for identity, count in per_cache.items()
    }


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of ``command``, run to completion."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def one_run(case_overrides: list[str], out_dir: Path, env: dict[str, str]) -> dict:
    """One era-run process; its wall and CPU seconds, phases and what it read from the cache."""
    wall, cpu = _timed([str(BIN / "era-run"), *case_overrides, f"hydra.run.dir={out_dir}"], env)
    results = json.loads((out_dir / "results.json").read_text())
    phases = {name: figures["seconds"] for name, figures in results["profile"].items()}
    stages = results["stages"]
    return {
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "threads": results.get("threads"),
        "phases": phases,
        "phase_peak_rss_mib": {name: figures["peak_rss_mib"] for name, figures in results["profile"].items()},
        "peak_rss_mib": results["peak_rss_mib"],
        "startup_seconds": round(wall - sum(phases.values()), 2),
        "texts_encoded": results["cache"]["encoded"],
        "texts_from_cache": results["cache"]["hits"],
        "ndcg@10": round(results["overall"]["ndcg@10"], 4),
        "stage2_epochs": stages["adaptation"]["epochs"] if "adaptation" in stages else None,
        "alignment_documents": stages["alignment"]["documents"] if "alignment" in stages else None,
        "stage1_reused": stages["alignment"]["reused"] if "alignment" in stages else None,
        "test_queries": sum(size["scored"] for size in results["split_sizes"].values()),
    }


def sweep_seconds(case_overrides: list[str], points: int, out_dir: Path, env: dict[str, str]) -> dict:
    """Wall and CPU seconds of a one-worker sweep computing the same point ``points`` times."""
    command = [
        str(BIN / "era-run"),
        "-m",
        *case_overrides,
        "skip_completed=false",
        "seed=" + ",".join(["42"] * points),
        "hydra/launcher=parallel",
        "hydra.launcher.n_jobs=1",
        f"hydra.sweep.dir={out_dir}",
    ]
    wall, cpu = _timed(command, env)
    return {"wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 2)}


def in_worker(case_overrides: list[str], repeats: int, env: dict[str, str], tmp: Path) -> dict:
    """A point's cost in a sweep worker that already ran one: sweeps of 2 points minus sweeps of 1."""
    sweeps = {
        points: [
            sweep_seconds(case_overrides, points, tmp / f"sweep-{points}-{i}", env) for i in range(repeats)
        ]
        for points in (1, 2)
    }
    fastest = {
        points: {key: min(run[key] for run in runs) for key in ("wall_seconds", "cpu_seconds")}
        for points, runs in sweeps.items()
    }
    return {
        "sweeps_of_1": sweeps[1],
        "sweeps_of_2": sweeps[2],
        "wall_seconds": round(fastest[2]["wall_seconds"] - fastest[1]["wall_seconds"], 2),
        "cpu_seconds": round(fastest[2]["cpu_seconds"] - fastest[1]["cpu_seconds"], 2),
    }


def fill_stage1(case_overrides: list[str], out_dir: Path, env: dict[str, str]) -> dict:
    """Run the pair's point at ``FILL_RATIO`` once, storing its Stage 1; what that run cost."""
    ratio = [o for o in case_overrides if not o.startswith("train_ratio=")] + [f"train_ratio={FILL_RATIO}"]
    filled = one_run(ratio, out_dir, env)
    if filled["stage1_reused"] is not False:
        raise RuntimeError(
            f"the fill run into {out_dir} found Stage 1 stored already: its store is not fresh"
        )
    return {
        "train_ratio": FILL_RATIO,
        **{key: filled[key] for key in ("wall_seconds", "cpu_seconds", "phases")},
    }


def measure(
    case: tuple[str, str, str, tuple[str, ...], str], args: argparse.Namespace, env: dict[str, str], tmp: str
) -> dict:
    """The case's measurements in each of its thread settings, or why it was not measured."""
    method, pair, task_set, settings, stage1 = case
    tasks = TASK_SETS[task_set]
    row: dict = {
        "method": method,
        "pair": pair,
        "task_set": task_set,
        "tasks": tasks.split(","),
        "stage1": stage1,
    }
    case_overrides = overrides(method, pair, tasks, args.data_root)
    missing = missing_texts(case_overrides)
    if any(missing.values()):
        counts = ", ".join(f"{count:,} of {identity}" for identity, count in missing.items() if count)
        return {
            **row,
            "missing_texts": missing,
            "not_measured": f"texts not in the embedding cache: {counts}",
        }
    row["measurements"] = []
    for setting in settings:
        extra, setting_env = thread_setting(setting, env)
        slug = "one-thread" if setting == ONE_THREAD else "all-cores"
        folder = Path(tmp, f"{case_name(case)}-{slug}")
        if stage1 == STORED:  # a Stage-1 store of this measurement's own, filled by an earlier point
            extra = [*extra, f"paths.stage1_dir={folder / 'stage1'}"]
            filled = fill_stage1([*case_overrides, *extra], folder / "fill", setting_env)
        else:
            extra = [*extra, "reuse_stage1=false"]
        load_before = os.getloadavg()
        runs = [
            one_run([*case_overrides, *extra], folder / f"run-{i}", setting_env) for i in range(args.repeats)
        ]
        warm = [r for r in runs if r["texts_encoded"] == 0]
        measurement: dict = {"threads": setting, "load_avg_start": load_before, "repeats": runs}
        if stage1 == STORED:
            measurement["stage1_filled_by"] = filled
        if not warm:
            measurement["not_measured"] = "every repeat encoded texts"
        elif any(r["stage1_reused"] != (stage1 == STORED) for r in runs if r["stage1_reused"] is not None):
            raise RuntimeError(f"{case_name(case)}: a repeat's Stage 1 was not {stage1} as the case requires")
        else:
            measurement["best"] = min(warm, key=lambda r: r["wall_seconds"])
            if method == "era" and task_set == "11 tasks":
                measurement["in_sweep_worker"] = in_worker(
                    [*case_overrides, *extra], args.repeats, setting_env, folder
                )
        measurement["load_avg_end"] = os.getloadavg()
        row["measurements"].append(measurement)
        shown = {"case": f"{method} {pair}, {task_set}, {setting}, Stage 1 {stage1}", **_shown(measurement)}
        print(json.dumps(shown), flush=True)
    return row


def _shown(measurement: dict) -> dict:
    best = measurement.get("best", {})
    worker = measurement.get("in_sweep_worker", {})
    return {
        "wall_s": best.get("wall_seconds"),
        "cpu_s": best.get("cpu_seconds"),
        "phases": best.get("phases"),
        "worker_wall_s": worker.get("wall_seconds"),
        "worker_cpu_s": worker.get("cpu_seconds"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="../shared/data/mair-lite")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(run_all.RESULTS / "warm_run.json"))
    parser.add_argument("--no-render", action="store_true", help="leave docs/benchmarks.md as it is")
    names = [case_name(case) for case in CASES]
    parser.add_argument(
        "--cases", nargs="+", choices=names, help="measure only these cases (into another --out)"
    )
    args = parser.parse_args()
    cases = [case for case in CASES if args.cases is None or case_name(case) in args.cases]
    if args.cases and Path(args.out).resolve() == (run_all.RESULTS / "warm_run.json").resolve():
        parser.error("--cases measures part of the page's cases: write them to another --out")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ERA_QUIET": "1"}
    load_before = os.getloadavg()
    if load_before[0] > 0.5:
        print(f"warning: load average {load_before[0]:.1f}: the cores are not idle", file=sys.stderr)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="era-bench-warm-") as tmp:
        rows = [measure(case, args, env, tmp) for case in cases]
    authors_low = sum(AUTHORS[k][0] for k in ("stage1", "stage2", "evaluate"))
    authors_high = sum(AUTHORS[k][1] for k in ("stage1", "stage2", "evaluate"))
    out = {
        "machine": {
            "cpus": os.cpu_count(),
            "load_avg_start": load_before,
            "load_avg": os.getloadavg(),
            "benchmark_seconds": round(time.perf_counter() - start),
        },
        "repeats": args.repeats,
        "task_sets": {name: tasks.split(",") for name, tasks in TASK_SETS.items()},
        "authors": {**AUTHORS, "total_without_imports": [authors_low, authors_high]},
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print("\n".join(run_all.warm_section(out)))
    if not args.no_render and not args.cases:
        run_all.PAGE.write_text(run_all.render(), encoding="utf-8")
        print(f"wrote {args.out} and {run_all.PAGE}")


if __name__ == "__main__":
    main()
