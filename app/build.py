"""Entry-point factories: settings in, ready stages out; heavy models are loaded once.

    >>> s = load_settings(None, {"index": Path("indexes/sample"), "mode": "hybrid"})
    >>> retriever = make_retriever(s)          # opens the index, loads its embedder (cached)
    >>> retriever.retrieve("什么是知识蒸馏？", k=3)

Only the CLI and the UI call these. Models are cached with `functools.lru_cache` on the
settings values that determine them, so a Streamlit rerun or a second command in the same
process reuses the loaded model.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from app.config import Settings
from ingest.embedder import Embedder
from ingest.index import IndexReader, open_index
from retrieval import Retriever, build_retriever
from retrieval.rerank import load_cross_encoder


@lru_cache(maxsize=4)
def _embedder(model: str, device: str | None, batch_size: int | None) -> Embedder:
    return Embedder(model, device=device, batch_size=batch_size)


@lru_cache(maxsize=2)
def _cross_encoder(model: str, device: str | None):
    return load_cross_encoder(model, device=device)


def make_embedder(settings: Settings, model: str | None = None) -> Embedder:
    """The embedder of `settings.embedding` (or `model`), loaded once per process."""
    return _embedder(model or settings.embedding, settings.device, settings.embed_batch_size)


def make_retriever(settings: Settings, index: IndexReader | None = None,
                   embedder: Embedder | None = None) -> Retriever:
    """The retriever the settings describe (mode, k, reranker, min_score, source_glob).

    Without `index`, opens `settings.index`. Without `embedder`, loads the model the index
    was built with (any other would give meaningless cosines); BM25 mode then needs none.
    """
    index = open_index(settings.index) if index is None else index
    if embedder is None and settings.mode != "bm25":
        embedder = make_embedder(settings, model=index.manifest.embedding_model)
    reranker = _cross_encoder(settings.reranker, settings.device) if settings.reranker else None
    return build_retriever(index, embedder, mode=settings.mode, k=settings.k, reranker=reranker,
                           min_score=settings.min_score, source_glob=settings.source_glob)


# --- generation (make_llm / make_engine) -------------------------------------------------

@lru_cache(maxsize=2)
def _llm(name: str, cache_dir: str, device: str | None, base_url: str | None,
         api_key: str | None, dtype: str | None, quantization: str | None):
    from generation import load_llm

    return load_llm(name, Path(cache_dir), device=device, base_url=base_url, api_key=api_key,
                    dtype=dtype, quantization=quantization)


def make_llm(settings: Settings):
    """The LLM backend of `settings.llm`, loaded (and for built-ins converted) once per process."""
    return _llm(settings.llm, str(settings.cache_dir), settings.device, settings.base_url,
                settings.api_key, settings.llm_dtype, settings.llm_quantization)


def make_decoding(settings: Settings):
    from generation import DecodingParams

    return DecodingParams(
        temperature=settings.temperature, top_p=settings.top_p, top_k=settings.top_k,
        repetition_penalty=settings.repetition_penalty, num_beams=settings.num_beams,
        max_new_tokens=settings.max_new_tokens, seed=settings.seed)


def make_engine(settings: Settings, retriever: Retriever | None = None, llm=None):
    """An AnswerEngine over `make_retriever(settings)` and `make_llm(settings)` (or the given)."""
    from generation import AnswerEngine

    return AnswerEngine(
        make_retriever(settings) if retriever is None else retriever,
        make_llm(settings) if llm is None else llm,
        make_decoding(settings), k=settings.k, min_relevance=settings.min_relevance,
        few_shot=settings.few_shot, rewrite=settings.rewrite,
        max_prompt_tokens=settings.max_prompt_tokens)
