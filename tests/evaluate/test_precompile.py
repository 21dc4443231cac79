"""What ``make install`` compiles is what a real task's evaluation runs: nothing is compiled again."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from numba.core.registry import CPUDispatcher

from era_exp.evaluate.metrics import evaluate_run
from era_exp.evaluate.precompile import precompile


def _dispatchers() -> dict[str, CPUDispatcher]:
    """Every numba function of ranx's metrics and of era-exp's ranking, by qualified name."""
    import ranx.metrics  # noqa: F401  (loads the submodules)

    from era_exp.evaluate import ranking

    # Submodules by sys.modules: ranx.metrics' attributes of their names are the functions they export.
    modules = [module for name, module in sys.modules.items() if name.startswith("ranx.metrics.")]
    modules.append(ranking)
    return {
        f"{module.__name__}.{name}": value
        for module in modules
        for name, value in vars(module).items()
        if isinstance(value, CPUDispatcher)
    }


@pytest.mark.mair_lite
def test_a_real_task_evaluates_with_the_precompiled_signatures_only(mair_lite_root: Path) -> None:
    precompile()
    compiled = {name: set(dispatcher.signatures) for name, dispatcher in _dispatchers().items()}
    assert compiled["era_exp.evaluate.ranking.ranx_order"]
    lines = (mair_lite_root / "TMDB" / "queries.jsonl").read_text(encoding="utf-8").splitlines()[:40]
    qrels = {q["qid"]: {label["id"]: label["score"] for label in q["labels"]} for q in map(json.loads, lines)}
    # The judged documents by their real ids, tied scores, and a hundred unjudged hits per query.
    run = {
        qid: {doc: 0.5 for doc in labels} | {f"unjudged-{i}": i % 3 / 10 for i in range(100)}
        for qid, labels in qrels.items()
    }
    evaluate_run(qrels, run)
    for metric in ("ndcg@10", "recall@100"):
        evaluate_run(qrels, run, [metric])
    after = {name: set(dispatcher.signatures) for name, dispatcher in _dispatchers().items()}
    assert after == compiled
