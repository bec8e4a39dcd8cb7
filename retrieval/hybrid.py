"""Hybrid retrieval: weighted reciprocal-rank fusion (RRF) of dense and BM25 rankings.

    >>> hybrid = HybridRetriever(index, Embedder("builtin:minilm"), k=5)
    >>> hits = hybrid.retrieve("什么是检索增强生成？")
    >>> hits[0].score, hits[0].relevance    # the RRF score, the cosine of question and chunk
    (0.0326, 0.41)

RRF adds `weight / (rrf_k + rank)` over the rankings a chunk appears in (rank 1 = best), so
it needs no score calibration between cosines and BM25. The weights depend on the question's
language: the default embedder (all-MiniLM-L6-v2) is English-only, so for a Chinese question
its ranking is mostly noise and BM25 (CJK bigrams) gets the larger say. A question's weights
are interpolated between the English and the CJK pair by its share of CJK (`cjk_share`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from retrieval.bm25 import BM25Retriever
from retrieval.dense import DEFAULT_EF_SEARCH, DenseRetriever
from retrieval.hits import RetrievalError, check_positive, cjk_share, cosines, hits_for_rows
from retrieval.types import Hit


@dataclass(frozen=True)
class Fused:
    """One row of a fused ranking."""

    row: int
    score: float
    best_rank: int  # its best rank in any input ranking (1-based), the tie-breaker


def reciprocal_rank_fusion(rankings: Sequence[Sequence[int]], weights: Sequence[float],
                           rrf_k: float = 60.0) -> list[Fused]:
    """Fuses rankings (lists of rows, best first) into one, best first.

    Ties (equal fused score) go to the row with the better single rank, then the lower row,
    so the order is deterministic.
    """
    if len(rankings) != len(weights):
        raise ValueError(f"{len(rankings)} rankings but {len(weights)} weights")
    score: dict[int, float] = {}
    best: dict[int, int] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, row in enumerate(ranking, start=1):
            row = int(row)
            score[row] = score.get(row, 0.0) + weight / (rrf_k + rank)
            best[row] = min(best.get(row, rank), rank)
    fused = [Fused(row, s, best[row]) for row, s in score.items()]
    fused.sort(key=lambda f: (-f.score, f.best_rank, f.row))
    return fused


class HybridRetriever:
    """Dense + BM25, fused by weighted RRF; the default retrieval mode.

    Args:
        index: an opened index.
        embedder: the embedder the index was built with.
        k: hits returned when `retrieve` is called without `k`.
        depth: candidates taken from each ranking before fusion (>= k is enforced per call).
        rrf_k: the RRF constant; larger flattens the difference between ranks.
        dense_weight, bm25_weight: weights for an English (non-CJK) question.
        cjk_dense_weight, cjk_bm25_weight: weights for an all-CJK question.
        ef_search: HNSW beam width for the dense side.
    """

    def __init__(self, index, embedder, k: int = 5, depth: int = 50, rrf_k: float = 60.0,
                 dense_weight: float = 1.0, bm25_weight: float = 1.0,
                 cjk_dense_weight: float = 0.5, cjk_bm25_weight: float = 1.0,
                 ef_search: int = DEFAULT_EF_SEARCH) -> None:
        check_positive("k", k)
        check_positive("depth", depth)
        if rrf_k < 0:
            raise RetrievalError(f"rrf_k must be 0 or greater, not {rrf_k}")
        weights = {"dense_weight": dense_weight, "bm25_weight": bm25_weight,
                   "cjk_dense_weight": cjk_dense_weight, "cjk_bm25_weight": cjk_bm25_weight}
        for name, w in weights.items():
            if w < 0:
                raise RetrievalError(f"{name} must be 0 or greater, not {w}")
        if dense_weight + bm25_weight == 0 or cjk_dense_weight + cjk_bm25_weight == 0:
            raise RetrievalError("hybrid weights for a language must not both be 0")
        self.dense = DenseRetriever(index, embedder, k=k, ef_search=ef_search)
        self.bm25 = BM25Retriever(index, k=k)
        self.index = index
        self.k, self.depth, self.rrf_k = k, depth, rrf_k
        self.weights = weights

    def weights_for(self, question: str) -> tuple[float, float]:
        """(dense, BM25) weights for this question, by its share of CJK."""
        share = cjk_share(question)
        w = self.weights
        dense = (1 - share) * w["dense_weight"] + share * w["cjk_dense_weight"]
        bm25 = (1 - share) * w["bm25_weight"] + share * w["cjk_bm25_weight"]
        return dense, bm25

    def retrieve(self, question: str, k: int | None = None) -> list[Hit]:
        k = self.k if k is None else k
        check_positive("k", k)
        depth = max(self.depth, k)
        qvec = self.dense.embed(question)
        dense_rows, dense_scores = self.dense.search(qvec, depth)
        bm25_rows, _ = self.bm25.search(question, depth)
        fused = reciprocal_rank_fusion([dense_rows, bm25_rows], self.weights_for(question),
                                       self.rrf_k)[:k]
        # The dense side already knows its cosines; only BM25-only rows need a lookup.
        known = {int(r): float(s) for r, s in zip(dense_rows, dense_scores, strict=True)}
        missing = [f.row for f in fused if f.row not in known]
        known.update(zip(missing, cosines(self.index, qvec, missing), strict=True))
        rows = [f.row for f in fused]
        return hits_for_rows(self.index, rows, [f.score for f in fused],
                             relevance=[known[r] for r in rows])
