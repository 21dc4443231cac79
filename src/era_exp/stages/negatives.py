"""Hard-negative mining for Stage 2.

``topk_percpos`` (the paper's TopK-PercPos): rank the corpus with the teacher query vector, drop
every labelled document, keep the top ``top_k``, keep only candidates scoring below ``margin`` x
the teacher's score of the query's positive, stop at ``pool``; take the hardest and sample the
rest from the pool; back-fill with random unlabelled documents. ``naive_topk`` takes the top
unlabelled documents, ``random`` random unlabelled ones.

When a corpus has fewer unlabelled documents than ``n_negatives``, every unlabelled document is
used once and the remaining slots repeat random ones among them (sampling with replacement); a
query with no unlabelled document at all is an error.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from era_exp.config import MinerConfig
from era_exp.stages.data import Rows, gather_rows, row_slice

STRATEGIES = ("topk_percpos", "naive_topk", "random")


class NegativeMiner:
    """The ``miner`` config entry built: one strategy and its settings, applied per task corpus."""

    def __init__(self, strategy: str, n_negatives: int, top_k: int, margin: float, pool: int) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown negative strategy {strategy!r}; expected one of {list(STRATEGIES)}")
        self.strategy, self.n_negatives, self.top_k = str(strategy), n_negatives, top_k
        self.margin, self.pool = margin, pool

    def mine(
        self,
        teacher_q: Tensor,
        doc_emb: Rows,
        positives: Sequence[int] | None,
        labelled: Sequence[set[int]],
        seed: int,
    ) -> Tensor:
        """:func:`mine_negatives` with this miner's settings."""
        return mine_negatives(
            teacher_q,
            doc_emb,
            positives,
            labelled,
            strategy=self.strategy,
            n_negatives=self.n_negatives,
            top_k=self.top_k,
            margin=self.margin,
            pool=self.pool,
            seed=seed,
        )


def top_candidates(
    queries: Tensor, docs: Rows, k: int, doc_chunk: int = 65536, query_chunk: int = 1024
) -> tuple[Tensor, Tensor]:
    """The ``k`` best documents per query by cosine, best first: (scores (nq, k), rows (nq, k)).

    Reads ``docs`` (a tensor or numpy memmap) once in chunks and keeps a running top-k, so no
    (queries x corpus) score matrix is ever held.
    """
    n_docs = len(docs)
    k = min(k, n_docs)
    if len(queries) == 0:
        return torch.empty(0, k), torch.empty(0, k, dtype=torch.long)
    queries = F.normalize(queries.float(), dim=-1)
    best_scores = torch.full((len(queries), 0), float("-inf"), device=queries.device)
    best_rows = torch.zeros((len(queries), 0), dtype=torch.long, device=queries.device)
    for d0 in range(0, n_docs, doc_chunk):
        chunk = F.normalize(row_slice(docs, d0, d0 + doc_chunk).to(queries.device), dim=-1)
        parts_s, parts_r = [], []
        for q0 in range(0, len(queries), query_chunk):
            scores = queries[q0 : q0 + query_chunk] @ chunk.T
            top_s, top_r = scores.topk(min(k, scores.shape[1]), dim=1)
            merged_s = torch.cat([best_scores[q0 : q0 + query_chunk], top_s], dim=1)
            merged_r = torch.cat([best_rows[q0 : q0 + query_chunk], top_r + d0], dim=1)
            keep_s, keep_i = merged_s.topk(min(k, merged_s.shape[1]), dim=1)
            parts_s.append(keep_s)
            parts_r.append(merged_r.gather(1, keep_i))
        best_scores, best_rows = torch.cat(parts_s), torch.cat(parts_r)
    return best_scores, best_rows


def _random_docs(n_docs: int, exclude: set[int], count: int, generator: torch.Generator) -> list[int]:
    """``count`` distinct random rows outside ``exclude`` (the caller ensures enough exist)."""
    if count <= 0:
        return []
    if 2 * (n_docs - len(exclude)) >= n_docs:  # mostly allowed: rejection sampling stays cheap
        picked: list[int] = []
        seen = set(exclude)
        while len(picked) < count:
            for row in torch.randint(n_docs, (2 * (count - len(picked)),), generator=generator).tolist():
                if row not in seen and len(picked) < count:
                    seen.add(row)
                    picked.append(row)
        return picked
    allowed = torch.ones(n_docs, dtype=torch.bool)
    allowed[list(exclude)] = False
    rows = allowed.nonzero().squeeze(1)
    return rows[torch.randperm(len(rows), generator=generator)[:count]].tolist()


def _fill(
    chosen: list[int], labelled: set[int], n_docs: int, n: int, generator: torch.Generator
) -> list[int]:
    """Back-fill ``chosen`` to ``n`` with random unlabelled rows, repeating only when too few exist."""
    fresh = min(n - len(chosen), n_docs - len(labelled) - len(chosen))
    chosen = chosen + _random_docs(n_docs, labelled | set(chosen), fresh, generator)
    if len(chosen) < n:
        repeats = torch.randint(len(chosen), (n - len(chosen),), generator=generator).tolist()
        chosen = chosen + [chosen[j] for j in repeats]
    return chosen


def mine_negatives(
    teacher_q: Tensor,
    doc_emb: Rows,
    positives: Sequence[int] | None,
    labelled: Sequence[set[int]],
    strategy: str = MinerConfig.strategy,
    n_negatives: int = MinerConfig.n_negatives,
    top_k: int = MinerConfig.top_k,
    margin: float = MinerConfig.margin,
    pool: int = MinerConfig.pool,
    seed: int = 42,
) -> Tensor:
    """Negative corpus rows per query: LongTensor (nq, n_negatives), never a labelled row.

    ``teacher_q`` (nq, d) are the teacher's query vectors, ``doc_emb`` (nd, d) the task corpus in
    the same space (tensor or numpy memmap, read in chunks). ``positives[i]`` is query i's chosen
    positive row (needed by ``topk_percpos``), ``labelled[i]`` all its labelled rows; the positive
    is excluded even if missing from ``labelled[i]``. The defaults are the schema's
    (:class:`era_exp.config.MinerConfig`, the paper's TopK-PercPos).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown negative strategy {strategy!r}; expected one of {list(STRATEGIES)}")
    if n_negatives < 1 or top_k < 1 or pool < 1:
        raise ValueError(f"n_negatives, top_k and pool must be >= 1; got {n_negatives}, {top_k}, {pool}")
    n_queries, n_docs = len(teacher_q), len(doc_emb)
    if len(labelled) != n_queries or (positives is not None and len(positives) != n_queries):
        raise ValueError(f"need one positive and one labelled set per query ({n_queries} queries)")
    if teacher_q.ndim != 2 or teacher_q.shape[1] != doc_emb.shape[1]:
        raise ValueError(
            f"teacher vectors {tuple(teacher_q.shape)} do not match documents {tuple(doc_emb.shape)}"
        )
    if positives is None and strategy == "topk_percpos":
        raise ValueError("topk_percpos needs each query's positive row")
    excluded = [
        set(rows) | ({positives[i]} if positives is not None else set()) for i, rows in enumerate(labelled)
    ]
    for i, rows in enumerate(excluded):
        bad = [r for r in rows if not 0 <= r < n_docs]
        if bad:
            raise ValueError(f"query {i}: labelled rows {bad} are outside the corpus of {n_docs} documents")
        if len(rows) >= n_docs:
            raise ValueError(
                f"query {i}: all {n_docs} corpus documents are labelled, so none can be a negative"
            )

    if n_queries == 0:
        return torch.empty(0, n_negatives, dtype=torch.long)
    generator = torch.Generator().manual_seed(seed)
    if strategy == "random":
        return torch.tensor(
            [_fill([], rows, n_docs, n_negatives, generator) for rows in excluded], dtype=torch.long
        )

    max_labelled = max((len(rows) for rows in excluded), default=0)
    depth = (top_k if strategy == "topk_percpos" else n_negatives) + max_labelled
    scores, ranked = top_candidates(teacher_q, doc_emb, depth)
    scores, ranked = scores.cpu(), ranked.cpu()
    if strategy == "topk_percpos":
        pos_docs = F.normalize(gather_rows(doc_emb, torch.as_tensor(positives, dtype=torch.long)), dim=-1)
        pos_scores = (F.normalize(teacher_q.float(), dim=-1).cpu() * pos_docs.cpu()).sum(-1)

    out = []
    for i, rows in enumerate(excluded):
        unlabelled = ~torch.isin(ranked[i], torch.tensor(sorted(rows), dtype=torch.long))
        cand_rows, cand_scores = ranked[i][unlabelled], scores[i][unlabelled]
        if strategy == "naive_topk":
            chosen = cand_rows[:n_negatives].tolist()
        else:
            cand_rows, cand_scores = cand_rows[:top_k], cand_scores[:top_k]
            candidates = cand_rows[cand_scores < margin * pos_scores[i]][:pool]
            chosen = candidates[:1].tolist()
            rest = candidates[1:]
            chosen += rest[torch.randperm(len(rest), generator=generator)[: n_negatives - 1]].tolist()
        out.append(_fill(chosen, rows, n_docs, n_negatives, generator))
    return torch.tensor(out, dtype=torch.long)
