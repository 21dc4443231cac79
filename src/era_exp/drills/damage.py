"""Corrupted, truncated and missing cache shards and run files: detected, redone, never used.

Each round copies a complete cache (or run folder), damages it in one of the ways below and runs
again. A damaged shard must be reported and its texts encoded again (a shard whose record is gone
is silently invisible: its texts too are encoded again); a damaged run folder must be recomputed.
Either way the results must equal the undamaged run's.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from era_exp.drills.common import Drill, Timer, comparable, config, differences, run_target
from era_exp.drills.runner import PHASE_STARTED, run_to_end
from era_exp.pipeline.results import DONE_FILE, RESULTS_FILE


def _flip_bytes(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for offset in range(len(data) - 64, len(data) - 8, 8):
        data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


# What is done to one shard: (name, damage of the shard's record path, whether the cache reports it).
SHARD_DAMAGE: tuple[tuple[str, Callable[[Path], None], bool], ...] = (
    ("vector bytes flipped (same size)", lambda rec: _flip_bytes(rec.with_suffix(".npy")), True),
    ("vectors file truncated", lambda rec: _truncate(rec.with_suffix(".npy")), True),
    ("keys file truncated", lambda rec: _truncate(rec.with_suffix(".keys.npy")), True),
    ("vectors file missing", lambda rec: rec.with_suffix(".npy").unlink(), True),
    ("keys file missing", lambda rec: rec.with_suffix(".keys.npy").unlink(), True),
    ("record truncated", _truncate, True),
    ("record with a wrong row count", lambda rec: _rewrite_record(rec, rows=1), True),
    ("record missing (uncommitted shard)", lambda rec: rec.unlink(), False),
)


def _rewrite_record(record: Path, **fields: object) -> None:
    data = json.loads(record.read_text())
    record.write_text(json.dumps({**data, **fields}))


RUN_DAMAGE: tuple[tuple[str, Callable[[Path], None]], ...] = (
    ("results.json truncated, DONE present", lambda out: _truncate(out / RESULTS_FILE)),
    ("results.json missing, DONE present", lambda out: (out / RESULTS_FILE).unlink()),
    ("DONE names another run", lambda out: (out / DONE_FILE).write_text("0123456789abcdef\n")),
    ("DONE missing (killed before it)", lambda out: (out / DONE_FILE).unlink()),
    ("results.json not JSON, DONE present", lambda out: (out / RESULTS_FILE).write_text("not json")),
)


def _records(cache: Path) -> list[Path]:
    return sorted(cache.glob("*/shard-*.json"))


def damage_drill(work: Path, overrides: list[str], reference_out: Path, reference_cache: Path) -> Drill:
    """Damage copies of a complete cache and run folder in every way above; each run must recover."""
    timer = Timer()
    work.mkdir(parents=True, exist_ok=True)
    drill = Drill(
        name="corrupted, truncated and missing shard files, records and run files",
        command="era-run " + " ".join(overrides) + "  (after damaging a copy of its cache or output folder)",
    )
    expected = comparable(reference_out)
    shards = _records(reference_cache)
    rows = {rec.name: int(json.loads(rec.read_text())["rows"]) for rec in shards}
    identical = 0
    for index, (name, damage, _) in enumerate(SHARD_DAMAGE):
        cache = work / f"cache-{index}"
        shutil.copytree(reference_cache, cache)
        victim = _records(cache)[index % len(shards)]
        victim_rows = rows[victim.name]
        damage(victim)
        child = run_to_end(
            run_target(config([*overrides, f"paths.cache_dir={cache}"]), work / f"run-{index}")
        )
        warned = sum("is corrupt" in line for line in child.lines)
        encoded = (child.result or {}).get("cache", {}).get("encoded")
        same = child.returncode == 0 and not differences(expected, comparable(work / f"run-{index}"))
        identical += same
        drill.table.append(
            {
                "damage": name,
                "shard rows": victim_rows,
                "reported corrupt": warned,
                "texts re-encoded": encoded,
                "results identical": same,
            }
        )
        shutil.rmtree(cache)
    for index, (name, damage) in enumerate(RUN_DAMAGE):
        out = work / f"damaged-run-{index}"
        shutil.copytree(reference_out, out)
        damage(out)
        child = run_to_end(run_target(config([*overrides, f"paths.cache_dir={reference_cache}"]), out))
        recomputed = child.has(PHASE_STARTED.format("encode"))
        same = child.returncode == 0 and not differences(expected, comparable(out))
        identical += same
        drill.table.append(
            {"damage": name, "recomputed": recomputed, "results identical": same, "error": child.error or ""}
        )
    total = len(SHARD_DAMAGE) + len(RUN_DAMAGE)
    reported = sum(flag for _, _, flag in SHARD_DAMAGE)
    shard_rows, run_rows = drill.table[: len(SHARD_DAMAGE)], drill.table[len(SHARD_DAMAGE) :]
    reencoded_ok = sum(row["texts re-encoded"] == row["shard rows"] for row in shard_rows)
    recomputed = sum(row["recomputed"] for row in run_rows)
    drill.figures = {
        "damaged files": total,
        "corrupt shards reported": f"{sum(row['reported corrupt'] for row in shard_rows)} of {reported}",
        "damaged run folders recomputed": f"{recomputed} of {len(RUN_DAMAGE)}",
        "drill seconds": timer.seconds,
    }
    drill.check(
        "every damaged shard with a record is reported and dropped; an uncommitted one is ignored",
        all(
            row["reported corrupt"] == int(flag)
            for row, (_, _, flag) in zip(shard_rows, SHARD_DAMAGE, strict=True)
        ),
        f"{sum(row['reported corrupt'] for row in shard_rows)} reports "
        f"for {reported} corrupt shards and {len(SHARD_DAMAGE) - reported} uncommitted one",
    )
    drill.check(
        "exactly the damaged shard's texts are encoded again",
        reencoded_ok == len(SHARD_DAMAGE),
        f"{reencoded_ok} of {len(SHARD_DAMAGE)} rounds",
    )
    drill.check(
        "a damaged run folder is recomputed, never returned",
        all(row["recomputed"] for row in run_rows),
        f"{sum(row['recomputed'] for row in run_rows)} of {len(RUN_DAMAGE)}",
    )
    drill.check(
        "results identical to the undamaged run every time", identical == total, f"{identical} of {total}"
    )
    drill.seconds = timer.seconds
    return drill
