"""Stage 2 training examples: (query, one fixed positive, mined negatives) as tensors."""

from __future__ import annotations

import logging
import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from era_exp.data.schema import Corpus, Query
from era_exp.stages.data import Rows, gather_rows
from era_exp.stages.negatives import NegativeMiner

log = logging.getLogger(__name__)

# stage2.balance: a pair weighs 1 / (this of its task's pair count) before the weights are scaled to mean 1.
BALANCE_SIZES: dict[str, Callable[[int], float]] = {"task": float, "sqrt": math.sqrt}


@dataclass(frozen=True)
class PairSet:
    """Aligned rows: query (n, dQ) query-model vectors, positive (n, dD), negatives (n, k, dD).

    ``tasks`` names each row's task (what a task-balanced Stage 2 weighs by); empty when the rows
    come from nowhere in particular (synthetic pairs), which only an unbalanced Stage 2 accepts.
    """

    query: Tensor
    positive: Tensor
    negatives: Tensor
    tasks: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.query)
        if (
            self.query.ndim != 2
            or self.positive.ndim != 2
            or self.negatives.ndim != 3
            or len(self.positive) != n
            or len(self.negatives) != n
            or self.negatives.shape[2] != self.positive.shape[1]
        ):
            raise ValueError(
                "PairSet needs query (n, dQ), positive (n, dD), negatives (n, k, dD); got "
                f"{tuple(self.query.shape)}, {tuple(self.positive.shape)}, {tuple(self.negatives.shape)}"
            )
        if self.tasks and len(self.tasks) != n:
            raise ValueError(f"PairSet has {n} rows but {len(self.tasks)} task names")

    def __len__(self) -> int:
        return len(self.query)

    @classmethod
    def empty(cls, d_query: int, d_doc: int, n_negatives: int) -> PairSet:
        """No pairs, with the shapes a non-empty set of these dimensions would have."""
        return cls(torch.empty(0, d_query), torch.empty(0, d_doc), torch.empty(0, n_negatives, d_doc))


def concat_pairs(sets: Sequence[PairSet]) -> PairSet:
    """One PairSet holding the rows of ``sets`` in order (e.g. the training pairs of all tasks).

    Rows keep their task names when every non-empty set has them.
    """
    if not sets:
        raise ValueError("no pair sets to concatenate")
    named = all(s.tasks or not len(s) for s in sets)
    return PairSet(
        torch.cat([s.query for s in sets]),
        torch.cat([s.positive for s in sets]),
        torch.cat([s.negatives for s in sets]),
        tuple(task for s in sets for task in s.tasks) if named else (),
    )


def pair_weights(pairs: PairSet, balance: str) -> Tensor | None:
    """Each training pair's weight in Stage 2's loss (``stage2.balance``); None: all weigh the same.

    ``task``: a pair weighs 1 / (its task's pair count), so every task contributes equally to the
    loss however many pairs it has. ``sqrt``: a pair weighs 1 / sqrt(its task's pair count), so a
    task contributes in proportion to the square root of its pair count: big tasks still count more,
    by far less than unweighted (task sampling at temperature 2). Either way the weights are scaled
    to average 1, so the loss keeps the scale (and the learning rate its meaning) of the unweighted
    mean.
    """
    if balance == "none":
        return None
    if balance not in BALANCE_SIZES:
        raise ValueError(f"unknown Stage-2 balance {balance!r}; expected 'none', 'task' or 'sqrt'")
    if len(pairs.tasks) != len(pairs) or not len(pairs):
        raise ValueError(f"stage2.balance={balance} needs training pairs that name their task")
    counts = Counter(pairs.tasks)
    size = BALANCE_SIZES[balance]
    weights = torch.tensor([1.0 / size(counts[task]) for task in pairs.tasks], dtype=torch.float64)
    return (weights * (len(pairs) / weights.sum())).float()


def choose_positive(query: Query, corpus: Corpus, seed: int) -> int | None:
    """Corpus row of one relevant document (score > 0) chosen uniformly; fixed by seed and qid."""
    rows = sorted(corpus.position(doc) for doc, score in query.labels.items() if score > 0 and doc in corpus)
    return random.Random(f"{seed}:{query.qid}").choice(rows) if rows else None


def build_pairs(
    queries: Sequence[Query],
    corpus: Corpus,
    query_vecs: Rows,
    teacher_vecs: Tensor,
    doc_vecs: Rows,
    miner: NegativeMiner,
    seed: int,
    *,
    task: str,
) -> PairSet:
    """Training pairs for ``queries`` of one task (``task``: its name, carried by every row).

    ``query_vecs`` (nq, dQ) are the query model's vectors (what the adapter sees), ``teacher_vecs``
    (nq, dD) the teacher's vectors used for mining, ``doc_vecs`` (nd, dD) the corpus in the document
    model's space; it may be a numpy memmap, of which only the needed rows are read. Queries none of
    whose relevant documents are in the corpus are skipped with a warning.
    """
    if not len(query_vecs) == len(teacher_vecs) == len(queries):
        raise ValueError(
            f"{len(queries)} queries but {len(query_vecs)} query vectors "
            f"and {len(teacher_vecs)} teacher vectors"
        )
    if len(doc_vecs) != len(corpus):
        raise ValueError(
            f"corpus {corpus.key} has {len(corpus)} documents but {len(doc_vecs)} document vectors"
        )
    positives = [choose_positive(q, corpus, seed) for q in queries]
    kept = [i for i, row in enumerate(positives) if row is not None]
    if len(kept) < len(queries):
        missing = [queries[i].qid for i, row in enumerate(positives) if row is None]
        log.warning(
            "corpus %s: %d of %d queries have no relevant document in the corpus and are skipped (e.g. %s)",
            corpus.key,
            len(missing),
            len(queries),
            missing[:5],
        )
    if not kept:
        raise ValueError(f"corpus {corpus.key}: none of {len(queries)} queries has a relevant document in it")
    labelled_of = {i: {corpus.position(doc) for doc in queries[i].labels if doc in corpus} for i in kept}
    # A query labelling every document has no negative to contrast with: it cannot train, so it is
    # skipped like one without a relevant document (a tiny MAIR sub-split can be such a corpus).
    saturated = [i for i in kept if len(labelled_of[i]) >= len(corpus)]
    if saturated:
        log.warning(
            "corpus %s: %d of %d queries label every one of its %d documents and are skipped (e.g. %s)",
            corpus.key,
            len(saturated),
            len(queries),
            len(corpus),
            [queries[i].qid for i in saturated[:5]],
        )
        kept = [i for i in kept if i not in set(saturated)]
    if not kept:
        return PairSet.empty(query_vecs.shape[1], doc_vecs.shape[1], miner.n_negatives)
    labelled = [labelled_of[i] for i in kept]
    pos = torch.tensor([positives[i] for i in kept], dtype=torch.long)
    keep = torch.tensor(kept, dtype=torch.long)
    negatives = miner.mine(teacher_vecs[keep.to(teacher_vecs.device)], doc_vecs, pos.tolist(), labelled, seed)
    needed, local = torch.unique(torch.cat([pos, negatives.flatten()]), return_inverse=True)
    rows = gather_rows(doc_vecs, needed).cpu()
    return PairSet(
        query=gather_rows(query_vecs, keep).cpu(),
        positive=rows[local[: len(pos)]],
        negatives=rows[local[len(pos) :]].view(len(pos), miner.n_negatives, -1),
        tasks=(task,) * len(pos),
    )
