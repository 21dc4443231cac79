"""The hub loader: fast, clear failures offline, and MAIR's split pairing (on a stand-in for ``datasets``)."""

from __future__ import annotations

import socket
import sys
import types
from collections.abc import Iterator

import pytest

from era_exp.data import hub
from era_exp.data.errors import DataError, UnknownTaskError
from era_exp.data.hub import load_hub_tasks


@pytest.fixture
def no_datasets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import datasets`` fail, so a test shows the loader stopped before touching it."""
    monkeypatch.setitem(sys.modules, "datasets", None)


@pytest.mark.parametrize("var", ["HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"])
def test_offline_mode_fails_before_datasets(
    monkeypatch: pytest.MonkeyPatch, no_datasets: None, var: str
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setenv(var, "1")
    with pytest.raises(DataError, match=rf"needs network access, but {var}=1 is set.*local source"):
        load_hub_tasks(["SciFact"])


def test_unreachable_hub_fails_with_short_timeout(monkeypatch: pytest.MonkeyPatch, no_datasets: None) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    calls = []

    def refuse(address: tuple[str, int], timeout: float) -> socket.socket:
        calls.append((address, timeout))
        raise OSError("Network is unreachable")

    monkeypatch.setattr(hub.socket, "create_connection", refuse)
    with pytest.raises(
        DataError, match=r"cannot reach huggingface\.co:443 within 3 s \(Network is unreachable\)"
    ):
        load_hub_tasks(domains=["Finance"])
    assert calls == [(("huggingface.co", 443), 3.0)]


def test_names_are_checked_before_the_network(no_datasets: None) -> None:
    with pytest.raises(UnknownTaskError, match="did you mean 'SciFact'"):
        load_hub_tasks(["SciFakt"])
    with pytest.raises(UnknownTaskError, match="did you mean 'Legal'"):
        load_hub_tasks(domains=["legal"])


class _FakeDataset:
    """Just enough of ``datasets.Dataset`` for the loader: column batches."""

    def __init__(self, rows: list[dict]) -> None:
        self.rows = rows

    def iter(self, batch_size: int) -> Iterator[dict[str, list]]:
        for start in range(0, len(self.rows), batch_size):
            chunk = self.rows[start : start + batch_size]
            yield {key: [row[key] for row in chunk] for key in chunk[0]}


HUB = {
    ("MAIR-Bench/MAIR-Queries", "SciFact"): {
        "queries": [{"qid": "1", "instruction": "i", "query": "q", "labels": [{"id": 10, "score": 1}]}]
    },
    ("MAIR-Bench/MAIR-Docs", "SciFact"): {"docs": [{"id": 10, "doc": "ten"}, {"id": 11, "doc": "eleven"}]},
    ("MAIR-Bench/MAIR-Queries", "CQADupStack"): {
        "gis_queries": [{"qid": "1", "instruction": "i", "query": "q", "labels": [{"id": "a", "score": 1}]}],
        "android_queries": [
            {"qid": "1", "instruction": "i", "query": "q", "labels": [{"id": "a", "score": 1}]}
        ],
    },
    ("MAIR-Bench/MAIR-Docs", "CQADupStack"): {
        "gis_docs": [{"id": "a", "doc": "gis a"}],
        "android_docs": [{"id": "a", "doc": "android a"}, {"id": "b", "doc": "android b"}],
    },
}


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reachable hub serving the configs in ``HUB``."""

    def load_dataset(repo: str, config: str, **_: object) -> dict[str, _FakeDataset]:
        return {split: _FakeDataset(rows) for split, rows in HUB[(repo, config)].items()}

    monkeypatch.setattr(hub, "ensure_hub_reachable", lambda: None)
    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))


def test_hub_rows_become_tasks(fake_hub: None) -> None:
    [task] = load_hub_tasks("SciFact")
    assert (task.name, task.domain) == ("SciFact", "Academic")
    assert task.corpus.ids == ("10", "11")
    assert task.queries[0].labels == {"10": 1}


def test_hub_splits_become_sub_splits(fake_hub: None) -> None:
    per_split = load_hub_tasks(["CQADupStack"])
    assert [(t.name, len(t.corpus)) for t in per_split] == [
        ("CQADupStack/android", 2),
        ("CQADupStack/gis", 1),
    ]
    [merged] = load_hub_tasks(["CQADupStack"], multi_split="merged")
    assert merged.corpus.ids == ("android/a", "android/b", "gis/a")
    assert [q.qid for q in merged.queries] == ["android/1", "gis/1"]


def test_hub_row_errors_name_config_split_and_row(fake_hub: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(HUB, ("MAIR-Bench/MAIR-Docs", "SciFact"), {"docs": [{"id": 10, "doc": ""}]})
    with pytest.raises(DataError, match=r"MAIR-Bench/MAIR-Docs\[SciFact\]/docs:1: field 'doc' is empty"):
        load_hub_tasks(["SciFact"])
