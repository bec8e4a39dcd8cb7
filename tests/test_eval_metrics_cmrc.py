"""CMRC 2018 EM/F1: mixed segmentation, the official punctuation list, longest common substring."""

from __future__ import annotations

import pytest

from eval.metrics_cmrc import (
    exact_match,
    find_lcs,
    mixed_segmentation,
    remove_punctuation,
    score_answer,
    word_tokenize,
)


def test_chinese_characters_are_single_tokens_and_other_runs_are_words():
    assert mixed_segmentation("RTX 4090显卡") == ["rtx", "4090", "显", "卡"]
    assert mixed_segmentation("《三体》作者：刘慈欣")[:4] == ["《", "三", "体", "》"]


def test_listed_punctuation_is_a_token_or_removed_and_joins_what_it_separated():
    assert mixed_segmentation("Kestrel-7B在杭州") == ["kestrel", "-", "7b", "在", "杭", "州"]
    # With rm_punc the hyphen is skipped *inside* the run, so the words fuse (official behaviour).
    assert mixed_segmentation("Kestrel-7B在杭州", rm_punc=True) == ["kestrel7b", "在", "杭", "州"]


def test_the_two_character_ellipsis_entry_never_matches_a_single_character():
    assert remove_punctuation("好……") == "好……"
    assert exact_match("杭州……", "杭州") == 0.0


def test_full_width_comma_is_removed_but_ascii_comma_and_percent_are_not():
    assert exact_match("3，200", "3200") == 1.0
    assert exact_match("3,200", "3200") == 0.0
    # "17%" -> ["17", "%"]: prediction "17" shares 1 of 2 gold tokens -> P 1, R 1/2
    s = score_answer("17", ["17%"])
    assert s.em == 0.0 and s.f1 == pytest.approx(2 / 3)


def test_word_tokenize_splits_sentences_like_nltk_word_tokenize():
    # The Treebank tokenizer alone would keep "world." whole; nltk.word_tokenize does not.
    assert word_tokenize("Hello world. Bye") == ["Hello", "world", ".", "Bye"]
    assert word_tokenize('it\'s 2.4 "x"') == ["it", "'s", "2.4", "``", "x", "''"]


def test_f1_uses_the_longest_common_substring_not_subsequence():
    assert find_lcs(list("abcxbc"), list("bc")) == (["b", "c"], 2)
    # gold [杭, 州], pred [杭, a, 州]: the longest *contiguous* match is 1 token.
    s = score_answer("杭a州", ["杭州"])
    assert s.f1 == pytest.approx(2 * (1 / 3) * (1 / 2) / (1 / 3 + 1 / 2))


def test_extra_characters_lower_precision():
    s = score_answer("杭州市", ["杭州"])  # P 2/3, R 1
    assert (s.em, s.f1) == (0.0, pytest.approx(0.8))
    assert score_answer("杭州。", ["杭州"]).em == 1.0


def test_mixed_chinese_and_english_answer():
    s = score_answer("RTX 4090 显卡", ["RTX 4090"])  # 2 of 4 predicted tokens
    assert s.f1 == pytest.approx(2 / 3)
    assert score_answer("rtx 4090", ["RTX 4090"]).em == 1.0


def test_multiple_golds_and_empty_predictions():
    assert score_answer("2.4 万亿", ["2.4 万亿 token", "2.4 万亿"]).em == 1.0
    assert score_answer("", ["杭州"]) == score_answer("", ["杭州"])
    assert score_answer("", ["杭州"]).f1 == 0.0


def test_unanswerable_scores_one_only_for_an_empty_prediction():
    assert score_answer("", []).em == 1.0
    assert score_answer("。", []).f1 == 1.0  # only listed punctuation: nothing was said
    assert score_answer("不知道", []).f1 == 0.0
