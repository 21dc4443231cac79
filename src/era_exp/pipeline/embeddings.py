"""The embeddings a run needs, each read from the content-addressed cache or encoded once.

Models load lazily: with a warm cache a run never touches model weights. Corpora are keyed by
``Corpus.key`` and held one at a time: a task's corpus is read from the cache's memory maps when a
stage or the scorer asks for it (tasks sharing a corpus asked in a row share one array), so a run
over many tasks never holds every corpus in memory.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from omegaconf import DictConfig

from era_exp.data.schema import Corpus, Query
from era_exp.embed.cache import EmbeddingCache
from era_exp.pipeline.inputs import adaptation_parts, alignment_samples, method_teacher, training_plans
from era_exp.pipeline.plan import MethodStages, TaskPlan


class RunEmbeddings:
    """Memoised access to query and document embeddings for one run."""

    def __init__(self, cache: EmbeddingCache, query_model, doc_model) -> None:
        self.cache = cache
        self.query_model = query_model
        self.doc_model = doc_model
        self._current: tuple[str, np.ndarray] | None = None
        self._filled: set[str] = set()  # corpus keys known to be on disk

    @property
    def symmetric(self) -> bool:
        """Whether both sides are the same model (decided by identity, never by dimension)."""
        return self.query_model.identity == self.doc_model.identity

    def corpus(self, corpus: Corpus) -> np.ndarray:
        """Document-model embeddings of a whole corpus (documents are never instructed)."""
        if self._current is None or self._current[0] != corpus.key:
            self._current = None  # let the previous corpus go before reading the next
            texts = self.doc_model.format_docs(list(corpus.texts))
            if corpus.key in self._filled:
                vectors = self.cache.read(self.doc_model, texts)
            else:
                vectors = self.cache.get_or_encode(self.doc_model, texts)
                self._filled.add(corpus.key)
            self._current = (corpus.key, vectors)
        return self._current[1]

    def fill_corpus(self, corpus: Corpus) -> None:
        """Encode a corpus's missing documents without reading its vectors back."""
        if corpus.key not in self._filled:
            self.cache.fill(self.doc_model, self.doc_model.format_docs(list(corpus.texts)))
            self._filled.add(corpus.key)

    def queries(self, queries: Sequence[Query], model: str = "query") -> np.ndarray:
        """Instructed query embeddings from the ``query`` or the ``doc`` model."""
        embedder = self.query_model if model == "query" else self.doc_model
        return self.cache.get_or_encode(embedder, embedder.format_queries(list(queries)))

    def adapter_inputs(self, queries: Sequence[Query], inputs: str) -> np.ndarray:
        """What an adapter reading ``inputs`` (``adapter.inputs``) sees for each query.

        ``query``: the query model's vectors; ``query_and_doc``: each followed by the document
        model's own vector of the same instructed query.
        """
        if inputs == "query":
            return self.queries(queries)
        if inputs == "query_and_doc":
            return np.concatenate([self.queries(queries), self.queries(queries, model="doc")], axis=1)
        raise ValueError(f"adapter.inputs must be 'query' or 'query_and_doc', got {inputs!r}")

    def docs_with_query_model(self, texts: Sequence[str]) -> np.ndarray:
        """Stage-1 alignment inputs: the query model on sampled documents, without instructions."""
        return self.cache.get_or_encode(self.query_model, self.query_model.format_docs(list(texts)))


def prefetch(plans: Sequence[TaskPlan], emb: RunEmbeddings, cfg: DictConfig) -> None:
    """Encode every text the run will ask for, before any stage starts.

    The stages' own inputs (:mod:`era_exp.pipeline.inputs`) and the scored queries, so the stages
    and scoring then hit the cache; ``era-encode`` uses this to fill the cache for a whole grid first.
    """
    stages = MethodStages.of(cfg.method)
    reads_doc = not stages.trains or cfg.adapter.inputs == "query_and_doc"
    models = (["query"] if stages.trains else []) + (["doc"] if reads_doc else [])
    for plan in plans:
        if plan.scored_queries or plan.validation_queries or plan.trains:
            emb.fill_corpus(plan.task.corpus)
        for model in models:
            if plan.scored_queries:
                emb.queries(plan.scored_queries, model=model)
            if plan.validation_queries:
                emb.queries(plan.validation_queries, model=model)
    if stages.alignment:
        for corpus, rows in alignment_samples(plans, cfg):
            emb.docs_with_query_model([corpus.texts[row] for row in rows])
    if stages.adaptation:
        teacher = method_teacher(cfg, emb.symmetric)
        for plan in training_plans(plans):
            labelled = [query for _, queries in adaptation_parts(plan) for query in queries]
            if not labelled:
                continue
            emb.queries(labelled)
            if teacher.reads_doc_model_queries or reads_doc:
                emb.queries(labelled, model="doc")
