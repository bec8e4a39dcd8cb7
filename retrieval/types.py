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

    def to_json(self) -> dict:
        """The hits.jsonl form of DESIGN.md."""
        d = asdict(self)
        d.pop("start_char")
        return d


class Retriever(Protocol):
    """Anything that turns a question into ranked hits (generation and eval depend on this)."""

    def retrieve(self, question: str, k: int | None = None) -> list[Hit]: ...
