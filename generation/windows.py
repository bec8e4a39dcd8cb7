"""Focused evidence: the few sentence-bounded windows of the hits that best match a question.

    >>> from ingest.core.types import Chunk
    >>> from retrieval.types import Hit
    >>> hits = [Hit(Chunk("a#0", "Kestrel ships in May. Its case is blue. The Kestrel weighs 3 kg.",
    ...                   "a.md", None, 0), 1.0)]
    >>> [w.text for w in select_windows("How much does the Kestrel weigh?", hits, max_chars=45)]
    ['Its case is blue. The Kestrel weighs 3 kg.', 'Kestrel ships in May.']

A small reader does best on a short passage that holds the answer: a whole retrieved region
(hygiene merges neighbouring chunks into regions of 1,000-2,000 characters) distracts it and,
on an AVX2 laptop, costs 13-15 ms per prompt token to read. So the reader is shown, instead of
whole hits, `count` windows of about `max_chars` characters: each grows from one sentence of
the top `from_hits` hits, the sentences ranked by BM25 against the question (terms from the
text core's tokenizer, so Chinese and English alike) plus a prior for the hit's rank; a window
takes the neighbouring sentences (the next first) while it fits. Windows never cut a sentence,
except a single sentence longer than `max_chars` (a table row, a list run together), which is
cut around the question's terms. `bench/windows.py` measured the sizes and counts on the tune
halves of the public sets (docs/architecture.md, "Answers").
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from ingest.core.text import sentence_spans, tokenize
from retrieval.types import Hit

# BM25 over sentences (short documents: length matters less than in chunk retrieval).
_K1, _B = 1.2, 0.5


@dataclass(frozen=True)
class Window:
    """`hits[rank].chunk.text[start:end]`: a slice of one hit, shown as one passage."""

    rank: int
    start: int
    end: int
    text: str
    score: float  # how well its best sentence matches the question (higher is better)


def whole_hit(rank: int, hit: Hit) -> Window:
    """The window that is the whole hit (evidence = passages)."""
    return Window(rank, 0, len(hit.chunk.text), hit.chunk.text, 0.0)


@dataclass(frozen=True)
class _Sentence:
    rank: int
    index: int  # position among its hit's sentences
    start: int
    end: int
    terms: Counter


def select_windows(question: str, hits: Sequence[Hit], *, count: int = 3, max_chars: int = 300,
                   from_hits: int = 5, rank_prior: float = 0.3) -> list[Window]:
    """Up to `count` windows, best first, from the first `from_hits` hits.

    `rank_prior` weighs retrieval's order against the sentence's own match (0: the match
    alone; the match is scaled to 0..1, the prior is `rank_prior / (rank + 1)`), so that a
    question with no words in common with the text (another language) still gets the best
    hits' opening sentences.
    """
    if count <= 0 or max_chars <= 0:
        raise ValueError(f"count and max_chars must be greater than 0, not {count}, {max_chars}")
    by_hit = [[_Sentence(rank, i, a, b, Counter(tokenize(hit.chunk.text[a:b])))
               for i, (a, b) in enumerate(sentence_spans(hit.chunk.text))]
              for rank, hit in enumerate(hits[:from_hits])]
    sentences = [s for group in by_hit for s in group]
    if not sentences:
        return []
    match = _bm25(Counter(tokenize(question)), sentences)
    best = max(match) or 1.0
    scored = sorted(zip(sentences, match, strict=True), key=lambda p: (
        -(p[1] / best + rank_prior / (p[0].rank + 1)), p[0].rank, p[0].index))
    windows: list[Window] = []
    covered: set[tuple[int, int]] = set()  # (rank, sentence index) already inside a window
    for sentence, score in scored:
        if len(windows) == count:
            break
        if (sentence.rank, sentence.index) in covered:
            continue
        text = hits[sentence.rank].chunk.text
        group = by_hit[sentence.rank]
        first, last = _grow(group, sentence.index, max_chars, covered)
        covered.update((sentence.rank, i) for i in range(first, last + 1))
        start, end = group[first].start, group[last].end
        if end - start > max_chars:  # one sentence longer than a window
            start, end = _cut(text, start, end, max_chars, set(tokenize(question)))
        windows.append(Window(sentence.rank, start, end, text[start:end],
                              round(score / best + rank_prior / (sentence.rank + 1), 4)))
    return windows


def _bm25(query: Counter, sentences: list[_Sentence]) -> list[float]:
    n = len(sentences)
    df = Counter(t for s in sentences for t in s.terms)
    lengths = [sum(s.terms.values()) for s in sentences]
    avg = sum(lengths) / n or 1.0
    idf = {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in query if df[t]}
    scores = []
    for s, length in zip(sentences, lengths, strict=True):
        norm = _K1 * (1 - _B + _B * length / avg)
        scores.append(sum(w * s.terms[t] * (_K1 + 1) / (s.terms[t] + norm)
                          for t, w in idf.items() if s.terms[t]))
    return scores


def _grow(group: list[_Sentence], i: int, max_chars: int,
          covered: set[tuple[int, int]]) -> tuple[int, int]:
    """The run of sentences around `group[i]` that fits `max_chars`, the next one first."""
    first = last = i
    rank = group[i].rank
    while True:
        grown = False
        for j in (last + 1, first - 1):
            if not 0 <= j < len(group) or (rank, j) in covered:
                continue
            lo, hi = min(first, j), max(last, j)
            if group[hi].end - group[lo].start <= max_chars:
                first, last, grown = lo, hi, True
        if not grown:
            return first, last


def _cut(text: str, start: int, end: int, max_chars: int, terms: set[str]) -> tuple[int, int]:
    """The `max_chars` slice of `text[start:end]` holding the most question terms."""
    best, best_at = -1, start
    step = max(1, max_chars // 4)
    for at in range(start, max(start, end - max_chars) + step, step):
        at = min(at, end - max_chars)
        hits = sum(1 for t in tokenize(text[at:at + max_chars]) if t in terms)
        if hits > best:
            best, best_at = hits, at
    return best_at, best_at + max_chars
