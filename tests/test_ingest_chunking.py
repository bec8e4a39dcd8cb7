"""Chunking: sentence boundaries in Chinese and English, offsets, stable ids, settings."""

from __future__ import annotations

from itertools import pairwise

import pytest

from ingest.chunking import Chunker, chunk_id
from ingest.core.types import PageText

ZH = "第一句讲检索。第二句讲生成！第三句是问题吗？第四句有分号；第五句省略…" * 6
EN = " ".join(f"Sentence number {i} is here." for i in range(40))


def _check_offsets(page: PageText, chunks) -> None:
    for c in chunks:
        assert page.text[c.start_char:c.start_char + len(c.text)] == c.text


def test_splits_chinese_on_sentence_punctuation():
    page = PageText("/kb/zh.md", None, ZH)
    chunks = Chunker(chunk_size=60, chunk_overlap=0).split(page, "sha")
    assert len(chunks) > 3
    for c in chunks:
        assert len(c.text) <= 60
        assert c.text[-1] in "。！？；…", c.text  # every chunk ends at a sentence end
        assert c.text[0] not in "。！？；…"     # punctuation stays with its sentence
    _check_offsets(page, chunks)
    assert "".join(c.text for c in chunks) == ZH  # no overlap: the chunks tile the text


def test_splits_english_on_sentence_ends_and_keeps_the_period():
    page = PageText("/kb/en.txt", None, EN)
    chunks = Chunker(chunk_size=120, chunk_overlap=0).split(page, "sha")
    assert all(c.text.endswith(".") and c.text.startswith("Sentence") for c in chunks)
    _check_offsets(page, chunks)


def test_decimal_points_do_not_end_sentences():
    text = "Pi is about 3.14159 and e is about 2.71828 in value. " * 4
    chunks = Chunker(chunk_size=60, chunk_overlap=0).split(PageText("/a", None, text), "s")
    assert all("3.14159" in c.text or "3." not in c.text for c in chunks)


def test_overlap_repeats_the_end_of_the_previous_chunk():
    page = PageText("/kb/en.txt", 4, EN)
    chunks = Chunker(chunk_size=150, chunk_overlap=60).split(page, "sha")
    _check_offsets(page, chunks)
    for prev, cur in pairwise(chunks):
        assert cur.start_char < prev.start_char + len(prev.text)  # they share text
        assert cur.start_char > prev.start_char
        assert len(cur.text) <= 150


def test_chunks_keep_source_page_and_offset():
    page = PageText("/kb/a.pdf", 7, EN)
    chunks = Chunker(100, 20).split(page, "sha")
    assert {(c.source, c.page) for c in chunks} == {("/kb/a.pdf", 7)}
    assert chunks[0].start_char == 0
    assert chunks[-1].start_char + len(chunks[-1].text) == len(EN)


def test_chunk_ids_are_stable_and_follow_content_page_and_offset():
    pages = [PageText("/x/a.md", 1, EN), PageText("/x/a.md", 2, EN)]
    first = Chunker(100, 10).split_pages(pages, "hash-1")
    again = Chunker(100, 10).split_pages(
        [PageText("/y/moved.md", 1, EN), PageText("/y/moved.md", 2, EN)], "hash-1")
    assert [c.chunk_id for c in first] == [c.chunk_id for c in again]  # same bytes, same ids
    assert len({c.chunk_id for c in first}) == len(first)  # page 1 and page 2 differ
    other = Chunker(100, 10).split_pages(pages, "hash-2")
    assert not {c.chunk_id for c in first} & {c.chunk_id for c in other}
    assert first[0].chunk_id == chunk_id("hash-1", 1, 0)


def test_mixed_chinese_and_english_text():
    text = "RAG 系统先检索再生成。It cites sources. 引用可以核对！" * 5
    page = PageText("/m.txt", None, text)
    chunks = Chunker(50, 10).split(page, "s")
    assert all(len(c.text) <= 50 for c in chunks)
    _check_offsets(page, chunks)


def test_a_long_run_without_separators_is_still_cut_to_size():
    page = PageText("/m.txt", None, "检" * 250)
    chunks = Chunker(100, 0).split(page, "s")
    assert [len(c.text) for c in chunks] == [100, 100, 50]
    _check_offsets(page, chunks)


@pytest.mark.parametrize("size, overlap, message", [
    (0, 0, "chunk_size must be greater than 0"),
    (100, 100, "chunk_overlap must be at least 0 and less than chunk_size"),
    (100, -1, "chunk_overlap must be at least 0"),
])
def test_invalid_settings_are_refused_at_once(size, overlap, message):
    with pytest.raises(ValueError, match=message):
        Chunker(size, overlap)
