"""ROUGE with a tokenizer that keeps Chinese characters."""

from __future__ import annotations

import pytest
from rouge_score import rouge_scorer

from eval.metrics_rouge import MixedTokenizer, rouge


def test_the_default_rouge_tokenizer_scores_chinese_zero_and_ours_does_not():
    default = rouge_scorer.RougeScorer(["rougeL"]).score("杭州发布", "模型在杭州发布")
    assert default["rougeL"].fmeasure == 0.0
    # 4 of 7 predicted characters in order: P 4/7, R 1 -> F 8/11
    assert rouge("模型在杭州发布", ["杭州发布"])["rougeL"] == pytest.approx(8 / 11)


def test_cjk_characters_and_english_words_are_tokens():
    assert MixedTokenizer(stem=False).tokenize("Kestrel-7B 在杭州, 2024") == [
        "kestrel", "7b", "在", "杭", "州", "2024"]
    assert MixedTokenizer().tokenize("released models") == ["releas", "model"]


def test_rouge2_counts_character_bigrams():
    # bigrams: pred {杭州, 州发, 发布} vs gold {杭州, 州市}: 1 shared -> P 1/3, R 1/2
    assert rouge("杭州发布", ["杭州市"])["rouge2"] == pytest.approx(0.4)


def test_english_rouge_and_best_gold():
    r = rouge("The model was released in October", ["nothing alike", "released in October 2024"])
    # unigrams after stemming: 6 predicted, 4 gold, 3 shared -> P 1/2, R 3/4 -> F 0.6
    assert r["rouge1"] == pytest.approx(0.6)
    assert r["rougeL"] == pytest.approx(0.6)


def test_no_gold_scores_zero():
    assert rouge("anything", []) == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
