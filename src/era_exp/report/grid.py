"""Arrange finished runs into comparison blocks: one per pair × context × train ratio.

Ratio-free methods (no stage reads labels: zero_shot, align_only; ``train_ratio`` None) belong to every ratio
block of their pair. zero_shot on an asymmetric pair is the document model's own zero-shot, so a
pair without its own zero_shot run borrows the one of its document model (``query_model_used``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from era_exp.report.collect import Context, RunRecord, method_labels, method_sort_key


@dataclass(frozen=True)
class Block:
    """The runs of one pair, context and train ratio, keyed by method (in table order)."""

    pair: str
    query_embedder: str
    doc_embedder: str
    context: Context
    ratio: float | None
    runs: dict[str, RunRecord]
    borrowed: frozenset[str] = frozenset()

    @property
    def methods(self) -> list[str]:
        return list(self.runs)


@dataclass(frozen=True)
class Grid:
    """All comparison blocks of a sweep, the distinct runs in them, and conflicting duplicates left out."""

    blocks: list[Block]
    runs: list[RunRecord]
    duplicates: list[RunRecord] = field(default_factory=list)

    def contexts(self) -> list[Context]:
        return sorted({block.context for block in self.blocks}, key=str)

    def pairs(self, context: Context) -> list[str]:
        return sorted({block.pair for block in self.blocks if block.context == context})

    def of(self, context: Context, pair: str) -> list[Block]:
        return [b for b in self.blocks if b.context == context and b.pair == pair]


def build_grid(runs: list[RunRecord]) -> Grid:
    """Group runs into blocks; of two runs with the same coordinates the first folder wins.

    Twins with the same run key (a sweep's ratio-free points, computed once and reused) are one
    run; two different computations at the same coordinates are reported as duplicates.
    """
    labels = method_labels(runs)
    unique: dict[tuple, RunRecord] = {}
    duplicates = []
    for record in sorted(runs, key=lambda r: str(r.path)):
        key = (record.pair, record.context, labels[record.path], record.train_ratio)
        if key not in unique:
            unique[key] = record
        elif unique[key].results["run_key"] != record.results["run_key"]:
            duplicates.append(record)
    by_pair: dict[tuple[str, Context], list[tuple[str, RunRecord]]] = defaultdict(list)
    for (pair, context, label, _), record in unique.items():
        by_pair[pair, context].append((label, record))
    blocks = []
    for (pair, context), labelled in sorted(by_pair.items(), key=lambda item: (str(item[0][1]), item[0][0])):
        records = [record for _, record in labelled]
        fixed = {label: r for label, r in labelled if r.train_ratio is None}
        borrowed = frozenset()
        first = records[0]
        if "zero_shot" not in fixed and (
            baseline := doc_zero_shot(unique.values(), context, first.doc_embedder)
        ):
            fixed["zero_shot"] = baseline
            borrowed = frozenset({"zero_shot"})
        ratios = sorted({r.train_ratio for r in records if r.train_ratio is not None}) or [None]
        for ratio in ratios:
            trained = {label: r for label, r in labelled if ratio is not None and r.train_ratio == ratio}
            members = {**fixed, **trained}
            ordered = {m: members[m] for m in sorted(members, key=method_sort_key)}
            blocks.append(
                Block(pair, first.query_embedder, first.doc_embedder, context, ratio, ordered, borrowed)
            )
    return Grid(blocks, list(unique.values()), duplicates)


def doc_zero_shot(runs: Iterable[RunRecord], context: Context, doc_embedder: str) -> RunRecord | None:
    """The zero_shot run of ``doc_embedder`` (its ``query_model_used``) in ``context``, from any pair."""
    candidates = [
        r
        for r in runs
        if r.method == "zero_shot"
        and r.context == context
        and r.info.get("query_model_used", r.doc_embedder) == doc_embedder
    ]
    return min(candidates, key=lambda r: str(r.path), default=None)
