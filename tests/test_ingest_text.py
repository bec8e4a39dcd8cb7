"""The shared text core: one rule each for CJK, language, word units and citation markers."""

from __future__ import annotations

import pytest
from generation_fixtures import HITS

from generation.citations import map_citations
from ingest.core.text import (
    citation_numbers,
    cjk_share,
    detect_language,
    is_cjk,
    strip_citations,
    word_units,
)


@pytest.mark.parametrize("question, lang", [
    ("How tall is the Eiffel Tower?", "en"),
    ("埃菲尔铁塔有多高？", "zh"),
    ("Python 的 GIL 是什么？", "zh"),          # Chinese with English terms
    ("What does 加油 mean?", "en"),            # English with a Chinese word
    ("2019 年的收入是多少", "zh"),
    ("", "en"),
])
def test_detects_the_language_from_its_cjk_share(question, lang):
    assert detect_language(question) == lang


def test_cjk_share_counts_characters_against_words():
    assert cjk_share("What is retrieval-augmented generation?") == 0.0
    assert cjk_share("什么是知识蒸馏？") == 1.0
    assert cjk_share("RAG 是什么") == pytest.approx(0.75)
    assert cjk_share("2024 !!") == 0.0


def test_cjk_marks_count_as_cjk_but_latin_letters_do_not():
    assert all(is_cjk(ch) for ch in "中かな한。，！Ａ")
    assert not any(is_cjk(ch) for ch in "aé1 -")


def test_word_units_split_cjk_into_characters_and_keep_other_words_whole():
    assert word_units("GPT-4 模型 was_released") == ["gpt", "4", "模", "型", "was", "released"]


@pytest.mark.parametrize("marker, numbers", [
    ("[1]", [1]), ("[1, 2]", [1, 2]), ("[1，2]", [1, 2]), ("[1、3]", [1, 3]),
    ("[1-3]", [1, 2, 3]), ("[2–3]", [2, 3]), ("【1】", [1]), ("【1，2】", [1, 2]),
    ("[ 2 ]", [2]), ("[1; 2]", [1, 2]),
])
def test_eval_strips_every_citation_form_that_generation_reads(marker, numbers):
    answer = f"林知远{marker}。"
    assert citation_numbers(answer) == numbers
    assert [c.n for c in map_citations(f"Paris {marker}.", HITS)] == [
        n for n in numbers if n <= len(HITS)]
    assert strip_citations(answer) == "林知远。"
    assert strip_citations(f"Paris {marker}, France.") == "Paris, France."


def test_citation_numbers_keep_first_mention_order_without_repeats():
    assert citation_numbers("Built in 1889 [1][3], by Eiffel [2, 1]. See [9].") == [1, 3, 2, 9]
    assert citation_numbers("In 2024 [sic] the year [a] is not cited.") == []


def test_page_furniture_is_dropped_from_text_files_and_answers_stay(tmp_path):
    """A web page copied to a .txt file: breadcrumb, share line, table of contents, the title
    repeated as a page header, "返回顶部" go; the prose, the headings and code stay."""
    from ingest.loaders import load_document

    page = "\n".join([
        "首页 > 技术 > 大模型入门", "大模型入门", "分享到：微信 微博 QQ空间", "", "目录",
        "1. 发展历程", "2. 训练方法", "", "1. 发展历程", "",
        "ChatGPT于2022年11月30日发布，引发了大模型的热潮。", "大模型入门", "",
        "2. 训练方法", "", "预训练之后是有监督微调。", "大模型入门", "", "```", "print(1)",
        "print(1)", "print(1)", "```", "Next, install the package:", "返回顶部"])
    doc = load_document(page.encode("utf-8"), str(tmp_path / "page.txt"), "off", None)
    text = doc.pages[0].text
    for gone in ("首页 >", "分享到", "目录", "返回顶部"):
        assert gone not in text
    assert text.count("大模型入门") == 1 and text.count("1. 发展历程") == 1
    assert "ChatGPT于2022年11月30日发布" in text and "预训练之后是有监督微调。" in text
    assert text.count("print(1)") == 3 and "Next, install the package:" in text
