"""ranx's nDCG@10 equals trec_eval's definition (linear gain, graded labels) on a real run."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from era_exp.evaluate.aggregate import aggregate
from era_exp.evaluate.metrics import EvaluationError, evaluate_run, evaluate_units
from era_exp.report.significance import ranx_containers


def trec_eval_ndcg_cut(qrels: dict[str, int], ranking: list[str], k: int = 10) -> float:
    """trec_eval's ndcg_cut: gain = grade, discount log2(rank + 1), ideal from every judged grade."""
    dcg = sum(qrels.get(doc, 0) / math.log2(rank + 2) for rank, doc in enumerate(ranking[:k]))
    ideal = sorted((grade for grade in qrels.values() if grade > 0), reverse=True)[:k]
    idcg = sum(grade / math.log2(rank + 2) for rank, grade in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _tfidf_run(queries: list[dict], docs: list[dict], k: int = 100) -> dict[str, dict[str, float]]:
    """A real lexical run: TF-IDF dot products over an inverted index, ties broken by a tiny offset."""
    doc_terms = [Counter(doc["doc"].lower().split()) for doc in docs]
    df = Counter(term for terms in doc_terms for term in terms)
    idf = {term: math.log(len(docs) / count) + 1.0 for term, count in df.items()}
    postings: dict[str, list[tuple[int, float]]] = {}
    for row, terms in enumerate(doc_terms):
        norm = math.sqrt(sum((count * idf[term]) ** 2 for term, count in terms.items()))
        for term, count in terms.items():
            postings.setdefault(term, []).append((row, count * idf[term] / norm))
    run = {}
    for query in queries:
        scores = np.arange(len(docs)) * 1e-9
        for term, count in Counter(query["query"].lower().split()).items():
            for row, weight in postings.get(term, []):
                scores[row] += count * idf[term] * weight
        top = np.argsort(-scores)[:k]
        run[query["qid"]] = {docs[i]["id"]: float(scores[i]) for i in top}
    return run


@pytest.mark.mair_lite
def test_ranx_ndcg_matches_trec_eval_on_graded_nfcorpus(mair_lite_root: Path) -> None:
    queries = _read_jsonl(mair_lite_root / "NFCorpus" / "queries.jsonl")[:120]
    docs = _read_jsonl(mair_lite_root / "NFCorpus" / "docs.jsonl")
    qrels = {q["qid"]: {label["id"]: label["score"] for label in q["labels"]} for q in queries}
    grades = {grade for labels in qrels.values() for grade in labels.values()}
    assert grades == {1, 2}, "graded labels expected"
    run = _tfidf_run(queries, docs)
    means, per_query = evaluate_run(qrels, run, ["ndcg@10"])
    expected = {
        qid: trec_eval_ndcg_cut(qrels[qid], sorted(run[qid], key=lambda doc: -run[qid][doc])) for qid in qrels
    }
    assert max(abs(per_query[qid]["ndcg@10"] - expected[qid]) for qid in qrels) < 1e-9
    assert means["ndcg@10"] == pytest.approx(np.mean(list(expected.values())), abs=1e-12)
    assert 0.05 < means["ndcg@10"] < 0.9, "a lexical run on NFCorpus is neither empty nor perfect"


@pytest.mark.mair_lite
def test_metrics_equal_those_of_ranx_containers_ties_included(mair_lite_root: Path) -> None:
    """The arrays handed to ``ranx.evaluate`` give what ``ranx.Qrels``/``ranx.Run`` give, bit for bit.

    Scores rounded to two decimals tie many hits, so the order tied hits come in (ranx's own) decides
    the values; judged documents that were never retrieved and ids with spaces are included too.
    """
    import ranx

    queries = _read_jsonl(mair_lite_root / "NFCorpus" / "queries.jsonl")[:120]
    docs = _read_jsonl(mair_lite_root / "NFCorpus" / "docs.jsonl")
    qrels = {q["qid"]: {label["id"]: label["score"] for label in q["labels"]} for q in queries}
    qrels[queries[0]["qid"]]["a judged document never retrieved"] = 2
    run = {
        qid: {doc.replace("MED", "MED "): round(score, 2) for doc, score in ranked.items()}
        for qid, ranked in _tfidf_run(queries, docs).items()
    }
    qrels = {
        qid: {doc.replace("MED", "MED "): grade for doc, grade in labels.items()}
        for qid, labels in qrels.items()
    }
    ties = sum(len(ranked) - len(set(ranked.values())) for ranked in run.values())
    assert ties > 1000, "the rounded run is full of ties"
    metrics = ["ndcg@10", "map@100", "recall@100", "mrr@100", "precision@5"]
    means, per_query = evaluate_run(qrels, run, metrics)
    containers = ranx.Run(run)
    expected = ranx.evaluate(ranx.Qrels(qrels), containers, metrics, return_mean=False)
    assert list(per_query) == list(containers.keys())
    for metric in metrics:
        assert [per_query[qid][metric] for qid in per_query] == [float(v) for v in expected[metric]]
        assert means[metric] == float(np.mean(expected[metric]))
    alone, _ = evaluate_run(qrels, run, ["ndcg@10"])
    assert alone == {"ndcg@10": means["ndcg@10"]}
    # The significance tests' containers, ids renamed to one width, give the same values too.
    renamed_qrels, (renamed_run,) = ranx_containers(qrels, {"run": run})
    renamed = ranx.evaluate(renamed_qrels, renamed_run, metrics, return_mean=False)
    assert all(list(renamed[metric]) == list(expected[metric]) for metric in metrics)


def test_metrics_on_a_hand_checked_run() -> None:
    qrels = {"q1": {"a": 2, "b": 1}, "q2": {"c": 1}}
    run = {"q1": {"b": 0.9, "x": 0.5, "a": 0.1}, "q2": {"x": 1.0, "c": 0.5}}
    means, per_query = evaluate_run(qrels, run)
    assert per_query["q1"]["ndcg@10"] == pytest.approx((1 + 2 / 2) / (2 + 1 / math.log2(3)))
    assert per_query["q2"]["mrr@100"] == pytest.approx(0.5)
    assert per_query["q1"]["map@100"] == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert means["recall@100"] == pytest.approx(1.0)


def test_a_query_without_retrieved_documents_fails_loudly() -> None:
    with pytest.raises(EvaluationError, match="no retrieved documents"):
        evaluate_run({"q1": {"a": 1}, "q2": {"b": 1}}, {"q1": {"a": 1.0}}, name="T")


def _unit(score: float, n: int) -> dict[str, float]:
    return {"ndcg@10": score, "num_queries": n}


def test_aggregate_weighs_splits_by_queries_as_mair_and_keeps_the_plain_means() -> None:
    units = {"A": _unit(0.2, 10), "B/x": _unit(0.4, 3), "B/y": _unit(0.8, 1), "C": _unit(0.9, 6)}
    unit_task = {"A": "A", "B/x": "B", "B/y": "B", "C": "C"}
    summary = aggregate(units, unit_task, {"A": "Code", "B": "Code", "C": "Legal"}, ["ndcg@10"])
    b = summary["per_task"]["B"]
    assert b["ndcg@10"] == pytest.approx((0.4 * 3 + 0.8 * 1) / 4), "MAIR: splits weighted by query count"
    assert b["ndcg@10_split_mean"] == pytest.approx(0.6), "MTEB's public results: plain mean of splits"
    assert (b["num_queries"], b["num_splits"]) == (4, 2)
    assert summary["per_task"]["A"]["ndcg@10"] == summary["per_task"]["A"]["ndcg@10_split_mean"] == 0.2
    assert summary["per_domain"]["Code"]["ndcg@10"] == pytest.approx((0.2 + 0.5) / 2)
    overall = summary["overall"]
    assert overall["ndcg@10"] == pytest.approx((0.2 + 0.5 + 0.9) / 3), "mean over tasks"
    assert overall["ndcg@10_domain_mean"] == pytest.approx(((0.2 + 0.5) / 2 + 0.9) / 2)
    assert overall["ndcg@10_query_weighted"] == pytest.approx((2.0 + 1.2 + 0.8 + 5.4) / 20), "MAIR's Avg"
    assert overall["num_queries"] == 20


def test_aggregate_skips_units_that_scored_nothing_but_never_a_whole_task() -> None:
    units = {"B/x": _unit(0.4, 3)}
    summary = aggregate(units, {"B/x": "B", "B/y": "B"}, {"B": "Web"}, ["ndcg@10"])
    assert summary["per_task"]["B"]["num_splits"] == 1
    with pytest.raises(EvaluationError, match=r"tasks \['C'\] have no scored query"):
        aggregate(units, {"B/x": "B", "C": "C"}, {"B": "Web", "C": "Web"}, ["ndcg@10"])


def test_units_evaluated_together_match_units_evaluated_alone() -> None:
    a = ({"q1": {"x": 1}, "q2": {"y": 2}}, {"q1": {"x": 0.2, "y": 0.9}, "q2": {"y": 0.5, "x": 0.1}})
    b = ({"q1": {"z": 1}}, {"q1": {"w": 0.9, "z": 0.3}})
    together = evaluate_units({"A": a, "B": b})
    assert together["A"] == pytest.approx(evaluate_run(*a)[0])
    assert together["B"] == pytest.approx(evaluate_run(*b)[0])
    with pytest.raises(EvaluationError, match="'B'"):
        evaluate_units({"A": a, "B": ({"q9": {"z": 1}}, {})})


def test_a_wrong_metric_from_ranx_fails_instead_of_being_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """A damaged compiled cache could make ranx return wrong values: the independent check stops the run."""
    from era_exp.evaluate import metrics

    qrels = {"q1": {"d1": 1}, "q2": {"d2": 2}}
    run = {"q1": {"d1": 0.9, "d2": 0.1}, "q2": {"d1": 0.8, "d2": 0.7}}
    ranx = metrics._ranx()
    real = ranx.evaluate

    def damaged(*args, **kwargs):
        scores = real(*args, **kwargs)
        return {metric: np.zeros_like(values) for metric, values in scores.items()}

    monkeypatch.setattr(ranx, "evaluate", damaged)
    with pytest.raises(EvaluationError, match=r"ranx's ndcg@10 of query 'q1' is 0.000000, an independent"):
        evaluate_run(qrels, run, ["ndcg@10"], name="TaskA")
