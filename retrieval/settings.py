"""The retrieval stage's settings: mode, depth, reranking and filters (docs/architecture.md).

    build_retriever(index, embedder, RetrievalSettings(mode="bm25", k=3))
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

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
    device: str | None = Field(None, description="the reranker's device; None: the GPU if any")
