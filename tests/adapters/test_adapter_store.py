"""Saved adapters round-trip and refuse to load for the wrong embedders or dimensions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from era_exp.adapters import AdapterMeta, AdapterMismatchError, build_adapter, load_adapter, save_adapter


def _meta(adapter: torch.nn.Module, **changes: object) -> AdapterMeta:
    fields = {
        "query_identity": "q-ident",
        "query_name": "big",
        "doc_identity": "d-ident",
        "doc_name": "small",
        "d_in": adapter.d_in,
        "d_out": adapter.d_out,
        "kind": adapter.kind,
        "method": "era",
        "train_ratio": 0.1,
        "seed": 42,
        "training_data_hash": "abc123",
        "options": adapter.options(),
    }
    fields.update(changes)
    return AdapterMeta(**fields)


@pytest.mark.parametrize(
    ("kind", "kwargs"),
    [("linear", {}), ("residual_mlp", {"hidden": 8}), ("doc_residual_mlp", {"hidden": 8})],
)
def test_round_trip_gives_equal_outputs(tmp_path: Path, kind: str, kwargs: dict) -> None:
    torch.manual_seed(0)
    adapter = build_adapter(kind, 6, 4, **kwargs)
    if kind != "linear":  # make the residual branch matter
        torch.nn.init.normal_(adapter.mlp[-1].weight)
    meta = _meta(adapter)
    save_adapter(tmp_path / "a", adapter, meta)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["adapter.json", "adapter.pt"]
    loaded, loaded_meta = load_adapter(tmp_path / "a", "q-ident", "d-ident", d_in=6, d_out=4)
    assert type(loaded) is type(adapter)
    assert loaded_meta == meta
    x = torch.randn(5, 6)
    torch.testing.assert_close(loaded.eval()(x), adapter.eval()(x))


@pytest.mark.parametrize(
    ("query_identity", "doc_identity", "what", "expected"),
    [
        ("other-q", "d-ident", "query embedder", "other-q"),
        ("q-ident", "other-d", "document embedder", "other-d"),
    ],
)
def test_identity_mismatch_names_expected_found_and_file(
    tmp_path: Path, query_identity: str, doc_identity: str, what: str, expected: str
) -> None:
    adapter = build_adapter("linear", 6, 4)
    save_adapter(tmp_path, adapter, _meta(adapter))
    with pytest.raises(AdapterMismatchError) as err:
        load_adapter(tmp_path, query_identity, doc_identity)
    message = str(err.value)
    assert what in message and repr(expected) in message and str(tmp_path / "adapter.json") in message
    found = "q-ident" if what == "query embedder" else "d-ident"
    assert repr(found) in message


def test_dimension_mismatch_is_refused(tmp_path: Path) -> None:
    adapter = build_adapter("linear", 6, 4)
    save_adapter(tmp_path, adapter, _meta(adapter))
    with pytest.raises(AdapterMismatchError, match="d_in mismatch: expected 8, found 6"):
        load_adapter(tmp_path, "q-ident", "d-ident", d_in=8)
    with pytest.raises(AdapterMismatchError, match="d_out mismatch: expected 3, found 4"):
        load_adapter(tmp_path, "q-ident", "d-ident", d_out=3)


def test_weights_disagreeing_with_metadata_are_refused(tmp_path: Path) -> None:
    adapter = build_adapter("linear", 6, 4)
    save_adapter(tmp_path, adapter, _meta(adapter))
    raw = json.loads((tmp_path / "adapter.json").read_text())
    raw["d_out"] = 5
    (tmp_path / "adapter.json").write_text(json.dumps(raw))
    with pytest.raises(AdapterMismatchError, match=r"adapter\.pt: weights have shapes"):
        load_adapter(tmp_path, "q-ident", "d-ident")


def test_save_refuses_metadata_that_does_not_describe_the_adapter(tmp_path: Path) -> None:
    adapter = build_adapter("linear", 6, 4)
    with pytest.raises(ValueError, match="metadata describes a linear adapter 6 -> 5"):
        save_adapter(tmp_path, adapter, _meta(adapter, d_out=5))
    assert not any(tmp_path.iterdir())


def test_missing_metadata_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"adapter\.json"):
        load_adapter(tmp_path, "q", "d")
