"""The hub loader through the real ``datasets.load_dataset``: a MAIR-shaped mirror, the datasets cache
offline, pinned revisions, an unreachable hub, and selections that match nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from era_exp.data.assemble import CorpusPool
from era_exp.data.errors import DataError, UnknownTaskError
from era_exp.data.hub import QUERIES_REPO, load_hub_tasks, resolve_revision
from era_exp.data.schema import CorpusRows
from era_exp.data.sources import HubSource

COMMIT = "7d24eac886a6ae6653a6b67433e1c302cb0e9ac6"
OTHER_COMMIT = "0" * 40


@pytest.fixture(scope="module")
def mirror(mair_replica: Path) -> dict[str, str]:
    """``queries`` / ``docs`` arguments that read the replica's two repos as local mirrors."""
    return {"queries": str(mair_replica / "MAIR-Queries"), "docs": str(mair_replica / "MAIR-Docs")}


def _jsonl_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_a_mirror_reads_like_the_hub_with_one_unit_per_split(
    mirror: dict[str, str], mair_replica: Path, tmp_path: Path
) -> None:
    tasks = load_hub_tasks(["SciFact", "CQADupStack"], cache_dir=str(tmp_path), **mirror)
    names = [task.name for task in tasks]
    assert names[0] == "SciFact" and len(names) == 13
    assert names[1:4] == ["CQADupStack/CQADupStack_Android", "CQADupStack/CQADupStack_English", *names[3:4]]
    scifact = tasks[0]
    rows = _jsonl_rows(mair_replica / "MAIR-Queries" / "SciFact" / "queries.jsonl")
    assert [q.qid for q in scifact.queries] == [str(row["qid"]) for row in rows]
    assert scifact.queries[0].labels == {str(x["id"]): x["score"] for x in rows[0]["labels"]}
    docs = _jsonl_rows(mair_replica / "MAIR-Docs" / "SciFact" / "docs.jsonl")
    assert scifact.corpus.ids == tuple(str(row["id"]) for row in docs)
    android = tasks[1]
    android_docs = mair_replica / "MAIR-Docs" / "CQADupStack" / "CQADupStack_Android_docs.jsonl"
    assert len(android.corpus) == len(_jsonl_rows(android_docs)), "each sub-split keeps its own corpus"
    assert {task.task for task in tasks[1:]} == {"CQADupStack"}


def test_single_query_sub_splits_and_shared_corpora(mirror: dict[str, str], tmp_path: Path) -> None:
    tasks = load_hub_tasks(["SWE-Bench-Lite", "ELI5"], cache_dir=str(tmp_path), **mirror)
    swe = [task for task in tasks if task.task == "SWE-Bench-Lite"]
    assert len(swe) == 119 and all(len(task.queries) == 1 for task in swe)
    assert swe[0].name == "SWE-Bench-Lite/astropy__astropy_12544"
    [eli5] = [task for task in tasks if task.task == "ELI5"]
    assert eli5.corpus.key.startswith("AY2-"), "ELI5 reads AY2's shared corpus"


def test_merged_mode_prefixes_ids_with_the_split(mirror: dict[str, str], tmp_path: Path) -> None:
    [task] = load_hub_tasks(["CUAD"], multi_split="merged", cache_dir=str(tmp_path), **mirror)
    assert task.name == "CUAD"
    assert {doc_id.split("/")[0] for doc_id in task.corpus.ids} == {
        "GOOSEHEADINSURANCE",
        "GRANTIERRAENERGY",
        "HarpoonTherapeutics",
        "Monsanto_Company",
    }


def test_a_pinned_revision_must_match_what_a_mirror_holds(mair_replica: Path, tmp_path: Path) -> None:
    queries = tmp_path / "MAIR-Queries"
    shutil.copytree(mair_replica / "MAIR-Queries", queries)
    docs = str(mair_replica / "MAIR-Docs")
    with pytest.raises(DataError, match=r"revision '7d24\w+' is pinned, but this local folder records no"):
        load_hub_tasks(["SciFact"], queries=str(queries), docs=docs, queries_revision=COMMIT)
    # What `huggingface-cli download --local-dir` leaves: the commit of each file it fetched.
    metadata = queries / ".cache" / "huggingface" / "download" / "README.md.metadata"
    metadata.parent.mkdir(parents=True)
    metadata.write_text(f'{COMMIT}\n"etag"\n1733000000.0\n')
    source = HubSource(tasks=["SciFact"], queries=str(queries), docs=docs, queries_revision=COMMIT)
    source.cache_dir = str(tmp_path / "cache")
    assert len(source.load()) == 1
    assert source.provenance()["revisions"]["queries"] == {
        "location": str(queries),
        "requested": COMMIT,
        "resolved": COMMIT,
    }
    with pytest.raises(DataError, match=rf"is a copy of revision {COMMIT}, but revision '0+' is pinned"):
        load_hub_tasks(["SciFact"], queries=str(queries), docs=docs, queries_revision=OTHER_COMMIT)


@pytest.fixture
def warm_cache(mirror: dict[str, str], tmp_path: Path) -> Path:
    """A datasets cache holding SciFact of both hub repos at a commit, as ``load_dataset`` leaves it online.

    Built the way datasets builds it: load the mirror into a scratch cache, then place its Arrow folder
    where a hub load at that commit stores it (``<namespace>___<name>/<config>/<version>/<commit>``).
    """
    cache = tmp_path / "datasets-cache"
    for repo, location in (("MAIR-Queries", mirror["queries"]), ("MAIR-Docs", mirror["docs"])):
        scratch = tmp_path / f"scratch-{repo}"
        from datasets import load_dataset

        splits = load_dataset(location, "SciFact", cache_dir=str(scratch))
        built = Path(next(iter(splits.values())).cache_files[0]["filename"]).parent
        shutil.copytree(built, cache / f"MAIR-Bench___{repo.lower()}" / "SciFact" / "0.0.0" / COMMIT)
    return cache


def test_offline_a_warm_cache_is_read_and_a_miss_names_the_task(warm_cache: Path) -> None:
    assert os.environ.get("HF_HUB_OFFLINE") == "1", "the test session runs offline"
    source = HubSource(tasks=["SciFact"], cache_dir=str(warm_cache), queries_revision=COMMIT)
    [task] = source.load()
    assert task.name == "SciFact" and len(task.labelled_queries) > 0
    assert source.provenance()["revisions"]["docs"]["resolved"] == COMMIT
    assert resolve_revision(QUERIES_REPO, "SciFact", None, str(warm_cache)) == COMMIT
    with pytest.raises(DataError, match=r"\[MBPP\]: task 'MBPP' is not in the datasets cache .*OFFLINE=1"):
        load_hub_tasks(["SciFact", "MBPP"], cache_dir=str(warm_cache))
    with pytest.raises(DataError, match=r"cache holds revision 7d24\w+, but revision 0+ is pinned"):
        load_hub_tasks(["SciFact"], cache_dir=str(warm_cache), queries_revision=OTHER_COMMIT)


def test_online_an_unreachable_hub_is_a_clear_error_from_datasets_itself(tmp_path: Path) -> None:
    """No socket probe: datasets' own connection error, here against a port nothing listens on."""
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "0",
        "HF_DATASETS_OFFLINE": "0",
        "HF_ENDPOINT": "http://127.0.0.1:9",
    }
    # The hub client's retry backoff (1 + 2 + 4 + 8 + 16 s) would only wait on a refused port.
    code = (
        "import time\n"
        "time.sleep = lambda seconds: None\n"
        "from era_exp.data.hub import load_hub_tasks\n"
        f"load_hub_tasks(['SciFact'], cache_dir={str(tmp_path)!r})\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "MAIR-Bench/MAIR-Queries[SciFact]: cannot reach the hub for task 'SciFact'" in done.stderr


@pytest.mark.parametrize(
    ("tasks", "domains", "message"),
    [
        ([], None, r"matched no MAIR task \(tasks=\[\], domains=None\)"),
        (["SciFact"], ["Code"], r"matched no MAIR task \(tasks=\['SciFact'\], domains=\['Code'\]\)"),
    ],
)
def test_a_selection_matching_no_task_fails_before_any_data_is_read(
    tasks: list[str], domains: list[str] | None, message: str
) -> None:
    with pytest.raises(DataError, match=message):
        HubSource(tasks=tasks, domains=domains).load()


def test_names_are_checked_before_any_data_is_read() -> None:
    with pytest.raises(UnknownTaskError, match="did you mean 'SciFact'"):
        load_hub_tasks(["SciFakt"])
    with pytest.raises(UnknownTaskError, match="did you mean 'Legal'"):
        load_hub_tasks(domains=["legal"])


def _write_mirror(root: Path, config: str, split: str, rows: list[dict]) -> Path:
    """A one-config dataset folder as `huggingface-cli download --local-dir` leaves it."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "README.md").write_text(
        f"---\nconfigs:\n- config_name: {config}\n  data_files:\n  - path: data/{config}.jsonl\n"
        f"    split: {split}\n---\n",
        encoding="utf-8",
    )
    lines = "".join(json.dumps(row) + "\n" for row in rows)
    (root / "data" / f"{config}.jsonl").write_text(lines, encoding="utf-8")
    return root


def _nfcorpus_mirror(root: Path, docs: list[dict]) -> dict[str, str]:
    labels = [{"id": docs[0]["id"], "score": 1}]
    queries = [{"qid": "q1", "instruction": "Find evidence.", "query": "a claim", "labels": labels}]
    return {
        "queries": str(_write_mirror(root / "MAIR-Queries", "NFCorpus", "queries", queries)),
        "docs": str(_write_mirror(root / "MAIR-Docs", "NFCorpus", "docs", docs)),
    }


def test_mirrors_of_one_name_and_a_mirror_updated_in_place_are_read_as_they_are(tmp_path: Path) -> None:
    cache = str(tmp_path / "cache")
    first = _nfcorpus_mirror(tmp_path / "a", [{"id": "1", "doc": "one"}, {"id": "2", "doc": "two"}])
    other = _nfcorpus_mirror(tmp_path / "b", [{"id": "1", "doc": "uno"}, {"id": "3", "doc": "tres"}])
    [task_a] = load_hub_tasks(["NFCorpus"], cache_dir=cache, **first)
    [task_b] = load_hub_tasks(["NFCorpus"], cache_dir=cache, **other)
    assert (task_a.corpus.ids, tuple(task_a.corpus.texts)) == (("1", "2"), ("one", "two"))
    assert (task_b.corpus.ids, tuple(task_b.corpus.texts)) == (("1", "3"), ("uno", "tres"))
    _nfcorpus_mirror(tmp_path / "a", [{"id": "1", "doc": "one, revised"}, {"id": "4", "doc": "four"}])
    [updated] = load_hub_tasks(["NFCorpus"], cache_dir=cache, **first)
    assert (updated.corpus.ids, tuple(updated.corpus.texts)) == (("1", "4"), ("one, revised", "four"))


def test_a_corpus_whose_last_rows_were_dropped_reads_again_as_kept(tmp_path: Path) -> None:
    docs = [{"id": "1", "doc": "one"}, {"id": "2", "doc": "two"}, {"id": "3", "doc": "  "}]
    mirror = _nfcorpus_mirror(tmp_path, docs)
    pool = CorpusPool(0)  # only the corpus in use stays resident
    [task] = load_hub_tasks(
        ["NFCorpus"], strict=False, cache_dir=str(tmp_path / "cache"), pool=pool, **mirror
    )
    pool.residency.admit("another corpus", CorpusRows.of(["x"], ["a document of another corpus"]))
    assert task.corpus.ids == ("1", "2")  # read again from the Arrow file, the dropped row left out
    assert tuple(task.corpus.texts) == ("one", "two")
    assert pool.residency.reads == 1


def test_sub_splits_keep_the_order_the_dataset_card_lists_them_in(tmp_path: Path) -> None:
    # IFEval: one query per sub-split, listed on the hub out of name order; MAIR's evaluator (and
    # so the split protocol's row order) takes them in the card's order.
    subs = ["ifeval_2078", "ifeval_102", "ifeval_2195"]
    for repo, kind in (("MAIR-Queries", "queries"), ("MAIR-Docs", "docs")):
        root = tmp_path / repo
        (root / "data").mkdir(parents=True)
        files = "".join(f"  - path: data/{sub}_{kind}.jsonl\n    split: {sub}_{kind}\n" for sub in subs)
        (root / "README.md").write_text(f"---\nconfigs:\n- config_name: IFEval\n  data_files:\n{files}---\n")
        for sub in subs:
            row = (
                {
                    "qid": f"{sub}-q",
                    "instruction": "Follow it.",
                    "query": sub,
                    "labels": [{"id": "d", "score": 1}],
                }
                if kind == "queries"
                else {"id": "d", "doc": f"the answer for {sub}"}
            )
            (root / "data" / f"{sub}_{kind}.jsonl").write_text(json.dumps(row) + "\n")
    units = load_hub_tasks(
        ["IFEval"],
        cache_dir=str(tmp_path / "cache"),
        queries=str(tmp_path / "MAIR-Queries"),
        docs=str(tmp_path / "MAIR-Docs"),
    )
    assert [unit.name for unit in units] == [f"IFEval/{sub}" for sub in subs]
    assert [unit.queries[0].qid for unit in units] == [f"{sub}-q" for sub in subs]
