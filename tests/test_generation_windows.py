"""Focused evidence: the reader sees sentence-bounded windows that hold the answer sentence."""

from __future__ import annotations

import itertools

import pytest
from generation_fixtures import FixedRetriever, ScriptedLLM, llm_settings

from generation import AnswerEngine
from generation.windows import select_windows
from ingest.core.text import sentence_spans
from ingest.core.types import Chunk
from retrieval.types import Hit


def hit(text: str, source: str, page: int | None, score: float, chunk_id: str,
        relevance: float | None = None) -> Hit:
    return Hit(Chunk(chunk_id, text, source, page, 0), score, relevance=relevance)


EN = hit(
    "Halcyon Labs was founded in 2019 in Lyon. It builds language models for legal teams. "
    "The Kestrel-7B model was pretrained on 2.4 trillion tokens of text. Its tokenizer has a "
    "vocabulary of 64,000 entries. Training ran on 512 accelerators for eleven weeks. The "
    "weights are released under the Apache 2.0 licence. A 13B model is planned for 2026.",
    "kb/en_pretraining.md", None, 0.9, "en#0", relevance=0.6)
ZH = hit(
    "数据清洗流程分为四步。第一步去除重复网页，使用MinHash算法。第二步过滤低质量文本，保留困惑度低于"
    "阈值的段落。第三步删除个人信息，例如电话号码和邮箱地址。最后一步按语言分类，中文占全部语料的"
    "百分之三十五。整个流程每周运行一次。",
    "kb/zh_data.md", 3, 0.8, "zh#0", relevance=0.5)
OTHER = hit("The office in Lyon has forty desks. Visitors sign in at the front desk.",
            "kb/en_office.md", None, 0.7, "office#0", relevance=0.3)


def sentences_of(text: str) -> set[tuple[int, int]]:
    return set(sentence_spans(text))


@pytest.mark.parametrize("question, hits, answer", [
    ("How many tokens was Kestrel-7B pretrained on?", [OTHER, EN], "2.4 trillion tokens"),
    ("What licence are the Kestrel weights released under?", [EN, OTHER], "Apache 2.0"),
    ("中文占全部语料的多少？", [ZH, OTHER], "百分之三十五"),
    ("第一步用什么算法去除重复网页？", [ZH], "MinHash"),
])
def test_the_answer_sentence_is_inside_a_window(question, hits, answer):
    windows = select_windows(question, hits, count=2, max_chars=120)
    assert any(answer in w.text for w in windows)
    best = windows[0]
    assert answer in best.text, "the best-matching sentence opens the first window"
    assert all(len(w.text) <= 120 for w in windows)


@pytest.mark.parametrize("passage", [EN, ZH])
def test_windows_start_and_end_on_sentence_bounds_in_both_languages(passage):
    text = passage.chunk.text
    starts = {a for a, _ in sentences_of(text)}
    ends = {b for _, b in sentences_of(text)}
    for question in ("How large is the vocabulary?", "第三步删除什么？", "weights licence"):
        for w in select_windows(question, [passage], count=3, max_chars=90):
            assert w.start in starts and w.end in ends, w.text
            assert text[w.start:w.end] == w.text


def test_windows_do_not_overlap_and_come_best_first():
    windows = select_windows("Kestrel tokenizer vocabulary", [EN, OTHER], count=3,
                             max_chars=100)
    assert [w.score for w in windows] == sorted((w.score for w in windows), reverse=True)
    spans = sorted((w.rank, w.start, w.end) for w in windows)
    for (r1, _, e1), (r2, s2, _) in itertools.pairwise(spans):
        assert r1 != r2 or e1 <= s2


def test_a_question_sharing_no_word_with_the_text_gets_the_best_hits_openings():
    # An English question over a Chinese document: no term in common, so retrieval's order
    # decides, and the top hit's first sentences are shown.
    windows = select_windows("What is the first step of data cleaning?", [ZH, OTHER],
                             count=2, max_chars=60)
    assert windows[0].rank == 0 and windows[0].start == 0


def test_a_sentence_longer_than_a_window_is_cut_around_the_question_terms():
    row = ("Region | Q1 | Q2 | Q3 | Q4 " * 8) + "| Lyon revenue 4.2 million | " + \
        ("filler cell " * 20)
    [window] = select_windows("Lyon revenue", [hit(row, "kb/table.txt", None, 1.0, "t#0")],
                              count=1, max_chars=80)
    assert "Lyon revenue" in window.text and len(window.text) == 80


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="count and max_chars"):
        select_windows("q", [EN], count=0)


def test_the_engine_cites_the_hit_and_its_offsets_of_an_answer_found_in_a_window():
    # The answer is in the second hit; the reader saw a window of it, the Answer points into
    # the hit's own text with the hit's number.
    llm = ScriptedLLM("2.4 trillion tokens")
    engine = AnswerEngine(FixedRetriever([OTHER, EN]), llm,
                          llm_settings(window_count=2, window_chars=120,
                                             no_answer_threshold=None))
    answer = engine.ask("How many tokens was Kestrel-7B pretrained on?")
    assert not answer.abstained
    assert answer.short.n == 2 and answer.short.chunk_id == "en#0"
    assert EN.chunk.text[answer.short.start:answer.short.end] == "2.4 trillion tokens"
    assert answer.citations[0].source == "kb/en_pretraining.md"
    assert answer.text.endswith("[2]")
    prompt = llm.calls[0][-1]["content"]
    assert "2.4 trillion" in prompt and "Apache" not in prompt  # a window, not the whole hit
