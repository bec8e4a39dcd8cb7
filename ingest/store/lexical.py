"""BM25 over the chunks of an index, kept beside the vectors.

The index is built at ingest time (bm25s: sparse matrices, saved as .npy and JSON, no pickle)
and searched by `retrieval`. Documents and queries are tokenized by `ingest.core.text.tokenize`
(stemmed English words, CJK characters and bigrams).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

LEXICAL_FORMAT_VERSION = 1
# BM25's parameters, with bm25s's "lucene" scoring: idf = ln(1 + (N - df + 0.5) / (df + 0.5)),
# term part = tf / (tf + k1 * (1 - b + b * dl / avgdl)). The PostgreSQL store computes the
# same formula in SQL (`ingest.store.postgres.lexical`).
BM25_K1 = 1.5
BM25_B = 0.75
EMPTY_DOC = [""]  # bm25s needs a term in every document: an empty one gets this


class LexicalIndex:
    """A BM25 index over token lists; row i is the i-th document given to `build`.

        idx = LexicalIndex.build([tokenize("the cat sat"), tokenize("猫坐在垫子上")])
        rows, scores = idx.search(tokenize("猫"), k=1)   # rows -> array([1])
    """

    def __init__(self, bm25, num_docs: int, k1: float, b: float) -> None:
        self._bm25 = bm25
        self.num_docs = num_docs
        self.k1 = k1
        self.b = b

    @classmethod
    def build(cls, docs: Sequence[Sequence[str]], k1: float = BM25_K1,
              b: float = BM25_B) -> LexicalIndex:
        import bm25s

        bm25 = bm25s.BM25(k1=k1, b=b)
        if docs:
            # bm25s needs at least one term in the vocabulary; an empty doc has none.
            bm25.index([list(d) if d else EMPTY_DOC for d in docs], show_progress=False)
        return cls(bm25, len(docs), k1, b)

    def search(self, query_tokens: Sequence[str], k: int, rows: np.ndarray | None = None,
               dead: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The `k` best rows for the query, best first, and their BM25 scores (> 0 only);
        `rows`: only among these (a metadata filter's); `dead`: never these (the rows of
        files removed from an index folder since its generation was written)."""
        if k <= 0:
            raise ValueError(f"k must be greater than 0, not {k}")
        if self.num_docs == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        vocab = self._bm25.vocab_dict
        ids = [vocab[t] for t in query_tokens if t in vocab]
        if not ids:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        scores = self._bm25.get_scores_from_ids(ids)  # a new array per query
        if dead is not None and len(dead):
            # Their postings are dropped from the results; N, df and avgdl still count them
            # until the generation is rewritten (Lucene's deleted documents do the same), so
            # a removal moves other chunks' scores a little and never their presence.
            scores[dead] = 0.0
        if rows is not None:
            scores = scores[rows]
        k = min(k, len(scores))
        if k == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        keep = scores[top] > 0
        found = top[keep] if rows is None else rows[top[keep]]
        return found.astype(np.int64), scores[top][keep].astype(np.float32)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        if self.num_docs:
            self._bm25.save(str(directory), allow_pickle=False)
        meta = {"format_version": LEXICAL_FORMAT_VERSION, "num_docs": self.num_docs,
                "k1": self.k1, "b": self.b, "tokenizer": "words-stemmed+cjk-bigrams"}
        (directory / "lexical.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path, mmap: bool = True) -> LexicalIndex:
        import bm25s

        meta = json.loads((directory / "lexical.json").read_text(encoding="utf-8"))
        if meta.get("format_version") != LEXICAL_FORMAT_VERSION:
            raise ValueError(f"{directory}: BM25 format {meta.get('format_version')} "
                             f"is not {LEXICAL_FORMAT_VERSION}; re-ingest into a new index")
        if meta["num_docs"] == 0:
            return cls(bm25s.BM25(), 0, meta["k1"], meta["b"])
        bm25 = bm25s.BM25.load(str(directory), mmap=mmap, allow_pickle=False)
        return cls(bm25, meta["num_docs"], meta["k1"], meta["b"])
