"""What a retriever returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Protocol


@dataclass(frozen=True)
class Hit:
    """One retrieved passage, best first in a list of hits."""

    text: str
    source: str
    page: int | None
    score: float
    chunk_id: str
    start_char: int = 0
    # Cosine similarity of question and passage when the retriever knows it (dense and hybrid
    # modes). Unlike `score`, whose scale depends on the mode (RRF, BM25), it is comparable
    # across questions, so generation uses it for its "nothing relevant: abstain" threshold.
    relevance: float | None = None
    locator: str | None = None  # where in the file beyond the page: "slide 3", a sheet's rows
    ocr: bool = False  # the text was read from a scan by OCR

    def to_json(self) -> dict:
        """The hits.jsonl form (docs/architecture.md, "File formats")."""
        d = asdict(self)
        d.pop("start_char")
        d.pop("relevance")
        return d


class Retriever(Protocol):
    """Anything that turns a question into ranked hits (generation and eval depend on this)."""

    def retrieve(self, question: str, k: int | None = None) -> list[Hit]: ...
