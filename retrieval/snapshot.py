"""One read snapshot of the index per question.

    retriever = SnapshotRetriever(index, HygieneRetriever(HybridRetriever(index, emb), k=5))

A retrieval makes several reads: the vector search, the BM25 search, the cosines of BM25-only
rows, the chunks' text. In PostgreSQL a writer may commit between two of them; inside one
REPEATABLE READ snapshot they all see the same committed state, so a hit never points at a
chunk that a replaced file took away, and never at half a file. An index directory's reader is
a snapshot already (its `snapshot()` does nothing).
"""

from __future__ import annotations

from retrieval.types import Hit, Retriever


class SnapshotRetriever:
    """Runs `base.retrieve` inside `index.snapshot()`."""

    def __init__(self, index, base: Retriever) -> None:
        self.index = index
        self.base = base

    def retrieve(self, question: str, k: int | None = None) -> list[Hit]:
        with self.index.snapshot():
            return self.base.retrieve(question, k)
