"""``python -m era_exp.drills`` (``make drills``): run every reliability drill, write docs/reliability.md."""

from __future__ import annotations

import argparse
import logging
import os
import random
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from era_exp.drills.report import as_json, render

# The drills' task settings: Stage 1 and Stage 2 short enough that dozens of attempts fit the budget,
# yet long enough (about a second each with the in-memory training loop) for random kills to land.
TINY_STAGES = (
    "stage1.epochs=400",
    "stage1.samples_per_task=200",
    "stage2.nominal_epochs=400",
    "stage2.patience=400",
)
BUILTIN = ("data=builtin", "data.max_queries=60")


def portable(text: str, folders: dict[Path, Path]) -> str:
    """``text`` with this machine's absolute folders written as given (the project's as ``.``)."""
    from era_exp.config import conf_dir

    folders = {**folders, conf_dir().parent: Path(".")}
    for absolute, shown in sorted(folders.items(), key=lambda item: -len(str(item[0]))):
        text = text.replace(str(absolute), str(shown))
    return text


def warm_up() -> None:
    """Import the pipeline and compile ranx's kernels once, so forked attempts start warm."""
    import torch

    torch.set_num_threads(1)
    from era_exp.evaluate.metrics import DEFAULT_METRICS, evaluate_units
    from era_exp.pipeline import run  # noqa: F401

    evaluate_units({"warm-up": ({"q": {"d1": 1}}, {"q": {"d1": 1.0, "d2": 0.5}})}, DEFAULT_METRICS)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m era_exp.drills", description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=Path("../shared/data/mair-lite"))
    parser.add_argument(
        "--task", default="TMDB", help="the mair-lite task of the kill, damage and disk drills"
    )
    parser.add_argument("--kills", type=int, default=10, help="kills landed per phase")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    parser.add_argument("--work", type=Path, default=Path("outputs/drills"), help="scratch folder (emptied)")
    parser.add_argument("--out", type=Path, default=Path("docs/reliability.md"))
    parser.add_argument("--only", nargs="*", default=None, help="run only these drills (by key)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    os.environ.setdefault("ERA_QUIET", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.pop("ERA_FAULT", None)
    started = time.monotonic()
    warm_up()

    from era_exp.drills.bad_inputs import bad_input_drill
    from era_exp.drills.common import config, run_target
    from era_exp.drills.concurrency import cold_cache_drill, one_folder_drill
    from era_exp.drills.damage import damage_drill
    from era_exp.drills.disk import disk_drill
    from era_exp.drills.kills import kill_drill
    from era_exp.drills.runner import run_to_end
    from era_exp.drills.sweep_kill import sweep_drill

    work = args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    rng = random.Random(args.seed)
    if (args.data_root / "tasks.json").is_file():
        task_label = f"mair-lite {args.task}, MiniLM"
        task = [f"data.root={args.data_root.resolve()}", f"data.tasks=[{args.task}]"]
    else:
        task_label = "built-in stdlib-codesearch, MiniLM (mair-lite not found)"
        task = list(BUILTIN)
    era = [*task, "method=era", *TINY_STAGES]
    zero_shot = [*task, "method=zero_shot"]
    builtin_era = [*BUILTIN, "method=era", *TINY_STAGES]
    wanted = set(args.only) if args.only else None

    def chosen(key: str) -> bool:
        return wanted is None or key in wanted

    drills = []

    def record(drill) -> None:
        drills.append(drill)
        status = "skipped" if drill.skipped else ("holds" if drill.passed else "DOES NOT HOLD")
        print(f"[{time.monotonic() - started:6.0f}s] {drill.name}: {status}", flush=True)
        for check in drill.checks:
            print(f"    {'ok ' if check.held else 'NO '} {check.requirement}: {check.observed}", flush=True)

    if chosen("kills"):
        record(kill_drill(work / "kills", era, task_label, args.kills, rng))
    # The damage and disk drills run zero-shot on a cache holding exactly what zero-shot reads.
    reference_cache = work / "zero-shot-cache"
    zero_shot_reference = work / "zero-shot-reference"
    if {"damage", "disk"} & (wanted or {"damage", "disk"}):
        zero_shot_cfg = config([*zero_shot, f"paths.cache_dir={reference_cache}"])
        run_to_end(run_target(zero_shot_cfg, zero_shot_reference))
    if chosen("damage"):
        record(damage_drill(work / "damage", zero_shot, zero_shot_reference, reference_cache))
    if chosen("disk"):
        record(disk_drill(work / "disk", zero_shot, reference_cache, zero_shot_reference))
    builtin_cache = work / "concurrency" / "cache"
    if chosen("concurrency"):
        record(cold_cache_drill(work / "concurrency", [*BUILTIN, "method=zero_shot"]))
        record(one_folder_drill(work / "one-folder", builtin_era, builtin_cache))
    if chosen("sweep"):
        record(sweep_drill(work / "sweep", [*BUILTIN, *TINY_STAGES], builtin_cache, rng))
    if chosen("bad_inputs"):
        record(bad_input_drill(work / "bad-inputs", builtin_cache))

    context = {
        "task": task_label,
        "kills per phase": args.kills,
        "seed": args.seed,
        "CPU cores": os.cpu_count(),
        "total seconds": round(time.monotonic() - started),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    page = portable(render(drills, context), {work: args.work, args.data_root.resolve(): args.data_root})
    args.out.write_text(page, encoding="utf-8")
    (work / "drills.json").write_text(as_json(drills), encoding="utf-8")
    print(f"wrote {args.out} ({context['total seconds']} s)")
    return 0 if all(drill.passed or drill.skipped for drill in drills) else 1


if __name__ == "__main__":
    raise SystemExit(main())
