"""In-memory row batches: a whole batch is one tensor index, with no per-item Python collation.

``batch_loader`` serves them through a DataLoader (for Lightning's Trainer); ``EpochBatches`` serves
the same batches straight from the tensors, on their device (for the stages' in-memory loop).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import islice

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler

Rows = Tensor | np.ndarray


class RowBatches(Dataset):
    """Aligned tensors whose ``__getitem__`` takes a list of row indices and returns those rows."""

    def __init__(self, *tensors: Tensor) -> None:
        if not tensors or any(len(t) != len(tensors[0]) for t in tensors):
            raise ValueError(
                f"row tensors must share their first dimension; got {[tuple(t.shape) for t in tensors]}"
            )
        self.tensors = tensors

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitem__(self, rows: Sequence[int]) -> tuple[Tensor, ...]:
        index = torch.as_tensor(rows, dtype=torch.long)
        return tuple(t.index_select(0, index) for t in self.tensors)


def _batch_sampler(dataset: RowBatches, batch_size: int, shuffle: bool, seed: int) -> BatchSampler:
    """Row-index batches; shuffling uses its own seeded generator."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    sampler = (
        RandomSampler(dataset, generator=torch.Generator().manual_seed(seed))
        if shuffle
        else SequentialSampler(dataset)
    )
    return BatchSampler(sampler, batch_size, drop_last=False)


def batch_loader(dataset: RowBatches, batch_size: int, shuffle: bool, seed: int = 0) -> DataLoader:
    """A loader yielding whole batches of rows; shuffling uses its own seeded generator."""
    return DataLoader(dataset, sampler=_batch_sampler(dataset, batch_size, shuffle, seed), batch_size=None)


class EpochBatches:
    """The batches ``batch_loader`` yields for ``dataset``, each pass, on ``device``, without a DataLoader.

    Shuffled passes draw their order from the same seeded sampler and, like Lightning's fetcher,
    stop after ``len(self)`` batches instead of running the sampler to exhaustion (which would
    draw one more permutation when the rows fill whole batches). A sequential pass reuses fixed
    slices. Each pass also takes the one draw from torch's global generator that a DataLoader
    iterator takes when it starts, so anything random in a stage (dropout) sees the same stream as
    under Lightning's Trainer.
    """

    def __init__(
        self,
        dataset: RowBatches,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        device: torch.device | str = "cpu",
    ) -> None:
        self.device, self.batch_size = torch.device(device), batch_size
        self.sampler = _batch_sampler(dataset, batch_size, shuffle, seed)
        self.tensors = tuple(t.to(self.device) for t in dataset.tensors)
        on_device = RowBatches(*self.tensors)
        self.fixed = None if shuffle else [on_device[rows] for rows in self.sampler]

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        torch.empty((), dtype=torch.int64).random_()  # the draw of DataLoader.__iter__
        if self.fixed is not None:
            yield from self.fixed
            return
        for rows in islice(self.sampler, len(self.sampler)):
            index = torch.as_tensor(rows, dtype=torch.long, device=self.device)
            # index_select copies whole rows: a third of advanced indexing's time for these batches.
            yield tuple(t.index_select(0, index) for t in self.tensors)


def gather_rows(matrix: Rows, rows: Tensor) -> Tensor:
    """``matrix[rows]`` as float32, reading only those rows (``matrix`` may be a numpy memmap)."""
    if isinstance(matrix, Tensor):
        return matrix[rows.to(matrix.device)].float()
    order = rows.cpu().numpy()
    unique, inverse = np.unique(order, return_inverse=True)
    return torch.from_numpy(np.asarray(matrix[unique], dtype=np.float32))[torch.from_numpy(inverse)]


def row_slice(matrix: Rows, start: int, stop: int) -> Tensor:
    """Rows ``start:stop`` of a tensor or numpy (memmap) array as a float32 tensor."""
    if isinstance(matrix, Tensor):
        return matrix[start:stop].float()
    return torch.from_numpy(
        np.array(matrix[start:stop], dtype=np.float32)
    )  # a copy: memmaps may be read-only
