"""In-memory row batches: a whole batch is one tensor index, with no per-item Python collation."""

from __future__ import annotations

from collections.abc import Sequence

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
        return tuple(t[index] for t in self.tensors)


def batch_loader(dataset: RowBatches, batch_size: int, shuffle: bool, seed: int = 0) -> DataLoader:
    """A loader yielding whole batches of rows; shuffling uses its own seeded generator."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    sampler = (
        RandomSampler(dataset, generator=torch.Generator().manual_seed(seed))
        if shuffle
        else SequentialSampler(dataset)
    )
    return DataLoader(dataset, sampler=BatchSampler(sampler, batch_size, drop_last=False), batch_size=None)


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
