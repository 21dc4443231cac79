"""A content-addressed store of Stage-1 outcomes, so a run reuses a Stage 1 another run computed.

Stage 1 reads no label: every ERA point of a train-ratio sweep of one pair, every ``align_only``
point and every trial of a Stage-2 hyper-parameter search trains the identical Stage 1. An outcome
is all that Stage 1 leaves behind: the adapter's weights and the train/eval mode of its modules,
its report, and the state of the global random generators (python, numpy, torch), so a run that
reuses it goes on exactly as one that trained.

The key (:meth:`Stage1Inputs.key`) hashes the actual inputs, never config names: the adapter's
class, options and weights right before Stage 1 (after seeding, construction and any closed-form
init), the alignment pairs' bytes, dtypes and shapes, the resolved ``stage1`` node, the seed, the
training engine, the threads and device Stage 1 trains on, the torch version (and Lightning's under
its engine), and a digest of the source of the modules that compute Stage 1 (:data:`STAGE1_CODE`).

Layout: ``<root>/<key>/stage1.pt`` (weights, modes, generator states), then ``stage1.json`` (the
report, what the key was made of, the byte size and sha256 of ``stage1.pt``), each written
atomically, the JSON last. A folder without the JSON, or whose weights disagree with it, is ignored
with a warning and computed again; the new outcome replaces it. A per-key lock
(``<root>/<key>/.lock``, released by the OS if its holder dies) makes a second run of the same key
wait for the first and reuse its outcome rather than train the same Stage 1 beside it; correctness
never rests on the lock, since a reader checks the weights against the JSON's digest.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import io
import json
import logging
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import torch
from filelock import FileLock, Timeout
from torch import Tensor, nn

from era_exp.io import atomic_write, atomic_write_json
from era_exp.logs import console

log = logging.getLogger(__name__)

WEIGHTS_FILE = "stage1.pt"
RECORD_FILE = "stage1.json"
LOCK_FILE = ".lock"
# Raised when what an outcome holds or how its key is made changes, so older entries are not read.
FORMAT = 1
# Keys of a Stage-1 report that say where its outcome came from, not what it is (with ``seconds``).
PROVENANCE = ("reused", "computed_seconds", "stage1_key")
# The modules whose code computes a Stage-1 outcome: an edit to any of them changes the key, so an
# outcome stored by other code is never taken for this code's.
STAGE1_CODE = (
    "era_exp.stages.alignment",
    "era_exp.stages.trainer",
    "era_exp.stages.optim",
    "era_exp.stages.losses",
    "era_exp.stages.data",
    "era_exp.stages.lightning",
    "era_exp.adapters.modules",
)


@functools.cache
def code_digest() -> str:
    """sha256 of the source of :data:`STAGE1_CODE` (read from disk, without importing it)."""
    digest = hashlib.sha256()
    for name in STAGE1_CODE:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise RuntimeError(f"cannot find the source of {name}")
        digest.update(f"{name}\n".encode())
        digest.update(Path(spec.origin).read_bytes())
    return digest.hexdigest()[:16]


def _hash_tensor(digest: Any, name: str, tensor: Tensor) -> None:
    """Feed ``tensor``'s name, dtype, shape and bytes to ``digest``."""
    flat = tensor.detach().cpu().contiguous().reshape(-1)
    digest.update(f"{name}:{flat.dtype}:{tuple(tensor.shape)}\n".encode())
    digest.update(flat.view(torch.uint8).numpy().data)


def device_label(device: torch.device) -> str:
    """A device as the key sees it: its type and index, and the GPU's model on CUDA."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


@dataclass(frozen=True, eq=False)
class Stage1Inputs:
    """Everything that determines a Stage-1 outcome, as Stage 1 is about to receive it.

    ``adapter`` holds the weights Stage 1 starts from; ``settings`` is the resolved ``stage1``
    config node (loss target and arguments, learning rate, epochs, batch size, holdout...).
    """

    adapter: nn.Module
    queries: Tensor
    docs: Tensor
    settings: dict[str, Any]
    seed: int
    engine: str
    threads: int
    device: str

    def description(self) -> dict[str, Any]:
        """What the key is made of besides the tensors' bytes, readable (kept in the entry's JSON)."""
        adapter = type(self.adapter)
        options = self.adapter.options() if hasattr(self.adapter, "options") else {}
        return {
            "format": FORMAT,
            "adapter": f"{adapter.__module__}.{adapter.__qualname__}",
            "adapter_options": options,
            "adapter_shapes": {name: list(t.shape) for name, t in self.adapter.state_dict().items()},
            "queries": [str(self.queries.dtype), list(self.queries.shape)],
            "docs": [str(self.docs.dtype), list(self.docs.shape)],
            "stage1": self.settings,
            "seed": self.seed,
            "engine": self.engine,
            "threads": self.threads,
            "device": self.device,
            "torch": torch.__version__,
            "code": code_digest(),
            **({"lightning": version("pytorch-lightning")} if self.engine == "lightning" else {}),
        }

    def key(self) -> str:
        """sha256 of :meth:`description` and of the starting weights', queries' and documents' bytes."""
        digest = hashlib.sha256(json.dumps(self.description(), sort_keys=True, default=str).encode())
        for name, tensor in sorted(self.adapter.state_dict().items()):
            _hash_tensor(digest, f"adapter.{name}", tensor)
        _hash_tensor(digest, "queries", self.queries)
        _hash_tensor(digest, "docs", self.docs)
        return digest.hexdigest()[:32]


def _generator_states() -> dict[str, Any]:
    """The global generators' states (python, numpy, torch; CUDA's when in use), loadable weights-only."""
    name, keys, position, has_gauss, gauss = np.random.get_state()
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": (name, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, gauss),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _restore_generators(states: dict[str, Any]) -> None:
    version, internal, gauss_next = states["python"]
    random.setstate((version, tuple(internal), gauss_next))
    name, keys, position, has_gauss, gauss = states["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, gauss))
    torch.set_rng_state(states["torch"])
    if "cuda" in states:
        torch.cuda.set_rng_state_all(states["cuda"])


class AlignmentStore:
    """Stage-1 outcomes under ``root`` (``paths.stage1_dir``), one folder per key."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def outcome(self, inputs: Stage1Inputs, train: Callable[[], dict], lookup: bool = True) -> dict:
        """Stage 1's report, with the adapter holding its outcome: the stored one, or ``train()``'s.

        ``train`` runs Stage 1 on ``inputs.adapter`` in place and returns its report. The report
        says whether the outcome was ``reused``; a reused one keeps the seconds the run that computed
        it trained as ``computed_seconds``, and ``seconds`` is what loading it took. ``lookup=False``
        computes Stage 1 even when stored (a drill killing a run inside Stage 1), then stores it.
        """
        start = time.perf_counter()
        key = inputs.key()
        with self._lock(key):
            stored = self.load(key, inputs.adapter) if lookup else None
            if stored is not None:
                seconds = time.perf_counter() - start
                console().info("Stage 1 reused from %s", self.root / key)
                reuse = {"reused": True, "computed_seconds": stored["seconds"], "seconds": seconds}
                return {**stored, **reuse, "stage1_key": key}
            report = train()
            try:
                self.save(key, inputs.adapter, report, inputs.description())
            except OSError as err:  # the outcome is computed: not storing it costs only a later rerun
                log.warning("Stage-1 outcome %s not stored (%s)", self.root / key, err)
        return {**report, "reused": False, "stage1_key": key}

    @contextmanager
    def _lock(self, key: str) -> Iterator[None]:
        """Hold the key's lock; without write access to the store, go on unlocked (reads still work)."""
        folder = self.root / key
        try:
            folder.mkdir(parents=True, exist_ok=True)
            lock = FileLock(folder / LOCK_FILE)
            try:
                lock.acquire(timeout=1)
            except Timeout:
                console().info("waiting for another process computing Stage 1 %s", folder)
                lock.acquire()
        except OSError as err:
            log.warning("Stage-1 store %s cannot be locked (%s): going on without its lock", folder, err)
            yield
            return
        try:
            yield
        finally:
            lock.release()

    def load(self, key: str, adapter: nn.Module) -> dict | None:
        """Put the stored outcome of ``key`` into ``adapter`` and the generators; its report, or None.

        An entry that cannot be used (partial, truncated, damaged, or of other shapes) is reported
        with a warning and left to be replaced; ``adapter`` is then untouched.
        """
        folder = self.root / key
        record_path, weights_path = folder / RECORD_FILE, folder / WEIGHTS_FILE
        if not record_path.is_file():
            if weights_path.exists():
                log.warning("Stage-1 store entry %s is partial (no record); computing it again", folder)
            return None
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
            if record.get("key") != key:
                raise ValueError(f"{RECORD_FILE} names key {record.get('key')!r}")
            data = weights_path.read_bytes()
            entry = record["weights"]
            if len(data) != int(entry["bytes"]) or hashlib.sha256(data).hexdigest() != entry["sha256"]:
                raise ValueError(f"{WEIGHTS_FILE} ({len(data)} bytes) does not match its record")
            saved = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
            state, modes = saved["state_dict"], saved["modes"]
            expected = {name: (t.shape, t.dtype) for name, t in adapter.state_dict().items()}
            if {name: (t.shape, t.dtype) for name, t in state.items()} != expected:
                raise ValueError(f"its weights do not fit a {type(adapter).__name__} of these shapes")
            if set(modes) != {name for name, _ in adapter.named_modules()}:
                raise ValueError("its module list differs from the adapter's")
            report = dict(record["report"])
            generators = saved["generators"]
        except Exception as err:  # whatever is wrong with an entry, Stage 1 is computed again
            log.warning("Stage-1 store entry %s is unusable (%s); computing it again", folder, err)
            return None
        adapter.load_state_dict(state)
        for name, module in adapter.named_modules():
            module.training = bool(modes[name])
        _restore_generators(generators)
        return report

    def save(self, key: str, adapter: nn.Module, report: dict, description: dict) -> Path:
        """Write the outcome in ``adapter`` and the generators now, weights first and the JSON last."""
        folder = self.root / key
        payload = {
            "state_dict": {name: t.detach().cpu().clone() for name, t in adapter.state_dict().items()},
            "modes": {name: module.training for name, module in adapter.named_modules()},
            "generators": _generator_states(),
        }
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        data = buffer.getvalue()
        atomic_write(folder / WEIGHTS_FILE, lambda tmp: tmp.write_bytes(data), "Stage-1 outcome")
        record = {
            "key": key,
            "report": report,
            "inputs": description,
            "weights": {"file": WEIGHTS_FILE, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()},
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        atomic_write_json(folder / RECORD_FILE, record, "Stage-1 outcome record")
        return folder
