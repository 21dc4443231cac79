"""A run reuses a Stage 1 another run computed from the same inputs, bit for bit (reuse_stage1).

Real runs on the built-in task with MiniLM; each test has its own Stage-1 store, so a hit is one
the test made.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch

from era_exp.pipeline.results import run_key
from era_exp.pipeline.run import run
from era_exp.stages import alignment_store
from era_exp.stages.alignment_store import RECORD_FILE, WEIGHTS_FILE, Stage1Inputs
from helpers.config import TINY_BUILTIN

# What legitimately differs between two runs of one config: timings, memory, cache counters, paths.
VOLATILE = {"profile", "peak_rss_mib", "cache", "config"}
# What a Stage-1 report says about its own provenance rather than its outcome.
PROVENANCE = {"seconds", "computed_seconds", "reused", "stage1_key"}


def _outcome(results: dict) -> dict:
    """Everything a run computed: results.json without timings and provenance of Stage 1."""
    kept = {key: value for key, value in results.items() if key not in VOLATILE}
    stages = dict(kept["stages"])
    for name in ("alignment", "adaptation"):
        if name in stages:
            stages[name] = {k: v for k, v in stages[name].items() if k not in PROVENANCE}
    return {**kept, "stages": stages}


def _trec_files(out: Path) -> dict[str, bytes]:
    """The run's TREC run and qrels files, of the test and the validation split, by path."""
    return {
        str(path.relative_to(out)): path.read_bytes()
        for part in ("runs", "qrels", "validation")
        for path in sorted((out / part).rglob("*"))
        if path.is_file()
    }


def _assert_same_run(reused: Path, computed: Path) -> None:
    """Same results.json numbers, TREC files and adapter (tensors and metadata but its write time)."""
    first, second = (json.loads((out / "results.json").read_text()) for out in (reused, computed))
    assert _outcome(first) == _outcome(second)
    assert _trec_files(reused) == _trec_files(computed)
    metas = [json.loads((out / "adapter" / "adapter.json").read_text()) for out in (reused, computed)]
    assert [{k: v for k, v in meta.items() if k != "created"} for meta in metas] == [
        {k: v for k, v in metas[1].items() if k != "created"}
    ] * 2
    # adapter.pt's bytes hold its temporary file's name (torch.save's archive name): compare tensors.
    weights = [torch.load(out / "adapter" / "adapter.pt", weights_only=True) for out in (reused, computed)]
    assert weights[0].keys() == weights[1].keys()
    for name, tensor in weights[0].items():
        assert torch.equal(tensor, weights[1][name]), name


def test_a_further_train_ratio_and_align_only_reuse_stage1_bit_identically(run_config, tmp_path: Path):
    store = f"paths.stage1_dir={tmp_path / 'stage1'}"
    era = [*TINY_BUILTIN, "method=era"]
    first = run(run_config(*era, "train_ratio=0.1", store), tmp_path / "era-0.1")
    assert first["stages"]["alignment"]["reused"] is False
    (entry,) = (tmp_path / "stage1").iterdir()
    assert (entry / RECORD_FILE).is_file() and (entry / WEIGHTS_FILE).is_file()

    further = run(run_config(*era, "train_ratio=0.2", store), tmp_path / "era-0.2")
    align_only = run(run_config(*TINY_BUILTIN, "method=align_only", store), tmp_path / "align-only")
    for results in (further, align_only):
        stage1 = results["stages"]["alignment"]
        assert stage1["reused"] is True and stage1["stage1_key"] == entry.name
        assert stage1["computed_seconds"] == first["stages"]["alignment"]["seconds"]
        assert results["config"]["reuse_stage1"] is True
    assert len(list((tmp_path / "stage1").iterdir())) == 1, "one Stage 1 for the three runs"

    # The same runs with reuse off, on a store of their own that stays empty.
    fresh = [f"paths.stage1_dir={tmp_path / 'unused'}", "reuse_stage1=false"]
    computed = run(run_config(*era, "train_ratio=0.2", *fresh), tmp_path / "era-0.2-computed")
    assert computed["stages"]["alignment"]["reused"] is False and computed["config"]["reuse_stage1"] is False
    run(run_config(*TINY_BUILTIN, "method=align_only", *fresh), tmp_path / "align-only-computed")
    assert not (tmp_path / "unused").exists()
    _assert_same_run(tmp_path / "era-0.2", tmp_path / "era-0.2-computed")
    _assert_same_run(tmp_path / "align-only", tmp_path / "align-only-computed")
    assert further["run_key"] == computed["run_key"], "reuse_stage1 is not part of the run key"


@pytest.mark.parametrize(
    "change",
    ["stage1.lr=0.002", "stage1/loss=mse", "stage1.holdout=0.2", "seed=7", "adapter=residual_mlp"],
)
def test_a_changed_stage1_input_misses(run_config, tmp_path: Path, change: str):
    store = f"paths.stage1_dir={tmp_path / 'stage1'}"
    base = [*TINY_BUILTIN, "method=align_only", store]
    assert run(run_config(*base), tmp_path / "base")["stages"]["alignment"]["reused"] is False
    changed = run(run_config(*base, change), tmp_path / "changed")
    assert changed["stages"]["alignment"]["reused"] is False, f"{change} must not reuse the base's Stage 1"
    assert len(list((tmp_path / "stage1").iterdir())) == 2


def test_the_key_follows_every_input_not_config_names(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    adapter = torch.nn.Linear(4, 3)
    queries, docs = torch.randn(10, 4), torch.randn(10, 3)
    settings = {"lr": 1e-3, "epochs": 3, "loss": {"_target_": "era_exp.stages.losses.CosineAlignmentLoss"}}

    def key(**changes) -> str:
        fields = {
            "adapter": adapter,
            "queries": queries,
            "docs": docs,
            "settings": settings,
            "seed": 42,
            "engine": "loop",
            "threads": 1,
            "device": "cpu",
            **changes,
        }
        return Stage1Inputs(**fields).key()

    base = key()
    assert key() == base, "the same inputs give the same key"
    flipped = queries.clone()
    flipped[3, 2] = torch.nextafter(flipped[3, 2], torch.tensor(1e9))
    other_adapter = torch.nn.Linear(4, 3)
    variants = {
        "one query bit": key(queries=flipped),
        "documents": key(docs=docs + 1),
        "fewer documents": key(queries=queries[:9], docs=docs[:9]),
        "dtype": key(queries=queries.double()),
        "starting weights": key(adapter=other_adapter),
        "settings": key(settings={**settings, "lr": 2e-3}),
        "seed": key(seed=7),
        "engine": key(engine="lightning"),
        "threads": key(threads=2),
        "device": key(device="cuda:0 (NVIDIA H200)"),
    }
    with monkeypatch.context() as patched:  # an edit to the code that computes Stage 1
        patched.setattr(alignment_store, "code_digest", lambda: "0" * 16)
        variants["code"] = key()
    assert base not in variants.values() and len(set(variants.values())) == len(variants), variants
    assert Stage1Inputs(adapter, queries, docs, settings, 42, "loop", 1, "cpu").description()["code"] == (
        alignment_store.code_digest()
    )


@pytest.mark.parametrize("damage", ["truncated weights", "no record", "garbled record", "other weights"])
def test_a_damaged_entry_is_computed_again_and_replaced(
    run_config, tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
):
    store = tmp_path / "stage1"
    overrides = [*TINY_BUILTIN, "method=align_only", f"paths.stage1_dir={store}"]
    run(run_config(*overrides), tmp_path / "first")
    (entry,) = store.iterdir()
    weights, record = entry / WEIGHTS_FILE, entry / RECORD_FILE
    if damage == "truncated weights":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif damage == "no record":
        record.unlink()
    elif damage == "garbled record":
        record.write_text(record.read_text()[:40])
    else:  # a valid file of other weights under this key: its digest disagrees with the record
        payload = torch.load(weights, weights_only=True)
        payload["state_dict"] = {name: t + 1 for name, t in payload["state_dict"].items()}
        torch.save(payload, weights)
    with caplog.at_level(logging.WARNING, logger="era_exp.stages.alignment_store"):
        again = run(run_config(*overrides), tmp_path / "again")
    assert again["stages"]["alignment"]["reused"] is False
    assert any(entry.name in message and "computing it again" in message for message in caplog.messages)
    _assert_same_run(tmp_path / "again", tmp_path / "first")
    reused = run(run_config(*overrides), tmp_path / "reused")
    assert reused["stages"]["alignment"]["reused"] is True, "the recomputed outcome replaced the damaged one"
    _assert_same_run(tmp_path / "reused", tmp_path / "first")


def test_trainer_options_that_change_numbers_bypass_the_store(run_config, tmp_path: Path):
    store = tmp_path / "stage1"
    cfg = run_config(*TINY_BUILTIN, "method=align_only", f"paths.stage1_dir={store}")
    results = run(cfg, tmp_path / "run", trainer_kwargs={"limit_train_batches": 1}, engine="lightning")
    assert results["stages"]["alignment"]["reused"] is False
    assert not store.exists(), "an outcome of Trainer options outside the key is never stored"
    assert run_key(cfg) == results["run_key"]


def test_the_lightning_engine_keeps_its_own_entries_and_reuses_them(run_config, tmp_path: Path):
    store = f"paths.stage1_dir={tmp_path / 'stage1'}"
    overrides = [*TINY_BUILTIN, "method=align_only", store]
    run(run_config(*overrides), tmp_path / "loop")
    first = run(run_config(*overrides), tmp_path / "lightning", engine="lightning")
    assert first["stages"]["alignment"]["reused"] is False, "the engine is part of the key"
    again = run(run_config(*overrides, "train_ratio=0.4"), tmp_path / "lightning-again", engine="lightning")
    assert again["stages"]["alignment"]["reused"] is True
    _assert_same_run(tmp_path / "lightning-again", tmp_path / "lightning")
    _assert_same_run(tmp_path / "lightning", tmp_path / "loop")
