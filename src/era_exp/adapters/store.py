"""Save and load a trained adapter with the metadata that says which embedders it belongs to.

A directory holds ``adapter.pt`` (a plain state_dict) and ``adapter.json`` (``AdapterMeta``).
Both are written atomically, the JSON last, so a directory with a JSON has matching weights.
Loading checks the embedder identities (and optionally the dimensions) so an adapter is never
silently applied to embeddings from a model it was not trained for.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

from era_exp.adapters.modules import Adapter, build_adapter
from era_exp.io import atomic_write, atomic_write_json

WEIGHTS_FILE = "adapter.pt"
META_FILE = "adapter.json"


class AdapterMismatchError(ValueError):
    """A saved adapter does not fit the embedders (or dimensions) it is about to be used with."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class AdapterMeta:
    """What an adapter maps between and how it was trained.

    ``*_identity`` are the embedders' stable identities (weights fingerprint + encoding settings),
    ``*_name`` their human-readable names. ``options`` holds the adapter's constructor keywords
    besides the dimensions (e.g. bias, hidden). ``train_ratio`` is None for align-only adapters.
    """

    query_identity: str
    query_name: str
    doc_identity: str
    doc_name: str
    d_in: int
    d_out: int
    kind: str
    method: str
    train_ratio: float | None
    seed: int
    training_data_hash: str
    options: dict[str, Any] = field(default_factory=dict)
    created: str = field(default_factory=_now)


def save_adapter(directory: str | Path, adapter: Adapter, meta: AdapterMeta) -> Path:
    """Write ``adapter.pt`` and ``adapter.json`` into ``directory``; returns the directory."""
    if (meta.kind, meta.d_in, meta.d_out) != (adapter.kind, adapter.d_in, adapter.d_out):
        raise ValueError(
            f"metadata describes a {meta.kind} adapter {meta.d_in} -> {meta.d_out}, but the adapter is a "
            f"{adapter.kind} adapter {adapter.d_in} -> {adapter.d_out}"
        )
    if meta.options != adapter.options():
        raise ValueError(f"metadata options {meta.options} differ from the adapter's {adapter.options()}")
    directory = Path(directory)
    state = {name: tensor.detach().cpu().clone() for name, tensor in adapter.state_dict().items()}
    atomic_write(directory / WEIGHTS_FILE, lambda tmp: torch.save(state, tmp))
    atomic_write_json(directory / META_FILE, asdict(meta))
    return directory


def _read_meta(path: Path) -> AdapterMeta:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no adapter metadata (expected {META_FILE} next to {WEIGHTS_FILE})")
    raw = json.loads(path.read_text(encoding="utf-8"))
    known = {f.name for f in fields(AdapterMeta)}
    missing = {f.name for f in fields(AdapterMeta) if f.name not in ("options", "created")} - raw.keys()
    if missing:
        raise ValueError(f"{path}: adapter metadata lacks field(s) {sorted(missing)}")
    return AdapterMeta(**{key: value for key, value in raw.items() if key in known})


def _check(path: Path, what: str, expected: object, found: object) -> None:
    if expected is not None and expected != found:
        raise AdapterMismatchError(
            f"{path}: {what} mismatch: expected {expected!r}, "
            f"found {found!r} (the one this adapter was trained for)"
        )


def load_adapter(
    directory: str | Path,
    query_identity: str,
    doc_identity: str,
    d_in: int | None = None,
    d_out: int | None = None,
    map_location: str | torch.device = "cpu",
) -> tuple[nn.Module, AdapterMeta]:
    """Rebuild the adapter saved in ``directory`` after checking it fits the given embedders.

    Raises ``AdapterMismatchError`` naming the expected and found value when an identity, a
    requested dimension, or the stored weights' shapes disagree.
    """
    directory = Path(directory)
    meta_path, weights_path = directory / META_FILE, directory / WEIGHTS_FILE
    meta = _read_meta(meta_path)
    _check(meta_path, "query embedder", query_identity, meta.query_identity)
    _check(meta_path, "document embedder", doc_identity, meta.doc_identity)
    _check(meta_path, "query dimension d_in", d_in, meta.d_in)
    _check(meta_path, "document dimension d_out", d_out, meta.d_out)
    adapter = build_adapter(meta.kind, meta.d_in, meta.d_out, **meta.options)
    if not weights_path.is_file():
        raise FileNotFoundError(f"{weights_path}: adapter weights missing")
    state = torch.load(weights_path, map_location=map_location, weights_only=True)
    expected_shapes = {name: tuple(t.shape) for name, t in adapter.state_dict().items()}
    found_shapes = {name: tuple(t.shape) for name, t in state.items()}
    if expected_shapes != found_shapes:
        raise AdapterMismatchError(
            f"{weights_path}: weights have shapes {found_shapes}, but {meta_path.name} describes a "
            f"{meta.kind} adapter {meta.d_in} -> {meta.d_out} with shapes {expected_shapes}"
        )
    adapter.load_state_dict(state)
    return adapter.to(map_location), meta
