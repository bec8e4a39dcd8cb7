"""The request bodies the API accepts, validated by pydantic (a bad field is a 422 naming it).

`ChatRequest` is OpenAI's chat-completions request: the fields ragqa uses are checked, the
others (`user`, `metadata`, `tools`, ...) are accepted and ignored, so any OpenAI client works
unchanged; `top_k` and `repetition_penalty` are vLLM's extensions. `RetrieveRequest` is
ragqa's own and refuses unknown fields, so a misspelt filter is an error, not silence.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ingest.store.filters import FilterError, MetadataFilter
from retrieval.settings import Mode


class TextPart(BaseModel):
    """One part of a message's content list; only text parts are understood."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None

    @property
    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = False


class RetrieveFilters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source_glob: str | None = Field(None, description="only sources matching this glob")
    min_score: float | None = Field(None, description="drop hits whose cosine (raw score "
                                    "without one) is below this")
    metadata: list[str] = Field([], description="conditions on the documents' metadata, all "
                                "of which must hold: kind=pdf, language=zh, "
                                "ingested>=2026-01-01, team=infra,ml")

    @field_validator("metadata")
    @classmethod
    def _parsable(cls, conditions: list[str]) -> list[str]:
        try:
            MetadataFilter.parse(conditions)
        except FilterError as exc:
            raise ValueError(str(exc)) from None
        return conditions

    def settings(self) -> dict:
        """The flat-named retrieval settings these filters set (None: not given)."""
        return {"source_glob": self.source_glob, "min_score": self.min_score,
                "filters": tuple(self.metadata) or None}


class ChatRequest(BaseModel):
    """`model` names an index (answered from its documents, with citations) or the server's
    LLM itself (the messages go to it as they are)."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, gt=0)
    max_completion_tokens: int | None = Field(None, gt=0)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=0)
    repetition_penalty: float | None = Field(None, gt=0)
    seed: int | None = None
    n: int = Field(1, ge=1, le=1, description="one answer per request")
    filters: RetrieveFilters | None = Field(None, description="ragqa's own: which documents "
                                            "the answer may come from")

    @field_validator("messages")
    @classmethod
    def _ends_with_a_question(cls, messages: list[ChatMessage]) -> list[ChatMessage]:
        if messages[-1].role != "user" or not messages[-1].text.strip():
            raise ValueError("the last message must be the user's question, with text")
        return messages

    @property
    def question(self) -> str:
        return self.messages[-1].text

    def history(self) -> list[tuple[str, str]]:
        """Earlier (question, answer) turns, oldest first: a user message followed by the
        assistant's reply. System messages are left out: an index's prompt is ragqa's own."""
        turns = [m for m in self.messages[:-1] if m.role in ("user", "assistant")]
        return [(q.text, a.text) for q, a in pairwise(turns)
                if q.role == "user" and a.role == "assistant"]

    def chat(self) -> list[dict[str, str]]:
        """The messages as an LLM backend takes them (developer is the newer name of system)."""
        role = {"developer": "system", "tool": "user"}
        return [{"role": role.get(m.role, m.role), "content": m.text} for m in self.messages]

    @property
    def max_new_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class RetrieveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: str = Field(min_length=1)
    question: str = Field(min_length=1)
    k: int | None = Field(None, gt=0, le=100)
    mode: Mode | None = None
    filters: RetrieveFilters = RetrieveFilters()

    @field_validator("question")
    @classmethod
    def _has_text(cls, question: str) -> str:
        if not question.strip():
            raise ValueError("the question is empty")
        return question
