"""``make bench``: run the CPU benchmarks, then write every figure to docs/benchmarks.md.

Each benchmark writes JSON under bench/results/; this script renders them all, including the GPU
figures of ``make bench-gpu`` when a GPU run left bench/results/gpu.json. ``--render-only``
rebuilds the page from the JSON already there.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
PAGE = REPO / "docs" / "benchmarks.md"


def run_benchmarks(data_root: str) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ERA_QUIET": "1"}
    python = sys.executable
    for command in (
        [python, "bench/bench_encode.py", "--data", data_root],
        [python, "bench/bench_run.py", "--data-root", data_root],
        [python, "bench/bench_stages.py", "--data-root", data_root],
        [python, "bench/bench_warm.py", "--data-root", data_root],
        [python, "bench/bench_sweep.py"],
    ):
        print("$", " ".join(command[1:]), flush=True)
        subprocess.run(command, cwd=REPO, env=env, check=True)


def _load(name: str):
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _encode_table(results: dict) -> list[str]:
    lines = [
        "| model | device, dtype | texts | tokens | sentence-transformers texts/s | era-exp texts/s "
        "| speedup | min cosine |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in results["models"].items():
        lines.append(
            f"| {name} | {row['device']}, {row['dtype']} | {row['texts']} | {row['tokens']} "
            f"| {row['sentence_transformers']['texts_per_s']} | {row['era_exp']['texts_per_s']} "
            f"| {row['speedup']:.2f}× | {row['min_cosine']:.6f} |"
        )
    return lines


def encode_section(data: dict | None, idle: dict | None) -> list[str]:
    if not data:
        return ["Not measured yet: run `make bench`."]
    results = data["encode"]
    machine = results["machine"]
    lines = [
        f"`bench/bench_encode.py` on this project's machine: {machine['cpus']} CPUs shared with other "
        f"jobs while measured, torch {machine['torch']}. Same model and texts (mair-lite documents and "
        "queries) on both sides, warmed up, run in interleaved slices.",
        "",
        *_encode_table(results),
    ]
    if earlier := results.get("models_machine"):
        lines += [
            "",
            "This table is from an earlier run of the benchmark (load average "
            f"{earlier['load_average_1min_start']}–{earlier['load_average_1min_end']} while measured), kept "
            "when only the cache and multi-process figures below were rerun (`--models ''`).",
        ]
    if cache := results.get("cache"):
        lines += [
            "",
            f"Embedding cache (MiniLM, {cache['texts']} texts): cold {cache['cold_seconds']} s, warm "
            f"{cache['warm_seconds']} s ({cache['warm_texts_per_s']} texts/s served from disk).",
        ]
        lines += _commit_lines(cache)
    if rows := results.get("multi_process"):
        lines += ["", *_multi_process_lines(rows, machine)]
    if idle:
        lines += ["", "On idle cores (`bench/results/encode_h100_host.json`): " + idle["note"], ""]
        for key in ("encode_cpu_2cores", "encode_cuda_bf16", "encode_cuda_fp32"):
            if key in idle:
                lines += [f"`{key}`:", "", *_encode_table(idle[key]), ""]
    return lines


def _commit_lines(cache: dict) -> list[str]:
    """Commit overhead and storage dtype figures of the cold cache run (absent in older results)."""
    if "shards" not in cache:
        return []
    if "chunk_chars" in cache:
        bound = f"{cache['chunk_chars']:,.0f} characters of text"
    else:  # results measured when chunks were sized by time
        bound = f"about {cache['commit_seconds']:g} s of work"
    lines = [
        "",
        f"Committing as it goes (every {cache['chunk_size']} texts or {bound}, "
        f"whichever first): the cold run committed {cache['shards']} chunks, each leased and written "
        f"(with fsync) in {cache['lease_and_commit_seconds']} s in all against {cache['model_seconds']} s "
        f"inside the model: an overhead of {cache['commit_overhead_fraction']:.2%}.",
    ]
    if storage := cache.get("storage"):
        full, half = storage["float32"], storage["float16"]
        lines += [
            "",
            "Storage dtype, the same vectors (MiniLM, 384-d) stored both ways:",
            "",
            "| cache dtype | vector bytes | max abs error | min cosine to float32 |",
            "|---|---:|---:|---:|",
            *(
                f"| {name} | {row['vector_bytes']:,} | {row['max_abs_error']:.1e} | {row['min_cosine']:.7f} |"
                for name, row in (("float32", full), ("float16", half))
            ),
            "",
            f"float16 takes {storage['float16_over_float32']:.3f}× the bytes of float32 (the .npy header "
            "is the rest). float16 is the default only for models encoded on GPU; on CPU the default "
            "stays float32, so results made on CPU are bit-identical to before.",
        ]
    return lines


def _multi_process_lines(rows: list[dict], machine: dict) -> list[str]:
    base = rows[0]["seconds"]
    load = f"{machine['load_average_1min_start']}–{machine['load_average_1min_end']}"
    lines = [
        f"Worker processes filling one cold cache (MiniLM, {rows[0]['texts']} mair-lite texts, the "
        "machine's cores split equally between them), coordinated only through the cache's leases:",
        "",
        "| processes | threads each | seconds | texts/s | texts encoded per process | vs 1 process |",
        "|---:|---:|---:|---:|---|---:|",
    ]
    for row in rows:
        encoded = " + ".join(str(n) for n in row["encoded_per_process"])
        lines.append(
            f"| {row['processes']} | {row['threads_each']} | {row['seconds']} | {row['texts_per_s']} "
            f"| {encoded} = {sum(row['encoded_per_process'])} | {base / row['seconds']:.2f}× |"
        )
    lines += [
        "",
        f"Every text is encoded once in total. The cores were shared with other jobs (load average {load} "
        f"on {machine['cpus']} CPUs), where two processes also win a larger share of the contended "
        "cores; on idle cores two processes cannot add compute to the same two cores, and the figure "
        "to read is the split: each process encodes its part, none waits behind a lock. On GPUs "
        "each process has its own device (docs/encoding-at-scale.md).",
    ]
    return lines


def runs_section(rows: list | None) -> list[str]:
    if not rows:
        return ["Not measured yet: run `make bench`."]
    lines = [
        "`bench/bench_run.py`: each configuration in a fresh output folder on the mair-lite tasks named "
        "below. The encode phase is profiled apart, so Stage 1, Stage 2 and evaluation are warm-cache "
        "figures. Peak memory is the resident set sampled during each phase. These figures were "
        "measured before the in-memory stage loop and ranx's on-disk cache landed; the warm-run and "
        "stage sections below are the current ones.",
        "",
        "| run | phase | seconds | peak RSS MiB |",
        "|---|---|---:|---:|",
    ]
    for row in rows:
        for phase, figures in row["profile"].items():
            lines.append(f"| {row['run']} | {phase} | {figures['seconds']} | {figures['peak_rss_mib']} |")
    lines += [
        "",
        "For scale: the authors' code on 11 mair-lite tasks on 2 cores took 15 s for Stage 1, 10–28 s for "
        "Stage 2 and 3–4 s for evaluation, and its cold mpnet encoding took 74 min at 14.4 GiB peak.",
        "",
    ]
    for row in rows:
        lines.append(
            f"- {row['run']} (`{' '.join(row['overrides'])}`, tasks: {row['data_tasks']}): "
            f"{row['tasks']} tasks, "
            f"nDCG@10 {row['ndcg@10']}, "
            f"{row['texts_encoded']} texts encoded, {row['texts_from_cache']} served from the cache."
        )
    return lines


def stages_section(data: dict | None) -> list[str]:
    if not data:
        return ["Not measured yet: run `make bench`."]
    machine = data["machine"]
    load = ", ".join(f"{value:.1f}" for value in machine["load_avg"])
    lines = [
        "`bench/bench_stages.py`: one real ERA run (train ratio 0.2, warm cache) per case gives each "
        "stage's inputs; then, interleaved "
        f"{data['repeats']} times on those inputs, era-exp's stage and a bare PyTorch loop doing the "
        "same steps (AdamW, the per-step schedule, a validation pass per epoch, the best-weights copy) "
        "for the same epochs on the same threads. Fastest repeat (median in brackets); Lightning's "
        "Trainer on the same module once, for the cost the in-memory loop removed. Same numbers on "
        "both engines (tests/stages/test_engines.py). "
        f"{machine['cpus']} CPUs shared with other jobs (load average {load}), torch {machine['torch']}: "
        "absolute times are inflated by the load, the ratios are what the benchmark compares.",
        "",
        "| case | stage | epochs | train / val rows | dims | threads | era-exp ms/epoch "
        "| bare loop ms/epoch | era-exp / bare | Lightning Trainer ms/epoch |",
        "|---|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in data["rows"]:
        lines.append(
            f"| {r['case']} | {r['stage']} | {r['epochs']} | {r['train_rows']} / {r['val_rows']} "
            f"| {r['dims'][0]}→{r['dims'][1]} | {r['threads']} "
            f"| {r['era_ms_per_epoch']} ({r['era_ms_per_epoch_median']}) "
            f"| {r['bare_ms_per_epoch']} ({r['bare_ms_per_epoch_median']}) | {r['ratio_to_bare']}× "
            f"| {r['lightning_trainer_ms_per_epoch']} |"
        )
    return lines


def warm_section(data: dict | None) -> list[str]:
    if not data:
        return ["Not measured yet: run `make bench`."]
    authors = data["authors"]
    low, high = authors["total_without_imports"]
    load = ", ".join(f"{value:.1f}" for value in data["machine"]["load_avg"])

    def span(values: list[float]) -> str:
        return f"{values[0]:g}" if values[0] == values[1] else f"{values[0]:g}–{values[1]:g}"

    lines = [
        "`bench/bench_warm.py`: `era-run method=era train_ratio=0.2` on the 8 reference tasks as a "
        "fresh process with a warm embedding cache, as every grid point of a sweep runs; fastest of "
        "its repeats. Start-up is the process's wall time outside the phases (imports, config, "
        "writing results). CPU seconds count the process's own work, which the other jobs sharing "
        f"these cores (load average {load}) do not inflate as they inflate wall time; on idle cores "
        "a single-threaded run's wall time is about its CPU time.",
        "",
        "| run | tasks | wall s | CPU s | start-up s | Stage 1 s | Stage 2 s | evaluation s "
        "| validation scoring s | nDCG@10 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in data["rows"]:
        best, phases = row["best"], row["best"]["phases"]
        lines.append(
            f"| era-exp, {row['pair']} | {len(data['tasks'])} | {best['wall_seconds']} "
            f"| {best['cpu_seconds']} "
            f"| {best['startup_seconds']} | {phases['stage1']} | {phases['stage2']} | {phases['evaluate']} "
            f"| {phases.get('validate', '—')} | {best['ndcg@10']} |"
        )
    lines += [
        f"| the authors' scripts, mpnet→MiniLM (2 cores) | {authors['tasks']} | {low:g}–{high:g} + imports "
        f"| | | {span(authors['stage1'])} | {span(authors['stage2'])} | {span(authors['evaluate'])} | — | |",
        "",
    ]
    for row in data["rows"]:
        best = row["best"]
        lines.append(
            f"- era-exp {row['pair']}: {best['alignment_documents']} alignment documents, "
            f"{best['stage2_epochs']} Stage-2 epochs, {best['test_queries']} test queries; "
            f"{low / best['cpu_seconds']:.1f}–{high / best['cpu_seconds']:.1f}× the authors' figures "
            f"(without their imports) by CPU seconds, {low / best['wall_seconds']:.1f}–"
            f"{high / best['wall_seconds']:.1f}× by wall seconds on these shared cores."
        )
    lines.append(
        "- The authors' figures cover 11 tasks (5,142 alignment documents, 1,689 test queries); "
        "these runs cover 8 of them."
    )
    return lines


def sweep_section(data: dict | None) -> list[str]:
    if not data:
        return ["Not measured yet: run `make bench`."]
    settings = f", {' '.join(data['settings'])}" if data["settings"] else ", the paper's stage settings"
    launcher = f"launcher `{data['launcher']}`" if "launcher" in data else f"{data['jobs']} parallel jobs"
    reused = f"{data['points_computed']} / {data['points_reused']}"
    return [
        f"`bench/bench_sweep.py`: the built-in task over the grid `{' '.join(data['grid'])}` "
        f"({data['points']} points, {launcher}{settings}).",
        "",
        "| figure | value |",
        "|---|---:|",
        f"| cold: encode phase (s) | {data['cold_encode_seconds']} |",
        f"| cold: sweep (s) | {data['cold_sweep_seconds']} |",
        f"| cold: total (s) | {data['cold_total_seconds']} |",
        f"| warm: sweep (s) | {data['warm_sweep_seconds']} |",
        f"| warm: seconds per grid point | {data['warm_seconds_per_point']} |",
        f"| resume of a finished sweep (s) | {data['resume_seconds']} |",
        f"| points computed / reused from a twin with the same run key | {reused} |",
        f"| distinct texts the grid needs | {data['texts_needed']} |",
        f"| texts encoded in all | {data['texts_encoded']} |",
    ]


def _mib(value: int) -> str:
    return f"{value / 2**20:,.0f}"


def scale_section(data: dict | None) -> list[str]:
    if not data:
        return ["Not measured yet: run `make bench-scale` (heavy: about an hour on 2 cores)."]
    machine, points = data["machine"], data["points"]
    models = ", ".join(f"{n} (hidden {m['hidden']}, {m['layers']} layers)" for n, m in data["models"].items())
    max_length = next(iter(data["models"].values()))["max_length"]
    lines = [
        "`bench/bench_scale.py` (`make bench-scale`): the MAIR replica (`era-mair-replica`, all 126 tasks, "
        "MAIR's 10,038 queries, about 4.27M × S documents) read through the real hub path "
        "(`era-run data=hub data.queries=R/MAIR-Queries data.docs=R/MAIR-Docs`), zero-shot first (cold "
        "`datasets` and embedding caches), then ERA at train ratio 0.2 (documents warm). Models: random-init "
        f"BERTs with MiniLM's tokenizer, {models}, max_length {max_length}, so the figures are the "
        f"framework's, not a model's. Machine: {machine['cpus']} CPUs shared with other jobs, torch "
        f"{machine['torch']} with {machine['threads']} thread(s).",
        "",
        "| S | documents | largest corpus | replica MiB | generation s (CPU s) | generator peak MiB |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for p in points:
        made = (
            f"{p['generate_seconds']} ({p.get('generate_cpu_seconds') or '–'})"
            if p.get("generate_seconds") is not None
            else "not recorded"
        )
        lines.append(
            f"| {p['docs_scale']} | {p['documents']:,} | {p['largest_corpus']:,} "
            f"| {_mib(p['replica_bytes'])} | {made} | {p.get('generate_rss_mib') or '–'} |"
        )
    phases = ("load_data", "encode", "stage1", "stage2", "evaluate", "validate")
    lines += [
        "",
        "Seconds and peak resident MiB per phase (`results.json` profile), texts encoded per second of the "
        "encode phase, and the caches after the run. Times are wall-clock on two cores shared with other "
        "jobs whose load varied between runs (the load average, where recorded, is given below the table), "
        "so the time exponents further down carry that noise; the memory figures do not.",
        "",
        "| S | run | " + " | ".join(phases) + " | texts encoded | texts/s | process peak MiB "
        "| embedding cache MiB | datasets cache MiB | nDCG@10 |",
        "|---:|---|" + "---:|" * (len(phases) + 6),
    ]
    for p in points:
        runs = dict(p["runs"])
        if alone := p.get("largest_task_only"):
            runs[f"zero-shot, {alone['task']} only"] = alone
        for name, run in runs.items():
            cells = [
                f"{run['profile'][ph]['seconds']} s / {run['profile'][ph]['peak_rss_mib']:.0f}"
                if ph in run["profile"]
                else "–"
                for ph in phases
            ]
            lines.append(
                f"| {p['docs_scale']} | {name} | " + " | ".join(cells) + f" | {run['texts_encoded']:,} "
                f"| {run['texts_per_s'] or '–'} | {run['peak_rss_mib']:.0f} "
                f"| {_mib(run['embedding_cache_bytes'])} | {_mib(run['datasets_cache_bytes'])} "
                f"| {run['ndcg@10']} |"
            )
    loads = [
        f"S={p['docs_scale']} {name}: {run['load_average'][0]}–{run['load_average'][1]}, "
        f"{run['cpu_seconds']} CPU s"
        for p in points
        for name, run in p["runs"].items()
        if "load_average" in run
    ]
    if loads:
        lines += [
            "",
            "Load average at the start and end of a run, and its CPU seconds: " + "; ".join(loads) + ".",
        ]
    if data.get("growth"):
        lines += [
            "",
            "Growth with the number of documents between the smallest and largest S (log-log slope: 1 is "
            "linear, 0 flat):",
            "",
            "| run | phase | time exponent | memory exponent |",
            "|---|---|---:|---:|",
        ]
        for name, table in data["growth"].items():
            for phase, figures in table.items():
                lines.append(
                    f"| {name} | {phase} | {figures.get('seconds_slope', '–')} "
                    f"| {figures.get('peak_rss_slope', '–')} |"
                )
        for name, figures in data["memory_per_document"].items():
            lines.append("")
            lines.append(
                f"{name}: peak memory grows by {figures['bytes_per_document']:,} bytes per document of "
                f"the replica, {figures['bytes_per_largest_corpus_document']:,} bytes per document of its "
                "largest corpus."
            )
    lines += bound_lines(data)
    lines += ["", "![time and memory against documents](img/bench-scale.png)"]
    return lines


def bound_lines(data: dict) -> list[str]:
    """Each phase's peak against the largest-task floor at every S, and whether the bound holds."""
    excess, points = data.get("floor_excess") or {}, data["points"]
    floors = {str(p["docs_scale"]): p for p in points if p.get("largest_task_only")}
    if not excess:
        return []
    lines = [
        "",
        "Memory against the bound: at every S the same zero-shot run on the task with the largest corpus "
        "alone (its own cold embedding cache) is the floor a run holding one corpus at a time cannot go "
        "below; the table gives each phase's peak resident MiB, that floor (for the stages, which the floor "
        "run does not have, its process peak) and what the run holds beyond it, and the corpora's rows "
        "the run held (`results.json` `data.resident`: rows read again, most corpora's texts alive at "
        "once, their MiB of text).",
        "",
        "| S | documents | largest corpus | run | phase | peak MiB | floor MiB | beyond floor MiB |",
        "|---:|---:|---:|---|---|---:|---:|---:|",
    ]
    for scale, runs in excess.items():
        p = floors[scale]
        for name, phases in runs.items():
            for phase, figures in phases.items():
                lines.append(
                    f"| {scale} | {p['documents']:,} | {p['largest_corpus']:,} | {name} | {phase} "
                    f"| {figures['peak_rss_mib']:,.0f} | {figures['floor_mib']:,.0f} "
                    f"| {figures['excess_mib']:,.0f} |"
                )
    held = [
        f"S={p['docs_scale']} {name}: {r['reads']:,} reads, at most {r['peak_columns']} corpora's texts "
        f"alive, {r['peak_chars'] / 2**20:,.0f} MiB of text"
        for p in points
        for name, run in p["runs"].items()
        if (r := run.get("resident"))
    ]
    if held:
        lines += ["", "Corpus rows held: " + "; ".join(held) + "."]
    scales = list(excess)
    if len(scales) < 2:
        return lines
    budgets = [
        run["resident"]["budget_chars"] / 2**20
        for p in points
        for run in p["runs"].values()
        if run.get("resident")
    ]
    budget = budgets[0] if budgets else 0.0
    lines += [
        "",
        "Whether the bound holds, per run and phase: it holds when what the run holds beyond the floor "
        f"grows by at most twice the {budget:,.0f} MiB text budget of `data.resident_mib` between the "
        "two largest scales measured, i.e. does not follow the documents added (the growth from the "
        "smallest scale is given too: it also holds the top-k runs filling up to k documents per query "
        "as corpora outgrow k, which is bounded by the queries, not the documents).",
        "",
    ]
    for name in excess[scales[-1]]:
        measured = [s for s in scales if name in excess[s]]
        if len(measured) < 2:
            continue
        low, mid, top = measured[0], measured[-2], measured[-1]
        verdicts = []
        for phase, figures in excess[top][name].items():
            if phase not in excess[mid][name]:
                continue
            grown = figures["excess_mib"] - excess[mid][name][phase]["excess_mib"]
            docs = floors[top]["documents"] - floors[mid]["documents"]
            overall = figures["excess_mib"] - excess[low][name][phase]["excess_mib"]
            verdict = "holds" if grown <= 2 * budget else "does not hold"
            since = "" if low == mid else f"; {overall:+,.0f} MiB since S={low}"
            verdicts.append(
                f"{phase} {verdict} ({grown:+,.0f} MiB beyond the floor from S={mid} to S={top}, "
                f"{docs:,} more documents, {grown * 2**20 / docs:,.0f} bytes per document{since})"
            )
        lines.append(f"- {name}: " + "; ".join(verdicts) + ".")
    return lines


def gpu_section(data: dict | None) -> list[str]:
    if not data:
        return ["Not measured on this page yet: run `make bench-gpu` on a GPU machine."]
    current = all("ratio_to_same_batches" in row for row in data["encode"])
    lines = (
        []
        if current
        else [
            "**Measured before the current GPU pipeline** (tokenising thread ahead of the GPU, windowed "
            "length buckets, one device-to-host copy per call, no per-batch index copies) and not measured "
            "since: no GPU machine was available for that change. `make bench-gpu` on a GPU machine "
            "measures it, against the bare forward of the very batches `encode` makes (goal ≥ 0.9×); "
            "`bench/bench_gpu.py --tiny --device cpu` checks the script on CPU.",
            "",
        ]
    )
    lines += [
        f"`bench/bench_gpu.py` on **{data['device']}** (torch {data['torch']}): random-init "
        "Qwen3-Embedding shapes in bf16, no weights and no network; synthetic texts with long-tailed "
        "lengths, max 512 tokens. "
        "era-exp's tokens/s covers the whole `encode` call (tokenisation, length sorting, padding, pooling, "
        "normalisation, copy back to the host); the bare forward is one fixed batch of the mean length, "
        "without padding or a mask.",
        "",
        "| model | batch | texts | era-exp tokens/s | bare forward tokens/s | ratio | peak GPU GiB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in data["encode"]:
        lines.append(
            f"| {row['model']} | {row['batch_size']} | {row['texts']} | {row['era_exp_tokens_per_s']:,} "
            f"| {row['bare_forward_tokens_per_s']:,} | {row['ratio_to_bare']} | {row['peak_gpu_mem_gib']} |"
        )
    if current:
        lines += [
            "",
            "Against the bare forward of the same batches (same shapes and masks, staged on the GPU "
            "beforehand; the floor of the pipeline):",
            "",
            "| model | era-exp tokens/s | bare, same batches tokens/s | ratio |",
            "|---|---:|---:|---:|",
        ]
        lines += [
            f"| {row['model']} | {row['era_exp_tokens_per_s']:,} | {row['bare_same_batches_tokens_per_s']:,} "
            f"| {row['ratio_to_same_batches']} |"
            for row in data["encode"]
        ]
    s = data["search"]
    lines += [
        "",
        f"Exact search (torch on GPU): {s['docs']:,} documents × {s['queries']:,} queries, dim {s['dim']}, "
        f"top-{s['k']}: {s['seconds_incl_transfer']} s including the host-to-GPU copy of the corpus "
        f"({s['queries_per_s']:,} queries/s, {s['doc_scores_per_s']} query-document scores/s).",
    ]
    return lines


def render() -> str:
    sections = [
        ("Encoding throughput", encode_section(_load("encode"), _load("encode_h100_host"))),
        ("Runs with warm caches", runs_section(_load("runs"))),
        ("Stages against a bare loop", stages_section(_load("stages"))),
        ("A warm grid point end to end", warm_section(_load("warm_run"))),
        ("Sweeps", sweep_section(_load("sweep"))),
        ("Scale: the full MAIR shape", scale_section(_load("scale"))),
        ("GPU", gpu_section(_load("gpu"))),
    ]
    lines = [
        "# Benchmarks",
        "",
        "Made by `make bench` (CPU figures), `make bench-gpu` (GPU figures) and `make bench-scale` (the",
        "full MAIR shape on a replica), which write",
        "`bench/results/*.json`; this page is rendered from those files by `bench/run_all.py`.",
        "Speed is measured here, never asserted in tests.",
    ]
    for title, body in sections:
        lines += ["", f"## {title}", "", *body]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="../shared/data/mair-lite")
    parser.add_argument("--render-only", action="store_true")
    args = parser.parse_args()
    if not args.render_only:
        run_benchmarks(args.data_root)
    page = render()
    PAGE.write_text(page, encoding="utf-8")
    print(page)


if __name__ == "__main__":
    main()
