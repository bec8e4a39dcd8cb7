"""Dense, BM25 and hybrid retrieval over a real index of English, Chinese and PDF files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from retrieval_fixtures import small_index  # noqa: F401 - a fixture

from ingest.core.types import IndexOpenError
from ingest.settings import IngestSettings
from ingest.store.local.reader import open_index
from retrieval import (
    BM25Retriever,
    DenseRetriever,
    HybridRetriever,
    RetrievalError,
    build_retriever,
)
from retrieval.settings import RetrievalSettings

QUESTIONS = {  # question -> the file that answers it
    "How hot should the oven be for sourdough?": "en_cooking.md",
    "how long is the guarantee on solar modules": "manual.pdf",  # paraphrase: no shared stem
    "乌龙茶用多少度的水冲泡？": "zh_tea.txt",
    "京沪高铁有多长": "zh_trains.md",
}


@pytest.fixture(scope="module")
def index(small_index):  # noqa: F811
    return open_index(small_index)


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_every_mode_puts_the_answering_file_first(index, embedder, mode):
    retriever = build_retriever(index, embedder, RetrievalSettings(mode=mode, k=3))
    for question, name in QUESTIONS.items():
        if mode == "bm25" and name == "manual.pdf":
            continue  # a paraphrase without shared words is what BM25 cannot find
        hits = retriever.retrieve(question)
        assert Path(hits[0].chunk.source).name == name, (mode, question, hits)


def test_dense_relevance_is_the_cosine_of_question_and_chunk(index, embedder):
    hits = DenseRetriever(index, embedder, k=4).retrieve("How do I clean a bicycle chain?")
    assert len(hits) == 4
    q = embedder.embed_query("How do I clean a bicycle chain?")
    for h in hits:
        chunk_vec = embedder.embed([h.chunk.text])[0]
        assert h.relevance == pytest.approx(float(chunk_vec @ q), abs=1e-4)
        assert h.score == h.relevance
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_bm25_relevance_needs_the_embedder(index, embedder):
    plain = BM25Retriever(index, k=2).retrieve("乌龙茶 水温")
    assert plain and all(h.relevance is None for h in plain)
    with_cos = BM25Retriever(index, k=2, embedder=embedder).retrieve("乌龙茶 水温")
    assert [h.chunk.chunk_id for h in with_cos] == [h.chunk.chunk_id for h in plain]
    chunk_ids = [c.chunk_id for c in index.get_chunks(range(index.num_chunks))]
    row = chunk_ids.index(with_cos[0].chunk.chunk_id)
    expected = float(index.vector(row) @ embedder.embed_query("乌龙茶 水温"))
    assert with_cos[0].relevance == pytest.approx(expected, abs=1e-5)


def test_hybrid_scores_are_rrf_and_relevance_is_the_cosine(index, embedder):
    hybrid = HybridRetriever(index, embedder, k=3, rrf_k=60)
    hits = hybrid.retrieve("brake pads")
    assert hits[0].score <= 2 / 61 + 1e-9  # at best first in both rankings
    dense = {h.chunk.chunk_id: h.relevance for h in DenseRetriever(index, embedder, k=20)
             .retrieve("brake pads")}
    for h in hits:
        assert h.relevance == pytest.approx(dense[h.chunk.chunk_id], abs=1e-5)


def test_k_larger_than_the_index_returns_every_chunk_once(index, embedder):
    hits = HybridRetriever(index, embedder).retrieve("tea", k=500)
    assert len(hits) == index.num_chunks == len({h.chunk.chunk_id for h in hits})


def test_a_question_without_known_words_finds_nothing_in_bm25(index):
    assert BM25Retriever(index).retrieve("xylophone zeppelin") == []


def test_an_embedder_other_than_the_index_one_is_refused(index):
    class OtherModel:  # what DenseRetriever reads from an embedder
        name, dimension = "other/model", 384

        def embed_query(self, text):
            return np.zeros(384, dtype=np.float32)

    with pytest.raises(IndexOpenError, match="built with embedding model 'builtin:minilm'"):
        DenseRetriever(index, OtherModel())
    with pytest.raises(RetrievalError, match="needs the index's embedder"):
        build_retriever(index, None, RetrievalSettings(mode="hybrid"))


def test_source_glob_and_min_score_through_the_factory(index, embedder):
    pdf_only = build_retriever(index, embedder, RetrievalSettings(k=3, source_glob="*.pdf")
                               ).retrieve("tea")
    assert pdf_only and {Path(h.chunk.source).name for h in pdf_only} == {"manual.pdf"}
    assert {h.chunk.page for h in pdf_only} <= {1, 2}
    strict = build_retriever(index, embedder, RetrievalSettings(mode="dense", k=5, min_score=0.5))
    hits = strict.retrieve("乌龙茶用多少度的水冲泡？")
    assert hits and all(h.relevance >= 0.5 for h in hits)


def test_an_hnsw_index_finds_what_the_flat_one_finds(small_index, index, embedder,  # noqa: F811
                                                     tmp_path):
    from ingest.pipeline import Ingestor

    kb = small_index.parent / "kb"
    hnsw_settings = IngestSettings(chunk_size=120, chunk_overlap=30, index_type="hnsw")
    Ingestor(tmp_path / "hnsw", embedder, hnsw_settings).ingest([kb])
    hnsw = open_index(tmp_path / "hnsw")
    assert hnsw.manifest.index_type == "hnsw"
    for question in QUESTIONS:
        want = DenseRetriever(index, embedder, k=5).retrieve(question)
        got = DenseRetriever(hnsw, embedder, k=5, ef_search=16).retrieve(question)
        assert [h.chunk.chunk_id for h in got] == [h.chunk.chunk_id for h in want]
        assert [h.relevance for h in got] == pytest.approx([h.relevance for h in want], abs=1e-5)
