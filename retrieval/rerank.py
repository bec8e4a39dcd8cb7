"""Optional reranking: a cross-encoder rescores an over-fetched candidate list.

    reranker = CrossEncoderReranker("cross-encoder/ms-marco-MiniLM-L-6-v2",
                                    HybridRetriever(index, embedder), k=5, candidates=30)
    reranker.retrieve("How is the index kept atomic?")   # 5 hits, by cross-encoder score

A cross-encoder reads question and passage together, so it ranks better than either first
stage, but costs one forward pass per candidate; hence off by default.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ingest.embedder import load_offline
from retrieval.hits import check_positive
from retrieval.types import Hit, Retriever


def load_cross_encoder(model: str, device: str | None = None, max_length: int = 512):
    """A sentence-transformers CrossEncoder from a local path or the local HF cache (offline).

    Pairs are truncated to `max_length` tokens, or to the model's position limit if smaller
    (a longer pair would crash the forward pass, not just lose its tail).
    """
    from sentence_transformers import CrossEncoder

    encoder = load_offline(CrossEncoder, model, model, kind="reranker", device=device)
    positions = getattr(encoder.config, "max_position_embeddings", None) or max_length
    encoder.max_seq_length = min(max_length, positions)
    return encoder


class CrossEncoderReranker:
    """Reorders the `candidates` best hits of `base` by a cross-encoder's score.

    Args:
        model: a Hugging Face id (in the local cache) or a local folder, or a loaded
            `sentence_transformers.CrossEncoder`.
        base: the first-stage retriever.
        k: hits returned when `retrieve` is called without `k`.
        candidates: hits fetched from `base` to rerank (at least `k` per call).
        device: `cpu`, `cuda`, ... or None for sentence-transformers' choice.
        batch_size: pairs per forward pass.

    The hits' `score` becomes the cross-encoder's score; `relevance` (the cosine) is kept.
    """

    def __init__(self, model, base: Retriever, k: int = 5, candidates: int = 20,
                 device: str | None = None, batch_size: int = 32) -> None:
        check_positive("k", k)
        check_positive("candidates", candidates)
        check_positive("batch_size", batch_size)
        if isinstance(model, str | Path):
            self.name = str(model)
            self.model = load_cross_encoder(str(model), device=device)
        else:
            self.name = type(model).__name__
            self.model = model
        self.base, self.k = base, k
        self.candidates, self.batch_size = candidates, batch_size

    def retrieve(self, question: str, k: int | None = None) -> list[Hit]:
        k = self.k if k is None else k
        check_positive("k", k)
        hits = self.base.retrieve(question, k=max(self.candidates, k))
        if not hits:
            return []
        # CrossEncoder.rank sorts stably: equal scores keep the first stage's order.
        ranked = self.model.rank(question, [h.chunk.text for h in hits], top_k=k,
                                 batch_size=self.batch_size, show_progress_bar=False)
        return [replace(hits[r["corpus_id"]], score=float(r["score"])) for r in ranked]
