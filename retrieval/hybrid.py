"""Hybrid retrieval: weighted reciprocal-rank fusion (RRF) of dense and BM25 rankings.

    hybrid = HybridRetriever(index, Embedder("builtin:e5-small"), k=5)
    hits = hybrid.retrieve("什么是检索增强生成？")
    hits[0].score, hits[0].relevance    # the RRF score, the cosine of question and chunk
    # (0.0326, 0.41)

RRF adds `weight / (rrf_k + rank)` over the rankings a chunk appears in (rank 1 = best), so
it needs no score calibration between cosines and BM25. The weights depend on the question's
language (`FusionWeights`): they were set when the default embedder was the English-only
all-MiniLM-L6-v2, whose ranking of a Chinese question is mostly noise, and kept for the
multilingual default (multilingual-e5-small), with which they measured as well as any other
pair tried (bench/retrieval_quality.py --embedding builtin:e5-small --sweep, 2026-12-06:
hybrid hit@5 0.97 en / 1.00 zh). A question's weights are interpolated between the English
and the CJK pair by its share of CJK. A question in another language than the documents
matches few BM25 terms, and the dense ranking decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ingest.core.text import cjk_share
from ingest.store.filters import MetadataFilter
from retrieval.bm25 import BM25Retriever
from retrieval.dense import DEFAULT_EF_SEARCH, DenseRetriever
from retrieval.hits import RetrievalError, check_positive, cosines, hits_for_rows
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


# How much a chunk's cosine relevance (0..1) adds to its RRF score when ranking: enough to
# order near-ties (RRF steps between neighbouring rank pairs are 0.02-0.1 with rrf_k = 2),
# too little to overturn a clear difference.
RELEVANCE_TIEBREAK = 0.02


@dataclass(frozen=True)
class FusionWeights:
    """RRF weights of the dense and BM25 rankings, for English and for CJK questions.

    A question's weights are interpolated between the two pairs by its CJK share, so a mixed
    question ("RAG 是什么") gets mostly the CJK pair.
    """

    # Measured on data/qa and bench/paraphrases_en.jsonl (bench/retrieval_quality.py --sweep):
    # BM25 leads (its first place is usually right on names and numbers) and the dense vote
    # reorders BM25's close candidates and adds what BM25 misses (paraphrases).
    dense: float = 0.5
    bm25: float = 1.0
    # all-MiniLM-L6-v2 ranks Chinese poorly (hit@1 0.18 vs BM25's 1.00 on data/qa), so for a
    # Chinese question its vote counts even less.
    cjk_dense: float = 0.25
    cjk_bm25: float = 1.0

    def __post_init__(self) -> None:
        for name in ("dense", "bm25", "cjk_dense", "cjk_bm25"):
            if getattr(self, name) < 0:
                raise RetrievalError(f"hybrid weight {name} must be 0 or greater, "
                                     f"not {getattr(self, name)}")
        if self.dense + self.bm25 == 0 or self.cjk_dense + self.cjk_bm25 == 0:
            raise RetrievalError("hybrid weights for a language must not both be 0")

    def for_question(self, question: str) -> tuple[float, float]:
        """(dense, BM25) weights for this question."""
        share = cjk_share(question)
        return ((1 - share) * self.dense + share * self.cjk_dense,
                (1 - share) * self.bm25 + share * self.cjk_bm25)


class HybridRetriever:
    """Dense + BM25, fused by weighted RRF; the default retrieval mode.

    Args:
        index: an opened index.
        embedder: the embedder the index was built with.
        k: hits returned when `retrieve` is called without `k`.
        depth: candidates taken from each ranking before fusion (at least k per call).
        rrf_k: the RRF constant; larger flattens the difference between ranks. The classic 60
            suits long lists from many rankers; with two rankers whose top few hits matter, a
            small one lets a clear first place count (1-3 measured best, 10+ worse).
        weights: `FusionWeights` for English and CJK questions.
        ef_search: HNSW beam width for the dense side.
        where: only chunks of the documents this metadata filter admits, on both sides.
    """

    def __init__(self, index, embedder, k: int = 5, depth: int = 50, rrf_k: float = 2.0,
                 weights: FusionWeights | None = None,
                 ef_search: int = DEFAULT_EF_SEARCH,
                 where: MetadataFilter | None = None) -> None:
        check_positive("k", k)
        check_positive("depth", depth)
        if rrf_k < 0:
            raise RetrievalError(f"rrf_k must be 0 or greater, not {rrf_k}")
        self.weights = FusionWeights() if weights is None else weights
        self.dense = DenseRetriever(index, embedder, k=k, ef_search=ef_search, where=where)
        self.bm25 = BM25Retriever(index, k=k, where=where)
        self.index = index
        self.k, self.depth, self.rrf_k = k, depth, rrf_k

    def retrieve(self, question: str, k: int | None = None) -> list[Hit]:
        k = self.k if k is None else k
        check_positive("k", k)
        depth = max(self.depth, k)
        qvec = self.dense.embed(question)
        dense_rows, dense_scores = self.dense.search(qvec, depth)
        bm25_rows, _ = self.bm25.search(question, depth)
        fused = reciprocal_rank_fusion([dense_rows, bm25_rows],
                                       self.weights.for_question(question), self.rrf_k)[:2 * k]
        # The dense side already knows its cosines; only BM25-only rows need a lookup.
        known = {int(r): float(s) for r, s in zip(dense_rows, dense_scores, strict=True)}
        missing = [f.row for f in fused if f.row not in known]
        known.update(zip(missing, cosines(self.index, qvec, missing), strict=True))
        # Ties and near-ties of the fused score go to the more relevant chunk: rank positions
        # alone tie often with two rankers (dense 1st + BM25 2nd = BM25 1st + dense 3rd ...).
        fused = sorted(fused, key=lambda f: -(f.score + RELEVANCE_TIEBREAK * known[f.row]))[:k]
        rows = [f.row for f in fused]
        return hits_for_rows(self.index, rows, [f.score for f in fused],
                             relevance=[known[r] for r in rows])
