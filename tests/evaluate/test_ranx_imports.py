"""A run's evaluation loads ranx without its plotting, statistics and dataset packages; ranx stays whole.

ranx's package imports matplotlib, seaborn, scipy.stats, pandas and ir_datasets at module level,
seconds of every grid point's process. The checks run in a fresh interpreter, where nothing else
has imported them yet.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from era_exp.evaluate.metrics import RANX_DEFERRED

_EVALUATE_THEN_USE_RANX = """
import json, sys
from pathlib import Path

from era_exp.evaluate.metrics import evaluate_run

data = json.loads(Path(sys.argv[1]).read_text())
qrels, run, other = data["qrels"], data["run"], data["other"]
means, per_query = evaluate_run(qrels, run, ["ndcg@10", "map@100"])
deferred = sorted(name for name in {deferred} if name in sys.modules and name != "scipy")
stats_loaded = "scipy.stats" in sys.modules

# Everything ranx offers still works in the same process, on the real packages.
import numpy as np
import pandas
import ranx
import scipy.stats

containers = ranx.Qrels(qrels), ranx.Run(run, name="a"), ranx.Run(other, name="b")
report = ranx.compare(containers[0], list(containers[1:]), ["ndcg@10"], stat_test="student").to_dict()
a = ranx.evaluate(containers[0], containers[1], "ndcg@10", return_mean=False)
b = ranx.evaluate(containers[0], containers[2], "ndcg@10", return_mean=False)
print(json.dumps({{
    "deferred_loaded": deferred,
    "stats_loaded": stats_loaded,
    "ndcg": means["ndcg@10"],
    "ranx_ndcg": float(np.mean(a)),
    "p_value": report["a"]["comparisons"]["b"]["ndcg@10"],
    "scipy_p_value": float(scipy.stats.ttest_rel(a, b, alternative="two-sided").pvalue),
    "dataframe": isinstance(containers[1].to_dataframe(), pandas.DataFrame),
    "pandas_is_real": type(pandas) is type(np),
}}))
"""


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.mair_lite
def test_evaluation_defers_ranx_extras_and_a_later_import_ranx_is_whole(
    mair_lite_root: Path, tmp_path: Path
) -> None:
    queries = _jsonl(mair_lite_root / "SciFact" / "queries.jsonl")[:60]
    docs = [doc["id"] for doc in _jsonl(mair_lite_root / "SciFact" / "docs.jsonl")[:300]]
    qrels = {q["qid"]: {label["id"]: label["score"] for label in q["labels"]} for q in queries}
    # Two runs of real corpus ids that rank each query's judged documents at different depths.
    ranked = {d: 1.0 - i / 1e3 for i, d in enumerate(docs[:50])}

    def at_depth(labels: dict[str, int], depth: int) -> dict[str, float]:
        return ranked | {doc: 1.0 - (depth - 0.5) / 1e3 for doc in labels}

    run = {qid: at_depth(labels, n % 12) for n, (qid, labels) in enumerate(qrels.items())}
    other = {qid: at_depth(labels, 3 + n * 7 % 30) for n, (qid, labels) in enumerate(qrels.items())}
    data = tmp_path / "runs.json"
    data.write_text(json.dumps({"qrels": qrels, "run": run, "other": other}))
    code = _EVALUATE_THEN_USE_RANX.format(deferred=repr((*RANX_DEFERRED, "matplotlib.pyplot")))
    done = subprocess.run(
        [sys.executable, "-c", code, str(data)],
        env={**os.environ, "ERA_QUIET": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["deferred_loaded"] == [] and not result["stats_loaded"], result
    assert result["ndcg"] == result["ranx_ndcg"] and 0.0 < result["ndcg"] < 1.0
    assert result["p_value"] == result["scipy_p_value"] and 0.0 <= result["p_value"] < 0.05
    assert result["dataframe"] and result["pandas_is_real"]
