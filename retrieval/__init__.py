"""Retrieval: dense, BM25 and hybrid search over an index, with optional reranking.

    index = open_index(Path("indexes/sample"))
    retriever = build_retriever(index, Embedder(), RetrievalSettings(mode="hybrid", k=5))
    for hit in retriever.retrieve("什么是知识蒸馏？"):
        print(hit.chunk.source, hit.chunk.page, round(hit.score, 4), hit.relevance)
"""

from __future__ import annotations

from ingest.store.filters import MetadataFilter
from retrieval.bm25 import BM25Retriever
from retrieval.dense import DenseRetriever
from retrieval.hits import RetrievalError
from retrieval.hybrid import FusionWeights, HybridRetriever, reciprocal_rank_fusion
from retrieval.hygiene import HygieneRetriever
from retrieval.rerank import CrossEncoderReranker
from retrieval.settings import MODES, RetrievalSettings
from retrieval.snapshot import SnapshotRetriever
from retrieval.types import Hit, Retriever

__all__ = [
    "MODES",
    "BM25Retriever",
    "CrossEncoderReranker",
    "DenseRetriever",
    "FusionWeights",
    "Hit",
    "HybridRetriever",
    "HygieneRetriever",
    "RetrievalError",
    "RetrievalSettings",
    "Retriever",
    "SnapshotRetriever",
    "build_retriever",
    "reciprocal_rank_fusion",
]


def build_retriever(index, embedder, settings: RetrievalSettings | None = None,
                    reranker=None) -> Retriever:
    """The retriever `settings` describe, optionally reranked, with result hygiene on top, each
    question answered from one read snapshot of the index.

    Args:
        index: an opened index, either store (`ingest.store.open_store`).
        embedder: the index's embedder; may be None only for `mode="bm25"` (then hits carry
            no cosine `relevance`).
        settings: `mode` (dense, bm25, hybrid), `k` hits per question, `min_score` (drop hits
            whose cosine relevance, raw score without one, is below it), `source_glob` (keep
            only sources matching it, like `*.pdf`), `filters` (metadata conditions, searched
            inside the store), `reranker` and `rerank_candidates`.
        reranker: a loaded `CrossEncoder` to use instead of loading `settings.reranker`.
    """
    settings = settings or RetrievalSettings()
    mode, k = settings.mode, settings.k
    if mode not in MODES:
        raise RetrievalError(f"retrieval mode must be one of {', '.join(MODES)}, not {mode!r}")
    if embedder is None and mode != "bm25":
        raise RetrievalError(f"retrieval mode {mode!r} needs the index's embedder")
    where = MetadataFilter.parse(settings.filters) or None
    if mode == "dense":
        base: Retriever = DenseRetriever(index, embedder, k=k, where=where)
    elif mode == "bm25":
        base = BM25Retriever(index, k=k, embedder=embedder, where=where)
    else:
        base = HybridRetriever(index, embedder, k=k, where=where)
    reranker = reranker if reranker is not None else settings.reranker
    if reranker is not None:
        base = CrossEncoderReranker(reranker, base, k=k, candidates=settings.rerank_candidates,
                                    device=settings.device)
    return SnapshotRetriever(index, HygieneRetriever(base, k=k, min_score=settings.min_score,
                                                     source_glob=settings.source_glob))
