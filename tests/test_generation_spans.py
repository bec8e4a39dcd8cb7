"""Grounding: every short answer is a verbatim slice of a passage, Chinese and English."""

from __future__ import annotations

import random

import pytest

from generation.spans import clean_answer, evidence_bounds, quote_evidence, snap_to_passages

EN = ["The Sydney Harbour Bridge opened on 19 March 1932. Its steel arch spans 503 metres.",
      "Gustave Eiffel's company designed and built the Eiffel Tower, completed in 1889."]
ZH = ["南京长江大桥于1968年12月29日全面建成通车，是长江上第一座双层式铁路、公路两用桥梁。",
      "北海道狼是灰狼的一个亚种，1889年灭绝。"]


@pytest.mark.parametrize("answer, passage, text", [
    ("503 metres", 0, "503 metres"),
    ("503 Metres.", 0, "503 metres"),                 # case and the model's full stop
    ("Answer: 19 March 1932 [1]", 0, "19 March 1932"),  # lead-in and citation dropped
    ("\"Gustave Eiffel's company\"", 1, "Gustave Eiffel's company"),
    ("the steel arch spans 503 metres long", 0, "steel arch spans 503 metres"),  # by word
    ("the year 1889", 1, "1889"),
])
def test_english_answers_snap_to_a_passage_span_by_word(answer, passage, text):
    span = snap_to_passages(answer, EN)
    assert span is not None and span.passage == passage and span.text == text
    assert EN[passage][span.start:span.end] == span.text


@pytest.mark.parametrize("answer, passage, text", [
    ("1968年12月29日", 0, "1968年12月29日"),
    ("在1968年12月29日。", 0, "1968年12月29日"),      # by character: 在 is not in the span
    ("“北海道狼”", 1, "北海道狼"),
    ("一八八九年灭绝", 1, "年灭绝"),                    # the overlapping characters only
    ("双层式铁路公路两用桥梁", 0, "双层式铁路、公路两用桥梁"),
])
def test_chinese_answers_snap_to_a_passage_span_by_character(answer, passage, text):
    span = snap_to_passages(answer, ZH)
    assert span is not None and span.passage == passage and span.text == text
    assert ZH[passage][span.start:span.end] == span.text


def test_an_exact_copy_matches_fully_and_a_paraphrase_partly():
    assert snap_to_passages("19 March 1932", EN).match == 1.0
    assert 0.34 <= snap_to_passages("the steel arch spans 503 metres long", EN).match < 1.0


@pytest.mark.parametrize("answer", ["", "unrelated words entirely", "完全无关的内容", "[1]"])
def test_an_answer_in_no_passage_is_not_grounded(answer):
    assert snap_to_passages(answer, EN + ZH) is None


def test_the_earlier_passage_wins_a_tie():
    span = snap_to_passages("1889", ZH + EN)
    assert span.passage == 1  # ZH[1] holds 1889 too, and ranks before EN[1]


def test_whitespace_differences_still_match_exactly():
    passage = "The tower is 330\n   metres tall."
    span = snap_to_passages("330 metres", [passage])
    assert span.match == 1.0 and passage[span.start:span.end] == "330\n   metres"


def test_random_answers_always_snap_to_verbatim_slices():
    rng = random.Random(7)
    texts = EN + ZH
    for _ in range(300):
        passage = rng.choice(texts)
        a = rng.randrange(len(passage) - 3)
        answer = passage[a:a + rng.randint(2, 20)]
        if rng.random() < 0.5:  # the model's own words around it
            answer = rng.choice(["the ", "在", "", "about "]) + answer + rng.choice(["", "。", "."])
        span = snap_to_passages(answer, texts)
        if span is not None:
            assert texts[span.passage][span.start:span.end] == span.text
            assert span.text.strip() == span.text != ""


def test_clean_answer_keeps_the_first_line_without_framing():
    assert clean_answer("《红楼梦》。\nBecause it says so.") == "红楼梦"
    assert clean_answer("The answer is: 42 [2]") == "42"


def test_the_evidence_is_the_sentence_around_the_span():
    text = "It opened in 1932. Its arch spans 503 metres. It carries rail."
    start = text.index("503")
    left, right = evidence_bounds(text, start, start + 10)
    assert text[left:right] == "Its arch spans 503 metres."
    zh = "大桥于1968年通车。全长6772米，是双层桥。另有引桥。"
    s = zh.index("6772")
    left, right = evidence_bounds(zh, s, s + 5)
    assert zh[left:right] == "全长6772米，是双层桥。"


def test_a_term_on_its_own_line_comes_with_the_sentence_that_defines_it():
    # A definition list as Debian's users-and-groups page has it: the group's name alone
    # shares no word with "which group may use the serial ports?"; its definition does.
    groups = ("kmem\n\nThis group can read /dev/mem.\n\ndialout\n\nFull and direct access to "
              "serial ports. Members of this group can reconfigure the modem.\n\n")
    start = groups.index("dialout")
    left, right = evidence_bounds(groups, start, start + 7)
    assert quote_evidence(groups, left, right) == "dialout Full and direct access to serial ports."
    # A name followed by another name (an author list), or a heading over code, stays alone.
    authors = "Joey Hess\n\nColin Watson\n\nDavid Mandelberg\n"
    left, right = evidence_bounds(authors, 0, 9)
    assert authors[left:right].strip() == "Joey Hess"
    setup = "Install\n\n```shell\npip install cn2an -U and then run the tests\n```\n"
    left, right = evidence_bounds(setup, 0, 7)
    assert setup[left:right].strip() == "Install"


def test_a_run_on_sentence_is_cut_to_a_window_marked_with_ellipses():
    text = "a, " * 200 + "the key fact 42 here" + ", b" * 200
    span = snap_to_passages("42", [text])
    quote = quote_evidence(text, *evidence_bounds(text, span.start, span.end))
    assert "42" in quote and quote.startswith("…") and quote.endswith("…")
    assert len(quote) <= 250


def test_a_wrapped_line_is_not_a_sentence_end_but_a_list_item_is():
    text = ("Release: Kestrel-7B was released under the Apache 2.0 license, with the base\n"
            "and the chat weights published together.\n- Next item: unrelated.")
    span = snap_to_passages("Apache 2.0", [text])
    quote = quote_evidence(text, *evidence_bounds(text, span.start, span.end))
    assert quote == ("Release: Kestrel-7B was released under the Apache 2.0 license, with the "
                     "base and the chat weights published together.")
