"""Retrieval: dense, BM25 and hybrid search over an index, with optional reranking.

    >>> index = open_index(Path("indexes/sample"))
    >>> retriever = build_retriever(index, Embedder("builtin:minilm"), mode="hybrid", k=5)
    >>> for hit in retriever.retrieve("什么是知识蒸馏？"):
    ...     print(hit.source, hit.page, round(hit.score, 4), hit.relevance)
"""

from __future__ import annotations

from pathlib import Path

from retrieval.bm25 import BM25Retriever
from retrieval.dense import DenseRetriever
from retrieval.hits import RetrievalError
from retrieval.hybrid import FusionWeights, HybridRetriever, reciprocal_rank_fusion
from retrieval.hygiene import HygieneRetriever
from retrieval.rerank import CrossEncoderReranker
from retrieval.types import Hit, Retriever

MODES = ("dense", "bm25", "hybrid")

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
    "Retriever",
    "build_retriever",
    "reciprocal_rank_fusion",
]


def build_retriever(index, embedder, mode: str = "hybrid", k: int = 5, reranker=None,
                    min_score: float | None = None, source_glob: str | None = None,
                    rerank_candidates: int = 20) -> Retriever:
    """The retriever for `mode`, optionally reranked, with result hygiene on top.

    Args:
        index: an opened index (`ingest.index.open_index`).
        embedder: the index's embedder; may be None only for `mode="bm25"` (then hits carry
            no cosine `relevance`).
        mode: `dense`, `bm25` or `hybrid`.
        k: hits per question.
        reranker: None (off), a cross-encoder id or path, or a loaded `CrossEncoder`.
        min_score: drop hits whose cosine relevance (raw score without one) is below it.
        source_glob: keep only hits from sources matching this glob (`*.pdf`, `kb/zh_*`).
        rerank_candidates: first-stage hits the reranker rescores.
    """
    if mode not in MODES:
        raise RetrievalError(f"retrieval mode must be one of {', '.join(MODES)}, not {mode!r}")
    if embedder is None and mode != "bm25":
        raise RetrievalError(f"retrieval mode {mode!r} needs the index's embedder")
    if mode == "dense":
        base: Retriever = DenseRetriever(index, embedder, k=k)
    elif mode == "bm25":
        base = BM25Retriever(index, k=k, embedder=embedder)
    else:
        base = HybridRetriever(index, embedder, k=k)
    if reranker is not None:
        model = str(reranker) if isinstance(reranker, Path) else reranker
        base = CrossEncoderReranker(model, base, k=k, candidates=rerank_candidates)
    return HygieneRetriever(base, k=k, min_score=min_score, source_glob=source_glob)
