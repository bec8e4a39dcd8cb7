"""Result hygiene: overlapping chunks merge, near-duplicates go, thresholds and globs filter."""

from __future__ import annotations

import hashlib

import pytest

from ingest.core.types import Chunk
from retrieval import Hit, HygieneRetriever, RetrievalError
from retrieval.hygiene import (
    above_min_score,
    drop_near_duplicates,
    filter_source,
    merge_overlapping,
    source_matches,
)

PAGE = "Alpha beta gamma delta. Epsilon zeta eta theta. Iota kappa lambda mu. Nu xi omicron pi."


def hit(start: int, stop: int, score: float, source: str = "/kb/a.pdf", page: int | None = 1,
        relevance: float | None = None, text: str | None = None) -> Hit:
    chunk = Chunk(chunk_id=f"{source}:{page}:{start}", text=PAGE[start:stop] if text is None
                  else text, source=source, page=page, start_char=start)
    return Hit(chunk, score=score, relevance=relevance)


def test_overlapping_chunks_of_one_page_merge_into_the_better_hit():
    best = hit(20, 60, 0.9, relevance=0.7)
    other = hit(40, 80, 0.5, relevance=0.8)
    merged = merge_overlapping([best, hit(0, 10, 0.6, source="/kb/b.md"), other])
    assert len(merged) == 2
    assert merged[0].chunk.text == PAGE[20:80]
    assert merged[0].chunk.start_char == 20
    assert merged[0].chunk.chunk_id == best.chunk.chunk_id and merged[0].score == 0.9
    assert merged[0].relevance == 0.8
    assert merged[1].chunk.source == "/kb/b.md"


def test_a_later_chunk_that_bridges_two_kept_hits_merges_all_three():
    merged = merge_overlapping([hit(0, 30, 0.9), hit(50, 80, 0.8), hit(25, 55, 0.7)])
    assert [(h.chunk.start_char, h.chunk.text) for h in merged] == [(0, PAGE[0:80])]


def test_chunk_inside_another_is_absorbed():
    merged = merge_overlapping([hit(30, 40, 0.9), hit(20, 60, 0.5)])
    assert [(h.chunk.text, h.score) for h in merged] == [(PAGE[20:60], 0.9)]


def test_touching_other_pages_and_other_sources_stay_apart():
    hits = [hit(0, 20, 0.9), hit(20, 40, 0.8), hit(10, 30, 0.7, page=2),
            hit(10, 30, 0.6, source="/kb/other.pdf")]
    assert merge_overlapping(hits) == hits


def test_offsets_whose_texts_disagree_are_not_merged():
    hits = [hit(0, 30, 0.9), hit(20, 50, 0.8, text="x" * 30)]
    assert merge_overlapping(hits) == hits


def test_near_duplicates_keep_the_better_copy():
    text = ("知识蒸馏用一个大模型的输出来训练一个小模型，使小模型接近大模型的效果。蒸馏时使用的温度"
            "设为二点零，学生模型在三百亿个词元上训练了四天，最终在多个评测上保留了教师模型九成以上"
            "的能力。")
    a = hit(0, 0, 0.9, source="/kb/a.md", text=text)
    # Another copy with other punctuation and one character changed.
    copy = text.replace("。", "！").replace("四天", "五天")
    b = hit(0, 0, 0.8, source="/kb/copy/a.md", text=copy)
    c = hit(0, 0, 0.7, source="/kb/c.md", text="Completely different words about serving.")
    assert drop_near_duplicates([a, b, c]) == [a, c]
    assert drop_near_duplicates([a, b, c], threshold=1.0) == [a, b, c]
    assert drop_near_duplicates([a, b, c], limit=1) == [a]
    with pytest.raises(RetrievalError, match="threshold"):
        drop_near_duplicates([a], threshold=0)


def test_english_near_duplicates_ignore_case_and_punctuation():
    a = hit(0, 0, 0.9, text="The warranty covers defects for twelve years. Returns: 30 days.")
    b = hit(0, 0, 0.8, text="the warranty covers defects for twelve years -- returns 30 days")
    c = hit(0, 0, 0.7, text="The warranty covers defects for five years. Returns: 30 days.")
    assert drop_near_duplicates([a, b, c]) == [a, c]


def test_min_score_uses_the_cosine_when_known_else_the_raw_score():
    with_cos = [hit(0, 5, 0.03, relevance=0.6), hit(5, 9, 0.02, relevance=0.2)]
    assert above_min_score(with_cos, 0.5) == with_cos[:1]
    bm25 = [hit(0, 5, 7.5), hit(5, 9, 1.2)]
    assert above_min_score(bm25, 2.0) == bm25[:1]


@pytest.mark.parametrize(("pattern", "expected"), [
    ("*.pdf", True), ("*.md", False), ("a.pdf", True), ("kb/*.pdf", True),
    ("/data/kb/*", True), ("other/*.pdf", False), ("*/kb/a.*", True),
])
def test_source_glob_matches_the_path_or_its_last_parts(pattern, expected):
    assert source_matches("/data/kb/a.pdf", pattern) is expected


def test_filter_source_keeps_the_order():
    hits = [hit(0, 5, 0.9, source="/kb/x.md"), hit(0, 5, 0.8, source="/kb/y.pdf"),
            hit(0, 5, 0.7, source="/kb/z.pdf")]
    assert [h.chunk.source for h in filter_source(hits, "*.pdf")] == ["/kb/y.pdf", "/kb/z.pdf"]


def distinct(i: int, score: float, source: str | None = None,
             relevance: float | None = None) -> Hit:
    """A hit whose text shares nothing with the others (so dedupe keeps it)."""
    text = hashlib.sha256(str(i).encode()).hexdigest()
    return hit(0, 0, score, source=source or f"/kb/{i}.md", relevance=relevance, text=text)


class RankedList:
    """A retriever over a fixed ranking that records how many hits it was asked for."""

    def __init__(self, hits: list[Hit]) -> None:
        self.hits, self.asked = hits, []

    def retrieve(self, question: str, k: int | None = None) -> list[Hit]:
        self.asked.append(k)
        return self.hits[:k]


def test_wrapper_fetches_more_until_a_rare_source_fills_k():
    hits = [distinct(i, 1 - i / 100) for i in range(60)]
    hits[45] = distinct(45, 0.5, source="/kb/manual.pdf")
    hits[58] = distinct(58, 0.4, source="/kb/guide.pdf")
    base = RankedList(hits)
    got = HygieneRetriever(base, k=2, source_glob="*.pdf").retrieve("q")
    assert [h.chunk.source for h in got] == ["/kb/manual.pdf", "/kb/guide.pdf"]
    assert base.asked == [6, 24, 96]


def test_wrapper_stops_widening_once_candidates_fall_below_the_threshold():
    hits = [distinct(i, 0.9, relevance=0.9 - i / 10) for i in range(40)]
    base = RankedList(hits)
    got = HygieneRetriever(base, k=5, min_score=0.65).retrieve("q")
    assert [h.relevance for h in got] == pytest.approx([0.9, 0.8, 0.7])
    assert base.asked == [15]


def test_wrapper_validates_its_settings():
    with pytest.raises(RetrievalError, match="k must be an integer greater than 0"):
        HygieneRetriever(RankedList([]), k=0)
    with pytest.raises(RetrievalError, match="source glob must not be empty"):
        HygieneRetriever(RankedList([]), source_glob=" ")
