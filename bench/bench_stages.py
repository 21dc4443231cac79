"""Stage 1 and Stage 2 per epoch against a bare PyTorch loop of the same shape, in the same run.

Each case runs one real era-exp run (warm cache) and keeps the inputs its stages received. Then,
interleaved ``--repeats`` times on those inputs: era-exp's stage (the in-memory loop), and a bare
loop doing the same steps (AdamW, Stage 2's per-step warm-up/decay schedule, a validation pass
per epoch, Stage 2's best-weights copy) for the same number of epochs, on the same number of
threads. Lightning's Trainer on the same module (``engine="lightning"``) is timed once per case,
for the cost the loop removed. Figures are the fastest repeat (the least disturbed by other
processes on shared cores) and the median. Writes JSON to --out and prints a table.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

import era_exp.pipeline.train as pipeline_train
from era_exp.config import compose
from era_exp.pipeline.run import run
from era_exp.stages.adaptation import AdaptationRows, warmup_linear
from era_exp.stages.alignment import AlignmentRows
from era_exp.stages.trainer import step_flops, threads_for

REFERENCE_TASKS = (
    "AILA2019-Statutes,Competition-Math,HuggingfaceAPI,LegalQuAD,MBPP,PytorchAPI,SpotifyAPI,TMDB"
)
CASES = {
    "built-in task, MiniLM→MiniLM": ["data=builtin", "pair=minilm_to_minilm"],
    "built-in task, mpnet→MiniLM": ["data=builtin", "pair=mpnet_to_minilm"],
    "8 reference tasks, MiniLM→MiniLM": ["data=mair_lite", f"data.tasks=[{REFERENCE_TASKS}]"],
    "8 reference tasks, mpnet→MiniLM": [
        "data=mair_lite",
        f"data.tasks=[{REFERENCE_TASKS}]",
        "pair=mpnet_to_minilm",
    ],
    # The authors' setting: their 11 tasks (the set bench_warm.py uses), mpnet queries, MiniLM index.
    "11 tasks, mpnet→MiniLM": [
        "data=mair_lite",
        f"data.tasks=[{REFERENCE_TASKS},HumanEval-X,NFCorpus,SciFact]",
        "pair=mpnet_to_minilm",
    ],
}
# Measured by default: both built-in cases, the 8 reference tasks on MiniLM, the authors' setting.
DEFAULT_CASES = [case for case in CASES if case != "8 reference tasks, mpnet→MiniLM"]
# Stage 1 trained, never reused from the Stage-1 store, so both stages' calls are captured.
ERA = ["method=era", "train_ratio=0.2", "reuse_stage1=false"]


def capture(overrides: list[str]) -> tuple[dict, dict]:
    """Run ERA once; return the results and each stage's call (adapter before, inputs, config, seed)."""
    calls: dict[str, tuple] = {}

    def recording(name: str, stage):
        def call(adapter, *args, **kwargs):
            calls[name] = (copy.deepcopy(adapter), args, kwargs)
            return stage(adapter, *args, **kwargs)

        return call

    originals = pipeline_train.train_alignment, pipeline_train.train_adaptation
    pipeline_train.train_alignment = recording("stage1", originals[0])
    pipeline_train.train_adaptation = recording("stage2", originals[1])
    try:
        cfg = compose([*overrides, *ERA], return_hydra_config=False)
        with tempfile.TemporaryDirectory() as out_dir:
            results = run(cfg, out_dir)
    finally:
        pipeline_train.train_alignment, pipeline_train.train_adaptation = originals
    return results, calls


def _batches(n: int, batch_size: int, generator: torch.Generator):
    order = torch.randperm(n, generator=generator)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def bare_alignment(adapter, q, d, cfg, seed: int) -> int:
    """Stage 1's steps in plain PyTorch: returns epochs run."""
    data = AlignmentRows(q, d, cfg.batch_size, cfg.holdout, seed)
    (qt, dt), (qv, dv) = data.train_set.tensors, data.val_set.tensors
    optimizer = torch.optim.AdamW(adapter.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(cfg.epochs):
        adapter.train()
        for rows in _batches(len(qt), cfg.batch_size, generator):
            loss = cfg.loss(adapter(qt[rows]), dt[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        adapter.eval()
        with torch.no_grad():
            for start in range(0, len(qv), cfg.batch_size):
                stop = start + cfg.batch_size
                float(cfg.loss(adapter(qv[start:stop]), dv[start:stop]))
    return cfg.epochs


def bare_adaptation(adapter, train, val, cfg, seed: int, epochs: int) -> int:
    """Stage 2's steps in plain PyTorch for ``epochs`` epochs, keeping the best weights."""
    data = AdaptationRows(train, val, cfg.objective, cfg.batch_size, seed)
    tq, tc = data.train_set.tensors
    vq, vc = data.val_set.tensors
    optimizer = torch.optim.AdamW(adapter.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    total = cfg.nominal_epochs * data.steps_per_epoch
    warmup = int(cfg.warmup_fraction * total)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_linear(s, warmup, total))
    generator = torch.Generator().manual_seed(seed)
    best, state = math.inf, None
    for _ in range(epochs):
        adapter.train()
        for rows in _batches(len(tq), cfg.batch_size, generator):
            loss = cfg.objective.on_candidates(adapter(tq[rows]), tc[rows], validation=False)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
        adapter.eval()
        with torch.no_grad():
            value = 0.0
            for start in range(0, len(vq), cfg.batch_size):
                stop = start + cfg.batch_size
                loss = cfg.objective.on_candidates(adapter(vq[start:stop]), vc[start:stop], validation=True)
                value += float(loss) * (stop - start)
        if value < best:
            best, state = value, {k: v.clone() for k, v in adapter.state_dict().items()}
    adapter.load_state_dict(state)
    return epochs


def _timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def measure_stage(name: str, call: tuple, report: dict, repeats: int) -> dict:
    """ms/epoch of era-exp's stage, the bare loop and Lightning's Trainer on one captured stage call."""
    adapter, args, kwargs = call
    stage = pipeline_train.train_alignment if name == "stage1" else pipeline_train.train_adaptation
    cfg, seed = args[2], args[3]
    epochs = report["epochs"]
    threads = threads_for(step_flops(adapter, cfg.batch_size))

    def era(engine: str = "loop"):
        result = stage(copy.deepcopy(adapter), *args, **{**kwargs, "engine": engine})
        assert result["epochs"] == epochs, "the stage is deterministic"

    def bare():
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            if name == "stage1":
                bare_alignment(copy.deepcopy(adapter), args[0], args[1], cfg, seed)
            else:
                bare_adaptation(copy.deepcopy(adapter), args[0], args[1], cfg, seed, epochs)
        finally:
            torch.set_num_threads(before)

    era_s, bare_s = [], []
    for _ in range(repeats):
        era_s.append(_timed(era))
        bare_s.append(_timed(bare))
    lightning_s = _timed(lambda: era("lightning"))
    per_epoch = lambda seconds: round(1000 * seconds / epochs, 3)  # noqa: E731
    return {
        "epochs": epochs,
        "train_rows": report["n_train"],
        "val_rows": report["n_val"],
        "batch_size": cfg.batch_size,
        "dims": [adapter.d_in, adapter.d_out],
        "threads": threads,
        "era_ms_per_epoch": per_epoch(min(era_s)),
        "era_ms_per_epoch_median": per_epoch(statistics.median(era_s)),
        "bare_ms_per_epoch": per_epoch(min(bare_s)),
        "bare_ms_per_epoch_median": per_epoch(statistics.median(bare_s)),
        "ratio_to_bare": round(min(era_s) / min(bare_s), 2),
        "lightning_trainer_ms_per_epoch": per_epoch(lightning_s),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="../shared/data/mair-lite")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cases", nargs="*", default=DEFAULT_CASES, help=f"any of {list(CASES)}")
    parser.add_argument("--out", default="bench/results/stages.json")
    args = parser.parse_args()
    rows = []
    for case in args.cases:
        overrides = CASES[case] + ([f"data.root={args.data_root}"] if "data=mair_lite" in CASES[case] else [])
        results, calls = capture(overrides)
        for name in ("stage1", "stage2"):
            key = "alignment" if name == "stage1" else "adaptation"
            figures = measure_stage(name, calls[name], results["stages"][key], args.repeats)
            rows.append({"case": case, "stage": name, **figures})
            print(json.dumps(rows[-1]), flush=True)
    out = {
        "machine": {"cpus": os.cpu_count(), "torch": torch.__version__, "load_avg": os.getloadavg()},
        "repeats": args.repeats,
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print("| case | stage | epochs | era-exp ms/epoch | bare loop ms/epoch | ratio | Trainer ms/epoch |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['case']} | {r['stage']} | {r['epochs']} | {r['era_ms_per_epoch']} "
            f"| {r['bare_ms_per_epoch']} | {r['ratio_to_bare']}× | {r['lightning_trainer_ms_per_epoch']} |"
        )


if __name__ == "__main__":
    main()
