"""A LangChain `BaseRetriever` over any ragqa retriever, for LangChain chains and agents.

    lc = RagqaLangChainRetriever(retriever=build_retriever(index, embedder), k=4)
    docs = lc.invoke("How is the index kept atomic?")
    docs[0].metadata  # {'source': '/kb/ingest.md', 'page': None, 'score': 0.031,
                      #  'chunk_id': '9f…', 'start_char': 0, 'relevance': 0.62, ...}
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

from retrieval.types import Hit


def hit_to_document(hit: Hit) -> Document:
    """A hit as a LangChain Document: the text, and where it came from in the metadata."""
    return Document(
        page_content=hit.chunk.text,
        metadata={"source": hit.chunk.source, "page": hit.chunk.page, "score": hit.score,
                  "chunk_id": hit.chunk.chunk_id, "start_char": hit.chunk.start_char,
                  "relevance": hit.relevance, "locator": hit.chunk.locator, "ocr": hit.chunk.ocr},
        id=hit.chunk.chunk_id,
    )


class RagqaLangChainRetriever(BaseRetriever):
    """Wraps a ragqa `Retriever` (anything with `retrieve(question, k)`).

    Args:
        retriever: the ragqa retriever.
        k: documents per query; None uses the retriever's own default.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: Any
    k: int | None = Field(default=None, gt=0)

    def _get_relevant_documents(self, query: str, *,
                                run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [hit_to_document(h) for h in self.retriever.retrieve(query, k=self.k)]
