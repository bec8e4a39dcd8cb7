"""BM25 retrieval over the index's lexical store (bm25s in an index directory, term statistics
in PostgreSQL; tokens: CJK characters and bigrams + stemmed English, `ingest.core.text.tokenize`).

    bm25 = BM25Retriever(open_index(Path("indexes/sample")), k=5)
    bm25.retrieve("检索增强生成")[0].score      # a BM25 score; relevance is None
    # 7.31

Given the index's embedder, hits also carry `relevance`, the cosine of question and chunk
computed from the stored vectors, so that generation's abstention threshold works in this
mode too.
"""

from __future__ import annotations

import numpy as np

from ingest.core.text import tokenize
from ingest.store.filters import MetadataFilter
from retrieval.hits import check_positive, cosines, hits_for_rows
from retrieval.types import Hit


class BM25Retriever:
    """Chunks ranked by BM25 against the question's tokens (`ingest.core.text.tokenize`).

    Args:
        index: an opened index, either store; it ranks the tokens by BM25.
        k: hits returned when `retrieve` is called without `k`.
        embedder: optional; the index's embedder, used only to fill `Hit.relevance`.
        where: only chunks of the documents this metadata filter admits.
    """

    def __init__(self, index, k: int = 5, embedder=None,
                 where: MetadataFilter | None = None) -> None:
        check_positive("k", k)
        if embedder is not None:
            index.check_embedder(embedder)
        self.index = index
        self.k = k
        self.embedder = embedder
        self.where = where or None

    def search(self, question: str, depth: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the `depth` best-scoring chunks (score > 0 only), best first, and scores."""
        if self.where is None:
            return self.index.search_lexical(tokenize(question), depth)
        return self.index.search_lexical(tokenize(question), depth, where=self.where)

    def retrieve(self, question: str, k: int | None = None) -> list[Hit]:
        k = self.k if k is None else k
        check_positive("k", k)
        rows, scores = self.search(question, k)
        relevance = None
        if self.embedder is not None and len(rows):
            relevance = cosines(self.index, self.embedder.embed_query(question), rows)
        return hits_for_rows(self.index, rows, scores, relevance=relevance)
