"""Result hygiene: merge overlapping chunks, drop near-duplicates, threshold, filter by source.

    clean = HygieneRetriever(HybridRetriever(index, embedder), k=5,
                             min_score=0.3, source_glob="*.pdf")
    clean.retrieve("What does the warranty cover?")   # <= 5 hits, all from PDFs

Each step is also a plain function over a list of hits (best first), usable alone.
"""

from __future__ import annotations

import fnmatch
from dataclasses import replace
from pathlib import PurePath

from ingest.core.text import word_units
from retrieval.hits import RetrievalError, check_positive
from retrieval.types import Hit, Retriever


def _span(hit: Hit) -> tuple[int, int]:
    return hit.chunk.start_char, hit.chunk.start_char + len(hit.chunk.text)


def _join(first: Hit, second: Hit) -> str | None:
    """The text covering both spans (first starts no later than second), or None when the
    texts do not actually agree on the overlap (offsets from another cleaning, say)."""
    a0, a1 = _span(first)
    b0, b1 = _span(second)
    if b1 <= a1:  # second lies inside first
        inner = first.chunk.text[b0 - a0 : b1 - a0]
        return first.chunk.text if inner == second.chunk.text else None
    overlap = a1 - b0
    if first.chunk.text[len(first.chunk.text) - overlap :] != second.chunk.text[:overlap]:
        return None
    return first.chunk.text + second.chunk.text[overlap:]


def _merge_pair(a: Hit, b: Hit) -> Hit | None:
    """`a` (the better hit) and `b` merged into one hit, or None when they do not overlap."""
    ca, cb = a.chunk, b.chunk
    if ca.source != cb.source or ca.page != cb.page or ca.locator != cb.locator:
        return None
    (a0, a1), (b0, b1) = _span(a), _span(b)
    if min(a1, b1) - max(a0, b0) <= 0:  # touching or apart: nothing shared to merge on
        return None
    first, second = (a, b) if (a0, -a1) <= (b0, -b1) else (b, a)
    text = _join(first, second)
    if text is None:
        return None
    rels = [r for r in (a.relevance, b.relevance) if r is not None]
    # The merged hit keeps the better hit's identity and score, so citations stay stable.
    return replace(a, chunk=replace(a.chunk, text=text, start_char=first.chunk.start_char),
                   relevance=max(rels) if rels else None)


def merge_overlapping(hits: list[Hit]) -> list[Hit]:
    """Merges hits of the same source and page whose character spans overlap.

    A merged hit takes the place, chunk id and score of its best member.
    """
    out: list[Hit] = []
    for hit in hits:
        current = hit
        merged_any = True
        while merged_any:  # a merged span may now bridge to another kept hit
            merged_any = False
            for i, kept in enumerate(out):
                joined = _merge_pair(kept, current)
                if joined is not None:
                    current = joined
                    out.pop(i)
                    merged_any = True
                    pos = i
                    break
        if current is hit:
            out.append(hit)
        else:
            out.insert(pos, current)
    return out


def _shingles(text: str) -> frozenset:
    """Word 3-grams (CJK: character 3-grams) of the lower-cased text: a few dozen tuples
    per chunk, so comparing a page of hits costs microseconds, not milliseconds."""
    words = word_units(text)
    if len(words) < 3:
        return frozenset([tuple(words)])
    return frozenset(zip(words, words[1:], words[2:], strict=False))


def _similar(a: frozenset, b: frozenset, threshold: float) -> bool:
    small, large = sorted((len(a), len(b)))
    if small < threshold * large:  # Jaccard <= small/large: cannot reach the threshold
        return False
    inter = len(a & b)
    return inter >= threshold * (len(a) + len(b) - inter)


def drop_near_duplicates(hits: list[Hit], threshold: float = 0.9,
                         limit: int | None = None) -> list[Hit]:
    """Drops every hit whose text is at least `threshold` similar (Jaccard of word 3-grams,
    case and punctuation ignored) to a better hit: the same passage in two copies of a
    document would otherwise fill the context twice. Stops after `limit` hits are kept."""
    if not 0 < threshold <= 1:
        raise RetrievalError(f"dedupe threshold must be in (0, 1], not {threshold}")
    kept: list[tuple[Hit, frozenset]] = []
    for hit in hits:
        if limit is not None and len(kept) >= limit:
            break
        sh = _shingles(hit.chunk.text)
        if not any(_similar(sh, other, threshold) for _, other in kept):
            kept.append((hit, sh))
    return [h for h, _ in kept]


def above_min_score(hits: list[Hit], min_score: float) -> list[Hit]:
    """Keeps hits scoring at least `min_score`: compared with the cosine `relevance` where a
    hit has one (the same scale in every mode), else with its raw `score` (BM25)."""
    return [h for h in hits
            if (h.relevance if h.relevance is not None else h.score) >= min_score]


def source_matches(source: str, pattern: str) -> bool:
    """`*.pdf`, `*/manuals/*`, `guide.md` or `kb/*.md`: the glob matches the whole path, or
    (as `pathlib` does) its last parts."""
    return fnmatch.fnmatchcase(source, pattern) or PurePath(source).match(pattern)


def filter_source(hits: list[Hit], pattern: str) -> list[Hit]:
    return [h for h in hits if source_matches(h.chunk.source, pattern)]


class HygieneRetriever:
    """Wraps a retriever: over-fetches, cleans up the hits, returns the best `k`.

    Args:
        base: any retriever.
        k: hits returned when `retrieve` is called without `k`.
        min_score: drop hits below it (see `above_min_score`); None keeps all.
        source_glob: keep only hits whose source path matches (see `source_matches`).
        merge: merge overlapping chunks of the same source and page.
        dedupe_threshold: near-duplicate similarity (0, 1]; None keeps duplicates.
        overfetch: candidates fetched per hit wanted; multiplied by 4 while filters leave too
            few.
        max_fetch: the most candidates ever asked from `base`.
    """

    def __init__(self, base: Retriever, k: int = 5, min_score: float | None = None,
                 source_glob: str | None = None, merge: bool = True,
                 dedupe_threshold: float | None = 0.9, overfetch: int = 3,
                 max_fetch: int = 1000) -> None:
        check_positive("k", k)
        check_positive("overfetch", overfetch)
        check_positive("max_fetch", max_fetch)
        if dedupe_threshold is not None and not 0 < dedupe_threshold <= 1:
            raise RetrievalError(f"dedupe threshold must be in (0, 1], not {dedupe_threshold}")
        if source_glob is not None and not source_glob.strip():
            raise RetrievalError("source glob must not be empty")
        self.base, self.k = base, k
        self.min_score, self.source_glob = min_score, source_glob
        self.merge, self.dedupe_threshold = merge, dedupe_threshold
        self.overfetch, self.max_fetch = overfetch, max_fetch

    def clean(self, hits: list[Hit], limit: int | None = None) -> list[Hit]:
        """Applies the configured steps to hits, best first; `limit`: enough kept hits."""
        if self.source_glob:
            hits = filter_source(hits, self.source_glob)
        if self.min_score is not None:
            hits = above_min_score(hits, self.min_score)
        if self.merge:
            hits = merge_overlapping(hits)
        if self.dedupe_threshold is not None:
            hits = drop_near_duplicates(hits, self.dedupe_threshold, limit=limit)
        return hits[:limit] if limit is not None else hits

    def _passes(self, hit: Hit) -> bool:
        return self.min_score is None or bool(above_min_score([hit], self.min_score))

    def retrieve(self, question: str, k: int | None = None) -> list[Hit]:
        k = self.k if k is None else k
        check_positive("k", k)
        fetch = min(k * self.overfetch, self.max_fetch)
        while True:
            raw = self.base.retrieve(question, k=fetch)
            hits = self.clean(raw, limit=k)
            # Fewer raw hits than asked means the base has no more to give; a worst candidate
            # already under the threshold means lower-ranked ones will hardly pass it.
            exhausted = len(raw) < fetch or fetch >= self.max_fetch
            if len(hits) >= k or exhausted or not self._passes(raw[-1]):
                return hits[:k]
            fetch = min(fetch * 4, self.max_fetch)
