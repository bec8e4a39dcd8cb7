"""Dense retrieval: embed the question, search the index's vectors by inner product (FAISS in
an index directory, pgvector in PostgreSQL).

    index = open_index(Path("indexes/sample"))
    dense = DenseRetriever(index, Embedder("builtin:e5-small"), k=5)
    hits = dense.retrieve("How are documents chunked?")
    hits[0].relevance == hits[0].score   # cosine similarity of question and chunk
    # True
"""

from __future__ import annotations

import numpy as np

from ingest.store.filters import MetadataFilter
from retrieval.hits import check_positive, hits_for_rows
from retrieval.types import Hit

DEFAULT_EF_SEARCH = 128  # HNSW beam width at query time; see bench/retrieval.py for recall


class DenseRetriever:
    """Nearest chunks by cosine similarity with the index's own embedding model.

    Args:
        index: an opened index, either store (`ingest.store.open_store`).
        embedder: the embedder the index was built with (checked: name and dimension).
        k: hits returned when `retrieve` is called without `k`.
        ef_search: HNSW beam width (only for `index_type="hnsw"`; higher = better recall).
        where: only chunks of the documents this metadata filter admits (searched in the
            store, `ingest.store.filters`).
    """

    def __init__(self, index, embedder, k: int = 5, ef_search: int = DEFAULT_EF_SEARCH,
                 where: MetadataFilter | None = None) -> None:
        check_positive("k", k)
        check_positive("ef_search", ef_search)
        index.check_embedder(embedder)
        self.index = index
        self.embedder = embedder
        self.k = k
        self.ef_search = ef_search
        self.where = where or None

    def embed(self, question: str) -> np.ndarray:
        return np.asarray(self.embedder.embed_query(question), dtype=np.float32)

    def search(self, query_vector: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the `depth` nearest chunks, best first, and their cosines."""
        if self.where is None:  # a store (or test double) without filters needs no argument
            return self.index.search_vectors(query_vector, depth, ef_search=self.ef_search)
        return self.index.search_vectors(query_vector, depth, ef_search=self.ef_search,
                                         where=self.where)

    def retrieve(self, question: str, k: int | None = None) -> list[Hit]:
        """The `k` chunks nearest to the question; score and relevance are both the cosine."""
        k = self.k if k is None else k
        check_positive("k", k)
        rows, scores = self.search(self.embed(question), k)
        return hits_for_rows(self.index, rows, scores, relevance=scores)
