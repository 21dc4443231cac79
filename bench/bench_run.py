"""Cost of whole runs: a zero-shot run, and ERA's Stage 1, Stage 2 and evaluation.

Each configuration runs in a fresh output folder. Its profile separates the encode phase from the
stages and evaluation (wall time and peak resident memory per phase), so stage and evaluation
figures are those of a warm cache; the cache counters say how much was encoded. Writes JSON to
--out and prints a table.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from era_exp.config import compose
from era_exp.pipeline.run import run

RUNS = {
    "zero-shot MiniLM": ["pair=minilm_to_minilm", "method=zero_shot"],
    "ERA mpnet→MiniLM 0.2": ["pair=mpnet_to_minilm", "method=era", "train_ratio=0.2"],
}


REFERENCE_TASKS = (
    "AILA2019-Statutes,Competition-Math,HuggingfaceAPI,LegalQuAD,MBPP,PytorchAPI,SpotifyAPI,TMDB"
)


def measure(name: str, overrides: list[str], data_root: str, tasks: str) -> dict:
    selection = ["data=mair_lite", f"data.root={data_root}", *([f"data.tasks=[{tasks}]"] if tasks else [])]
    cfg = compose([*selection, *overrides], return_hydra_config=False)
    with tempfile.TemporaryDirectory() as out_dir:
        results = run(cfg, out_dir)
    return {
        "run": name,
        "overrides": overrides,
        "data_tasks": tasks or "all",
        "tasks": results["overall"]["num_tasks"],
        "ndcg@10": round(results["overall"]["ndcg@10"], 4),
        "texts_encoded": results["cache"]["encoded"],
        "texts_from_cache": results["cache"]["hits"],
        "profile": results["profile"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="../shared/data/mair-lite")
    parser.add_argument("--tasks", default=REFERENCE_TASKS, help="comma-separated tasks ('' for all)")
    parser.add_argument("--out", default="bench/results/runs.json")
    args = parser.parse_args()
    rows = [measure(name, overrides, args.data_root, args.tasks) for name, overrides in RUNS.items()]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=2) + "\n")
    print("| run | phase | seconds | peak RSS MiB |\n|---|---|---:|---:|")
    for row in rows:
        for phase, figures in row["profile"].items():
            print(f"| {row['run']} | {phase} | {figures['seconds']} | {figures['peak_rss_mib']} |")
        print(
            f"| {row['run']} | texts encoded / from cache "
            f"| {row['texts_encoded']} / {row['texts_from_cache']} | |"
        )


if __name__ == "__main__":
    main()
