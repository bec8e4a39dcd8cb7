"""AnswerEngine (being written): retrieve -> gate -> prompt -> generate -> Answer."""

from __future__ import annotations

from collections.abc import Iterator

from generation.llm import LLMBackend
from generation.types import Answer, DecodingParams
from retrieval.types import Retriever

History = list[tuple[str, str]]  # (question, answer_text) pairs, oldest first


class AnswerEngine:
    def __init__(self, retriever: Retriever, llm: LLMBackend,
                 decoding: DecodingParams | None = None, *, k: int | None = None,
                 min_relevance: float | None = 0.2, few_shot: bool = False,
                 rewrite_followups: bool = True, batch_size: int = 8) -> None:
        raise NotImplementedError("being written (issue 4)")

    def ask(self, question: str, history: History | None = None) -> Answer: ...

    def stream(self, question: str, history: History | None = None) -> Iterator[str | Answer]: ...

    def ask_many(self, questions: list[str]) -> list[Answer]: ...
