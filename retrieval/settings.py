"""The retrieval stage's settings: mode, depth, reranking and filters (docs/architecture.md).

    build_retriever(index, embedder, RetrievalSettings(mode="bm25", k=3))
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ingest.store.filters import FilterError, MetadataFilter

Mode = Literal["dense", "bm25", "hybrid"]
MODES: tuple[str, ...] = get_args(Mode)


class RetrievalSettings(BaseModel):
    """How `build_retriever` finds passages for a question."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    k: int = Field(5, gt=0, description="passages per question")
    mode: Mode = "hybrid"
    reranker: str | None = Field(None, description="cross-encoder to rerank with (off: None)")
    rerank_candidates: int = Field(20, gt=0, description="first-stage hits the reranker scores")
    min_score: float | None = Field(None, description="drop hits whose cosine (raw score "
                                    "without one) is below this")
    source_glob: str | None = Field(None, description="only sources matching this glob")
    filters: tuple[str, ...] = Field((), description="metadata conditions, all of which a "
                                     "document must meet: kind=pdf, language=zh, "
                                     "ingested>=2026-01-01, team=infra "
                                     "(`ingest.store.filters`)")
    device: str | None = Field(None, description="the reranker's device; None: the GPU if any")

    @field_validator("filters", mode="before")
    @classmethod
    def _parsable(cls, value):
        """A bad condition fails when the settings are made, before any model loads."""
        if isinstance(value, str):
            value = [value]
        try:
            MetadataFilter.parse(list(value or ()))
        except FilterError as exc:
            raise ValueError(str(exc)) from None
        return tuple(value or ())
