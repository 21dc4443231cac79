"""``era-mair-replica``: write a local mirror of MAIR-Queries and MAIR-Docs in MAIR's exact shape.

    era-mair-replica OUT [--docs-scale S] [--seed N] [--tasks A,B,...] [--force]

``OUT/MAIR-Queries`` and ``OUT/MAIR-Docs`` then load like the hub datasets, e.g. through
``era-run data=hub data.queries=OUT/MAIR-Queries data.docs=OUT/MAIR-Docs``. Query counts are MAIR's
(10,038 over 126 tasks); corpora hold MAIR's 4,274,916 documents times S; texts are generated.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence

from era_exp.data.errors import DataError
from era_exp.data.replica import ReplicaSpec, generate_replica


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="era-mair-replica", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="folder to write MAIR-Queries/ and MAIR-Docs/ into")
    parser.add_argument("--docs-scale", type=float, default=1.0, help="corpus size factor S in (0, 1]")
    parser.add_argument("--seed", type=int, default=0, help="seed of every generated text and label")
    parser.add_argument("--tasks", help="comma-separated MAIR task names (default: all 126)")
    parser.add_argument("--force", action="store_true", help="replace a different or incomplete mirror")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Generate (or reuse) the mirror and print its summary as JSON."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s] %(message)s")
    tasks = tuple(t.strip() for t in args.tasks.split(",") if t.strip()) if args.tasks else None
    started = time.perf_counter()
    try:
        spec = ReplicaSpec(seed=args.seed, docs_scale=args.docs_scale, tasks=tasks)
        manifest = generate_replica(args.out, spec, force=args.force)
    except DataError as err:
        print(f"era-mair-replica: {err}", file=sys.stderr)
        return 2
    summary = {key: manifest[key] for key in ("seed", "docs_scale", "queries", "documents")}
    summary["tasks"] = len(manifest["tasks"])
    summary["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
