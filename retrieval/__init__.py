"""Retrieval: dense, BM25 and hybrid search over an index, with optional reranking."""
