"""The LangChain adapter: any ragqa retriever as a `BaseRetriever` in a LangChain chain."""

from __future__ import annotations

from pathlib import Path

import pytest
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda
from retrieval_fixtures import small_index  # noqa: F401 - a fixture

from ingest.store.local.reader import open_index
from retrieval import build_retriever
from retrieval.langchain_adapter import RagqaLangChainRetriever
from retrieval.settings import RetrievalSettings


@pytest.fixture(scope="module")
def hybrid(small_index, embedder):  # noqa: F811
    return build_retriever(open_index(small_index), embedder, RetrievalSettings(mode="hybrid", k=3))


def test_invoke_returns_documents_with_provenance(hybrid):
    lc = RagqaLangChainRetriever(retriever=hybrid)
    assert isinstance(lc, BaseRetriever)
    docs = lc.invoke("How long is the solar panel warranty?")
    hits = hybrid.retrieve("How long is the solar panel warranty?")
    assert len(docs) == len(hits) == 3
    for doc, hit in zip(docs, hits, strict=True):
        assert isinstance(doc, Document)
        assert doc.page_content == hit.chunk.text
        assert doc.metadata["source"] == hit.chunk.source
        assert doc.metadata["page"] == hit.chunk.page
        assert doc.metadata["score"] == pytest.approx(hit.score)
        assert doc.metadata["chunk_id"] == hit.chunk.chunk_id == doc.id
        assert doc.metadata["relevance"] == pytest.approx(hit.relevance)
    assert Path(docs[0].metadata["source"]).name == "manual.pdf"
    assert docs[0].metadata["page"] == 1


def test_k_overrides_the_retriever_default(hybrid):
    assert len(RagqaLangChainRetriever(retriever=hybrid, k=1).invoke("tea")) == 1
    with pytest.raises(ValueError, match="greater than 0"):
        RagqaLangChainRetriever(retriever=hybrid, k=0)


def test_composes_in_a_runnable_chain(hybrid):
    def cite(docs: list[Document]) -> str:
        return "; ".join(f"{Path(d.metadata['source']).name}#{d.metadata['page']}" for d in docs)

    chain = RagqaLangChainRetriever(retriever=hybrid, k=1) | RunnableLambda(cite)
    assert chain.invoke("京沪高铁最高速度是多少？") == "zh_trains.md#None"
    assert chain.batch(["brake pads", "乌龙茶"]) == ["en_bikes.txt#None", "zh_tea.txt#None"]
