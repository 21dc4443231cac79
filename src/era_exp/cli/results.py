"""Regenerate the committed result pages under docs/results/ from real runs.

``python -m era_exp.cli.results zero-shot --data-root ../shared/data/mair-lite`` writes
docs/results/zero-shot.md; ``... reproduction`` writes docs/results/reproduction.md. Runs go to
``outputs/results/<name>`` and are skipped when already complete, so a rerun only rebuilds the page.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from era_exp.config import compose
from era_exp.io import atomic_write_text
from era_exp.pipeline.run import run

ZERO_SHOT = {"MiniLM": "minilm_to_minilm", "mpnet": "mpnet_to_mpnet"}
RATIOS = (0.05, 0.2)


def run_point(name: str, overrides: Sequence[str], data_root: str, out_root: Path) -> dict:
    """Run (or reuse) one configuration on the local data root."""
    cfg = compose(["data=mair_lite", f"data.root={data_root}", *overrides], return_hydra_config=False)
    return run(cfg, out_root / name)


def zero_shot_page(data_root: str, out_root: Path, command: str) -> str:
    results = {
        label: run_point(f"zero_shot-{pair}", [f"pair={pair}"], data_root, out_root)
        for label, pair in ZERO_SHOT.items()
    }
    columns = [f"{label} zero-shot" for label in results]
    lines = [
        "# Zero-shot nDCG@10 on mair-lite",
        "",
        f"Made by `{command}` (test split of the split protocol, seed 42; nDCG@10 × 100).",
        "",
        *_task_table(results, columns),
        "",
        *_domain_table(results, columns),
    ]
    return "\n".join(lines) + "\n"


def reproduction_page(data_root: str, out_root: Path, command: str) -> str:
    points: dict[str, dict] = {
        "MiniLM zero-shot": run_point(
            "zero_shot-minilm_to_minilm", ["pair=minilm_to_minilm"], data_root, out_root
        ),
        "mpnet zero-shot": run_point(
            "zero_shot-mpnet_to_mpnet", ["pair=mpnet_to_mpnet"], data_root, out_root
        ),
        "align-only": run_point(
            "align_only-mpnet_to_minilm", ["pair=mpnet_to_minilm", "method=align_only"], data_root, out_root
        ),
    }
    for ratio in RATIOS:
        for method, label in (("label_only", "label-only"), ("era", "ERA")):
            overrides = ["pair=mpnet_to_minilm", f"method={method}", f"train_ratio={ratio}"]
            points[f"{label} {ratio}"] = run_point(
                f"{method}-mpnet_to_minilm-{ratio}", overrides, data_root, out_root
            )
    for ratio in RATIOS:
        overrides = ["pair=minilm_to_minilm", "method=era", f"train_ratio={ratio}"]
        points[f"MiniLM→MiniLM ERA {ratio}"] = run_point(
            f"era-minilm_to_minilm-{ratio}", overrides, data_root, out_root
        )
    columns = list(points)
    lines = [
        "# Reproduction: ERA on mair-lite with the bundled models",
        "",
        f"Made by `{command}`. Query embedder all-mpnet-base-v2, document embedder all-MiniLM-L6-v2",
        "unless the column says otherwise; in-domain setting (both stages train on every task's train",
        "split), test split, seed 42, the paper's hyper-parameters (conf/stage1/paper.yaml,",
        "conf/stage2/paper.yaml). nDCG@10 × 100.",
        "",
        *_task_table(points, columns),
        "",
        *_domain_table(points, columns),
        "",
        "## Findings",
        "",
        *_findings(points),
    ]
    return "\n".join(lines) + "\n"


def _task_table(results: dict[str, dict], columns: list[str]) -> list[str]:
    first = next(iter(results.values()))
    tasks = sorted(first["per_task"], key=lambda task: (first["per_task"][task]["domain"], task))
    lines = ["| task | domain | " + " | ".join(columns) + " |", "|---|---|" + "---:|" * len(columns)]
    for task in tasks:
        cells = [_pct(results[col]["per_task"][task]["ndcg@10"]) for col in columns]
        lines.append(f"| {task} | {first['per_task'][task]['domain']} | " + " | ".join(cells) + " |")
    for key, label in (("ndcg@10", "mean over tasks"), ("ndcg@10_domain_mean", "mean of domain means")):
        cells = [f"**{_pct(results[col]['overall'][key])}**" for col in columns]
        lines.append(f"| **{label}** | | " + " | ".join(cells) + " |")
    return lines


def _domain_table(results: dict[str, dict], columns: list[str]) -> list[str]:
    domains = sorted(next(iter(results.values()))["per_domain"])
    lines = ["| domain | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for domain in domains:
        lines.append(
            f"| {domain} | "
            + " | ".join(_pct(results[c]["per_domain"][domain]["ndcg@10"]) for c in columns)
            + " |"
        )
    return lines


def _findings(points: dict[str, dict]) -> list[str]:
    """Plain statements: does ERA beat label-only at each ratio, and MiniLM zero-shot, domain by domain."""
    minilm = points["MiniLM zero-shot"]
    lines = []
    for ratio in RATIOS:
        lines.append(
            _compare(
                f"ERA {ratio}", points[f"ERA {ratio}"], f"label-only {ratio}", points[f"label-only {ratio}"]
            )
        )
    for ratio in RATIOS:
        lines.append(_compare(f"ERA {ratio}", points[f"ERA {ratio}"], "MiniLM zero-shot", minilm))
    return lines


def _compare(a_name: str, a: dict, b_name: str, b: dict) -> str:
    score_a, score_b = a["overall"]["ndcg@10"], b["overall"]["ndcg@10"]
    verdict = "beats" if score_a > score_b else "does not beat"
    domains = sorted(a["per_domain"])
    wins = [d for d in domains if a["per_domain"][d]["ndcg@10"] > b["per_domain"][d]["ndcg@10"]]
    losses = [d for d in domains if d not in wins]
    return (
        f"- {a_name} {verdict} {b_name} overall ({_pct(score_a)} vs {_pct(score_b)}, mean over tasks); "
        f"better in {', '.join(wins) or 'no domain'}; not better in {', '.join(losses) or 'no domain'}."
    )


def _pct(value: float) -> str:
    return f"{100 * value:.1f}"


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry: build one of the result pages."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", choices=["zero-shot", "reproduction"])
    parser.add_argument("--data-root", default="../shared/data/mair-lite")
    parser.add_argument("--out-root", default="outputs/results")
    parser.add_argument("--docs", default="docs/results")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    command = f"make {args.page}"
    build = zero_shot_page if args.page == "zero-shot" else reproduction_page
    page = build(args.data_root, Path(args.out_root), command)
    path = atomic_write_text(Path(args.docs) / f"{args.page}.md", page)
    print(page)
    print(f"written: {path}")


if __name__ == "__main__":
    main()
