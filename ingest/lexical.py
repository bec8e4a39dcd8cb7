"""BM25 over the chunks of an index, for Chinese and English, kept beside the vectors.

The index is built at ingest time (bm25s: sparse matrices, saved as .npy and JSON, no pickle)
and searched by `retrieval`. Tokens:
- English and other space-separated text: lower-cased words, Snowball-stemmed, stop words out;
- CJK: every character and every pair of adjacent characters. Bigrams need no dictionary,
  so they work for any domain's vocabulary, and the unigrams keep single-character words.

    >>> tokenize("Transformers 使用自注意力")
    ['transform', '使', '使用', '用', '用自', '自', '自注', '注', '注意', '意', '意力', '力']
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

# CJK unified ideographs (+ extension A, compatibility), kana and hangul count as CJK.
_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af"
_TOKEN_RE = re.compile(rf"[{_CJK}]+|[^\W_{_CJK}]+(?:['’][^\W_{_CJK}]+)*", re.UNICODE)
_CJK_RUN_RE = re.compile(rf"^[{_CJK}]+$")

ENGLISH_STOP_WORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "has", "have",
    "how", "if", "in", "into", "is", "it", "its", "of", "on", "or", "that", "the", "their",
    "then", "there", "these", "they", "this", "to", "was", "were", "what", "when", "where",
    "which", "who", "why", "will", "with", "does", "did", "do",
})

LEXICAL_FORMAT_VERSION = 1


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer  # PyStemmer

    return Stemmer.Stemmer("english")


def tokenize(text: str, stem: bool = True) -> list[str]:
    """Splits `text` into BM25 terms (see the module docstring)."""
    tokens: list[str] = []
    for run in _TOKEN_RE.findall(text):
        if _CJK_RUN_RE.match(run):
            for i, ch in enumerate(run):
                tokens.append(ch)
                if i + 1 < len(run):
                    tokens.append(run[i : i + 2])
        else:
            word = run.lower()
            if word in ENGLISH_STOP_WORDS:
                continue
            tokens.append(_stemmer().stemWord(word) if stem else word)
    return tokens


class LexicalIndex:
    """A BM25 index over token lists; row i is the i-th document given to `build`.

        >>> idx = LexicalIndex.build([tokenize("the cat sat"), tokenize("猫坐在垫子上")])
        >>> rows, scores = idx.search(tokenize("猫"), k=1)   # rows -> array([1])
    """

    def __init__(self, bm25, num_docs: int, k1: float, b: float) -> None:
        self._bm25 = bm25
        self.num_docs = num_docs
        self.k1 = k1
        self.b = b

    @classmethod
    def build(cls, docs: Sequence[Sequence[str]], k1: float = 1.5,
              b: float = 0.75) -> LexicalIndex:
        import bm25s

        bm25 = bm25s.BM25(k1=k1, b=b)
        if docs:
            # bm25s needs at least one term in the vocabulary; an empty doc has none.
            bm25.index([list(d) if d else [""] for d in docs], show_progress=False)
        return cls(bm25, len(docs), k1, b)

    def search(self, query_tokens: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
        """The `k` best rows for the query, best first, and their BM25 scores (> 0 only)."""
        if k <= 0:
            raise ValueError(f"k must be greater than 0, not {k}")
        if self.num_docs == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        vocab = self._bm25.vocab_dict
        ids = [vocab[t] for t in query_tokens if t in vocab]
        if not ids:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        scores = self._bm25.get_scores_from_ids(ids)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        keep = scores[top] > 0
        return top[keep].astype(np.int64), scores[top][keep].astype(np.float32)

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
