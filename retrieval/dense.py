"""Dense retrieval: embed the question, search the index's FAISS vectors by inner product.

    >>> index = open_index(Path("indexes/sample"))
    >>> dense = DenseRetriever(index, Embedder("builtin:minilm"), k=5)
    >>> hits = dense.retrieve("How are documents chunked?")
    >>> hits[0].relevance == hits[0].score   # cosine similarity of question and chunk
    True
"""

from __future__ import annotations

import numpy as np

from retrieval.hits import check_positive, hits_for_rows
from retrieval.types import Hit

DEFAULT_EF_SEARCH = 128  # HNSW beam width at query time; see bench/retrieval.py for recall


def _as_hnsw(faiss_index):
    """The index as a faiss.IndexHNSW when it is one (so it takes per-query params), else None."""
    import faiss

    inner = faiss.downcast_index(faiss_index)
    return inner if isinstance(inner, faiss.IndexHNSW) else None


class DenseRetriever:
    """Nearest chunks by cosine similarity with the index's own embedding model.

    Args:
        index: an opened index (`ingest.index.open_index`).
        embedder: the embedder the index was built with (checked: name and dimension).
        k: hits returned when `retrieve` is called without `k`.
        ef_search: HNSW beam width (only for `index_type="hnsw"`; higher = better recall).
    """

    def __init__(self, index, embedder, k: int = 5, ef_search: int = DEFAULT_EF_SEARCH) -> None:
        check_positive("k", k)
        check_positive("ef_search", ef_search)
        index.check_embedder(embedder)
        self.index = index
        self.embedder = embedder
        self.k = k
        self.ef_search = ef_search
        self._hnsw = _as_hnsw(index.vectors)

    def embed(self, question: str) -> np.ndarray:
        return np.asarray(self.embedder.embed_query(question), dtype=np.float32)

    def search(self, query_vector: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the `depth` nearest chunks, best first, and their cosines."""
        n = int(self.index.vectors.ntotal)
        depth = min(depth, n)
        if depth == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        q = np.ascontiguousarray(query_vector, dtype=np.float32).reshape(1, -1)
        if self._hnsw is not None:
            import faiss

            # Per call (no shared state between threads); never a beam narrower than depth.
            params = faiss.SearchParametersHNSW(efSearch=max(self.ef_search, depth))
            scores, rows = self._hnsw.search(q, depth, params=params)
        else:
            scores, rows = self.index.vectors.search(q, depth)
        keep = rows[0] >= 0  # FAISS pads with -1 when it finds fewer than asked
        return rows[0][keep].astype(np.int64), scores[0][keep].astype(np.float32)

    def retrieve(self, question: str, k: int | None = None) -> list[Hit]:
        """The `k` chunks nearest to the question; score and relevance are both the cosine."""
        k = self.k if k is None else k
        check_positive("k", k)
        rows, scores = self.search(self.embed(question), k)
        return hits_for_rows(self.index, rows, scores, relevance=scores)
