"""Retrieval quality without relevance labels: does a top-k passage contain the gold answer?

    >>> rank = answer_rank(["The run took 26 days.", "It used 1,024 GPUs."], ["1,024"])
    >>> rank, hit_at_k([rank], 1), hit_at_k([rank], 5), mrr([rank])
    (2, 0.0, 1.0, 0.5)
    >>> source_recall(["/kb/en_serving.md", "/kb/en_tokenizer.txt"], ["en_serving.md"])
    1.0

Containment is tested on normalised text (Unicode NFKC, lower case, all white space removed)
so that a PDF's line breaks inside a Chinese sentence, or a double space, do not hide an answer.
Only questions with gold answers count; a retriever cannot "find" the answer to an
unanswerable question.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from pathlib import PurePath


def normalize_for_match(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).lower().split())


def answer_rank(passages: Sequence[str], golds: Sequence[str]) -> int | None:
    """1-based rank of the first passage that contains any gold answer; None if none does."""
    needles = [n for n in (normalize_for_match(g) for g in golds) if n]
    if not needles:
        return None
    for rank, text in enumerate(passages, start=1):
        hay = normalize_for_match(text)
        if any(n in hay for n in needles):
            return rank
    return None


def hit_at_k(ranks: Sequence[int | None], k: int) -> float:
    """Share of questions whose first answer-bearing passage is in the top `k` (0 if none)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, not {k}")
    if not ranks:
        return 0.0
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks)


def mrr(ranks: Sequence[int | None]) -> float:
    """Mean reciprocal rank of the first answer-bearing passage (0 for a miss)."""
    if not ranks:
        return 0.0
    return sum(1.0 / r for r in ranks if r is not None) / len(ranks)


def _same_source(retrieved: str, gold: str) -> bool:
    # A QA file names a document by file name or by a path relative to the knowledge base;
    # hits carry resolved absolute paths (or URLs). Match on the trailing path components.
    gold_parts = PurePath(gold.replace("\\", "/")).parts
    got_parts = PurePath(retrieved.replace("\\", "/")).parts
    return len(gold_parts) <= len(got_parts) and got_parts[-len(gold_parts):] == gold_parts


def source_recall(retrieved_sources: Sequence[str], gold_sources: Sequence[str]) -> float:
    """Share of the gold sources that at least one retrieved passage comes from."""
    if not gold_sources:
        raise ValueError("source_recall needs at least one gold source")
    found = sum(1 for g in gold_sources if any(_same_source(r, g) for r in retrieved_sources))
    return found / len(gold_sources)
