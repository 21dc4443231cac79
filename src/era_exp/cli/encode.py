"""``era-encode``: fill the embedding cache for a whole sweep before running it.

Takes the same overrides as the sweep, on the same config (conf/run.yaml)::

    era-encode pair=mpnet_to_minilm,minilm_to_minilm method=zero_shot,align_only,label_only,era \\
        train_ratio=0.05,0.1,0.2,0.4 data=builtin
    era-run -m <the same overrides>

Every distinct (embedder, text) the grid's points will read is encoded once, so the sweep's jobs,
however many run at once, only read the cache. ``--dry-run`` only counts the texts.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from era_exp.io import atomic_write_json
from era_exp.sweep.needs import encode_plan, plan_encoding


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="era-encode", description=__doc__.split("\n\n")[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of the sweep (comma lists are swept)")
    parser.add_argument("-m", "--multirun", action="store_true", help="accepted for symmetry with era-run")
    parser.add_argument("--dry-run", action="store_true", help="count the texts, encode nothing")
    parser.add_argument("--summary", metavar="PATH", help="also write the JSON summary to PATH")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Plan the grid's texts, encode the missing ones, print (and optionally save) a JSON summary."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s] %(message)s")
    plan = plan_encoding(args.overrides)
    summary = plan.summary() if args.dry_run else encode_plan(plan)
    print(json.dumps(summary, indent=2))
    if args.summary:
        atomic_write_json(args.summary, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
