"""``era-encode``: fill the embedding cache for a whole sweep before running it.

Takes the same overrides as the sweep, on the same config (conf/run.yaml)::

    era-encode pair=mpnet_to_minilm,minilm_to_minilm method=zero_shot,align_only,label_only,era \\
        train_ratio=0.05,0.1,0.2,0.4 data=builtin
    era-run -m <the same overrides>

Every distinct (embedder, text) the grid's points will read is encoded once, so the sweep's jobs,
however many run at once, only read the cache. ``encode.*`` overrides set how (conf/encode/):
``encode.devices=4`` (and ``encode.nodes``) runs one process per device through Lightning;
``hydra/launcher=slurm encode.array_jobs=16`` fans the encode out as a job array through the
launcher, one shard of the distinct texts per job; ``--shard I/N`` encodes shard I of N only.
Concurrent runs of era-encode on one cache split the work. ``--dry-run`` only counts the texts
and those not on disk yet.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import hydra
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from era_exp.config import ConfigError, conf_dir, register_configs
from era_exp.embed.distributed import EncodeSettings, use_local_device
from era_exp.io import atomic_write_json
from era_exp.pipeline.plan import PlanError
from era_exp.sweep.naming import register_resolvers
from era_exp.sweep.needs import encode_plan, plan_encoding

log = logging.getLogger(__name__)
SUMMARY_FILE = "encode-summary.json"
MANIFEST_FILE = "encode-manifest.json"
_LAUNCH_KEYS = ("hydra/launcher=", "hydra.launcher.", "hydra.sweep.dir=")


@dataclass
class Overrides:
    """A command line split by concern: the grid, how to encode, and how to launch jobs."""

    grid: list[str]
    encode: list[str]
    launch: list[str]


def split_overrides(overrides: Sequence[str]) -> Overrides:
    """``encode=...``/``encode.*`` go to the encode settings, launcher keys to the job array."""
    split = Overrides([], [], [])
    for override in overrides:
        key = override.lstrip("+~")
        if key.startswith(("encode.", "encode=")):
            split.encode.append(override)
        elif key.startswith(_LAUNCH_KEYS):
            split.launch.append(override)
        else:
            split.grid.append(override)
    return split


def load_settings(overrides: Sequence[str]) -> EncodeSettings:
    """The ``conf/encode/<name>.yaml`` entry (``encode=<name>``, default ``default``) with overrides."""
    name, dotlist = "default", []
    for override in overrides:
        key, _, value = override.lstrip("+").partition("=")
        if key == "encode":
            name = value
        else:
            dotlist.append(f"{key.removeprefix('encode.')}={value}")
    folder = conf_dir() / "encode"
    path = folder / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in folder.glob("*.yaml")))
        raise ValueError(f"unknown encode entry {name!r} (no {path}); known: {known}")
    schema = OmegaConf.structured(EncodeSettings)
    try:
        merged = OmegaConf.merge(schema, OmegaConf.load(path), OmegaConf.from_dotlist(dotlist))
    except OmegaConfBaseException as err:
        known = ", ".join(f"encode.{key}" for key in schema)
        raise ValueError(f"bad encode setting ({err.msg}); known keys: {known}") from None
    return EncodeSettings(**OmegaConf.to_container(merged))


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> ``(I, N)`` with ``0 <= I < N``."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard takes I/N (e.g. 3/16), got {text!r}") from None
    if not 0 <= index < count:
        raise argparse.ArgumentTypeError(f"--shard {text}: need 0 <= I < N")
    return index, count


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="era-encode", description=__doc__.split("\n\n")[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of the sweep (comma lists are swept)")
    parser.add_argument("-m", "--multirun", action="store_true", help="accepted for symmetry with era-run")
    parser.add_argument(
        "--dry-run", action="store_true", help="count the texts and those not on disk yet, encode nothing"
    )
    parser.add_argument("--summary", metavar="PATH", help="also write the JSON summary to PATH")
    parser.add_argument("--shard", type=parse_shard, metavar="I/N", help="encode shard I of N only")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Plan the grid's texts, encode the missing ones, print (and optionally save) a JSON summary."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s] %(message)s")
    split = split_overrides(args.overrides)
    try:
        settings = load_settings(split.encode)
    except ValueError as err:
        raise SystemExit(f"era-encode: {err}") from None
    if args.shard is None and (split.launch or settings.array_jobs):
        if args.dry_run:
            raise SystemExit("era-encode: --dry-run counts texts in one process; drop the launcher overrides")
        summary = launch_array(split, settings)
    else:
        if settings.distributed:
            use_local_device()
        try:
            plan = plan_encoding(split.grid)
        except (ConfigError, PlanError, HydraException, OmegaConfBaseException) as err:
            raise SystemExit(f"era-encode: invalid config: {err}") from None
        if args.dry_run:
            summary = {**plan.summary(), "missing": plan.missing()}
        else:
            summary = encode_plan(plan, settings, args.shard)
    if summary is None:  # a rank other than 0 of a distributed encode: rank 0 reports
        return 0
    print(json.dumps(summary, indent=2))
    if args.summary:
        atomic_write_json(args.summary, summary)
    return 0


@contextmanager
def _argv(argv: list[str]):
    saved = sys.argv
    sys.argv = argv
    try:
        yield
    finally:
        sys.argv = saved


def launch_array(split: Overrides, settings: EncodeSettings) -> dict:
    """Run ``era-encode --shard i/N <grid>`` as N jobs of the Hydra launcher; sum their summaries."""
    if not settings.array_jobs:
        raise SystemExit("era-encode: a launcher override needs encode.array_jobs=<number of jobs>")
    launch = list(split.launch)
    if not any(o.startswith("hydra.sweep.dir=") for o in launch):
        launch.append(f"hydra.sweep.dir=multirun/encode/{time.strftime('%Y-%m-%d/%H-%M-%S')}")
    sweep_dir = Path(next(o for o in launch if o.startswith("hydra.sweep.dir=")).partition("=")[2])
    manifest = sweep_dir.resolve() / MANIFEST_FILE
    atomic_write_json(manifest, {"grid": split.grid, "encode": split.encode, "jobs": settings.array_jobs})
    register_resolvers()
    register_configs()
    argv = [
        "era-encode",
        "--multirun",
        *launch,
        "hydra.sweep.subdir=shard-${hydra.job.num}",
        f"+encode_shard=range(0,{settings.array_jobs})",
        f"+encode_manifest={manifest}",
    ]
    summaries = [sweep_dir / f"shard-{index}" / SUMMARY_FILE for index in range(settings.array_jobs)]
    for path in summaries:  # left by an earlier array in this folder: only this array's jobs count
        path.unlink(missing_ok=True)
    # A failed job makes Hydra print its error and exit; the summaries tell which jobs finished.
    with suppress(SystemExit), _argv(argv):
        _array_job()
    missing = [index for index, path in enumerate(summaries) if not path.is_file()]
    if missing:
        shards = ", ".join(f"{index}/{settings.array_jobs}" for index in missing)
        raise SystemExit(
            f"era-encode: {len(missing)} of {settings.array_jobs} encode jobs did not finish "
            f"(--shard {shards}); see the error above and the job logs under {sweep_dir} (shard-<i>/, "
            ".submitit/). What they committed is in the cache: rerunning the same command encodes only "
            "what is missing."
        )
    parts = [json.loads(path.read_text()) for path in summaries]
    first = parts[0]
    return {
        "points": first["points"],
        "needed": first["needed"],
        "caches": first["caches"],
        "encoded": sum(p["encoded"] for p in parts),
        "hits": sum(p["hits"] for p in parts),
        "seconds": max(p["seconds"] for p in parts),
        "jobs": [p["shard"] | {"encoded": p["encoded"], "seconds": p["seconds"]} for p in parts],
    }


@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="run")
def _array_job(cfg: DictConfig) -> None:
    """One job of the array: ``era-encode --shard <i>/<N>`` on the grid of the manifest."""
    from hydra.core.hydra_config import HydraConfig

    manifest = json.loads(Path(cfg.encode_manifest).read_text())
    out = Path(HydraConfig.get().runtime.output_dir) / SUMMARY_FILE
    shard = f"{cfg.encode_shard}/{manifest['jobs']}"
    command = [sys.executable, "-m", "era_exp.cli.encode", "--shard", shard, "--summary", str(out)]
    code = subprocess.run([*command, *manifest["grid"], *manifest["encode"]]).returncode
    if code:
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
        raise RuntimeError(f"era-encode --shard {shard} failed ({how}); its output is in this job's log")


if __name__ == "__main__":
    sys.exit(main())
