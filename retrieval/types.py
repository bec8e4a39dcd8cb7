"""What a retriever returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ingest.core.types import Chunk


@dataclass(frozen=True)
class Hit:
    """One retrieved passage, best first in a list of hits: the stored chunk and its scores
    (as Haystack's `Document.score` or llama_index's `NodeWithScore`).

    >>> hit = Hit(Chunk("a.md#0", "The tower is 330 m tall.", "/kb/a.md", None, 0), 0.5)
    >>> hit.chunk.source, hit.score, hit.relevance
    ('/kb/a.md', 0.5, None)
    """

    chunk: Chunk  # what the store holds: text, source, page, chunk id, offset, locator, OCR
    score: float
    # Cosine similarity of question and passage when the retriever knows it (dense and hybrid
    # modes). Unlike `score`, whose scale depends on the mode (RRF, BM25), it is comparable
    # across questions, so generation uses it for its "nothing relevant: abstain" threshold.
    relevance: float | None = None

    def to_json(self) -> dict:
        """The hits.jsonl form (docs/architecture.md, "File formats")."""
        c = self.chunk
        return {"text": c.text, "source": c.source, "page": c.page, "score": self.score,
                "chunk_id": c.chunk_id, "locator": c.locator, "ocr": c.ocr}


class Retriever(Protocol):
    """Anything that turns a question into ranked hits (generation and eval depend on this)."""

    def retrieve(self, question: str, k: int | None = None) -> list[Hit]: ...
