"""Exact inner-product top-k: faiss ``IndexFlatIP`` on CPU, torch (or faiss-gpu) on GPU.

Embeddings are L2-normalised, so inner product is cosine similarity. Queries go in batches so
memory stays bounded whatever the number of queries.
"""

from __future__ import annotations

import numpy as np
import torch

try:
    import faiss
except ImportError:  # pragma: no cover - faiss is a core dependency, but GPU images may lack it
    faiss = None


def _faiss_has_gpu() -> bool:
    return faiss is not None and hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def resolve_backend(backend: str = "auto") -> str:
    """Pick ``faiss`` (CPU), ``faiss-gpu`` or ``torch`` (GPU) for ``auto``; validate explicit choices."""
    if backend == "auto":
        if torch.cuda.is_available():
            return "faiss-gpu" if _faiss_has_gpu() else "torch"
        return "faiss" if faiss is not None else "torch"
    if backend not in {"faiss", "faiss-gpu", "torch"}:
        raise ValueError(f"unknown search backend {backend!r}: use auto, faiss, faiss-gpu or torch")
    if backend.startswith("faiss") and faiss is None:
        raise ValueError("search backend 'faiss' needs faiss-cpu (or the gpu extra) installed")
    return backend


def search(
    query_vecs: np.ndarray | torch.Tensor,
    doc_vecs: np.ndarray | torch.Tensor,
    k: int = 100,
    batch_size: int = 4096,
    backend: str = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` documents per query by inner product: ``(scores, indices)``, best first.

    ``k`` is capped at the corpus size. Scores are float32, indices int64.
    """
    queries = _as_float32(query_vecs)
    docs = _as_float32(doc_vecs)
    if queries.shape[1] != docs.shape[1]:
        raise ValueError(f"query dim {queries.shape[1]} != document dim {docs.shape[1]}")
    k = min(k, docs.shape[0])
    backend = resolve_backend(backend)
    if backend == "torch":
        return _search_torch(queries, docs, k, batch_size)
    index = faiss.IndexFlatIP(docs.shape[1])
    if backend == "faiss-gpu":
        index = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, index)
    index.add(docs)
    scores = np.empty((queries.shape[0], k), dtype=np.float32)
    indices = np.empty((queries.shape[0], k), dtype=np.int64)
    for start in range(0, queries.shape[0], batch_size):
        stop = start + batch_size
        scores[start:stop], indices[start:stop] = index.search(queries[start:stop], k)
    return scores, indices


def _search_torch(
    queries: np.ndarray, docs: np.ndarray, k: int, batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    doc_t = torch.from_numpy(docs).to(device)
    out_scores, out_idx = [], []
    with torch.inference_mode():
        for start in range(0, queries.shape[0], batch_size):
            q = torch.from_numpy(queries[start : start + batch_size]).to(device)
            top = torch.topk(q @ doc_t.T, k, dim=1)
            out_scores.append(top.values.float().cpu())
            out_idx.append(top.indices.cpu())
    return torch.cat(out_scores).numpy(), torch.cat(out_idx).numpy().astype(np.int64)


def _as_float32(vecs: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(vecs, torch.Tensor):
        vecs = vecs.detach().float().cpu().numpy()
    return np.ascontiguousarray(vecs, dtype=np.float32)
