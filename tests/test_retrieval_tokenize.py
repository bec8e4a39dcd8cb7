"""BM25 tokenization handles Chinese (character unigrams + bigrams) beside stemmed English."""

from __future__ import annotations

from ingest.core.text import tokenize
from ingest.store.lexical import LexicalIndex


def test_chinese_becomes_unigrams_and_bigrams_without_a_dictionary():
    assert tokenize("知识蒸馏") == ["知", "知识", "识", "识蒸", "蒸", "蒸馏", "馏"]


def test_chinese_punctuation_separates_runs():
    tokens = tokenize("模型压缩，知识蒸馏。")
    assert "缩知" not in tokens  # no bigram across the full-width comma
    assert "压缩" in tokens and "蒸馏" in tokens
    assert "，" not in tokens and "。" not in tokens


def test_mixed_text_keeps_english_words_stemmed_and_stop_words_out():
    tokens = tokenize("The Transformers 使用 self-attention layers")
    assert tokens[:1] == ["transform"]
    assert "the" not in tokens
    assert {"使", "使用", "用", "self", "attent", "layer"} <= set(tokens)


def test_numbers_and_units_next_to_chinese_are_kept_apart():
    assert tokenize("2024年发布") == ["2024", "年", "年发", "发", "发布", "布"]


def test_japanese_kana_and_korean_hangul_count_as_cjk():
    assert tokenize("カナ") == ["カ", "カナ", "ナ"]
    assert tokenize("한국") == ["한", "한국", "국"]


def test_bm25_finds_a_chinese_document_by_a_word_inside_a_sentence():
    docs = ["知识蒸馏用大模型教小模型。", "数据清洗去掉重复的网页。", "The cat sat on the mat."]
    index = LexicalIndex.build([tokenize(d) for d in docs])
    rows, _ = index.search(tokenize("什么是蒸馏"), k=3)
    assert rows[0] == 0
    rows, _ = index.search(tokenize("重复网页"), k=3)
    assert rows[0] == 1
    rows, _ = index.search(tokenize("cats sitting"), k=3)
    assert list(rows) == [2]  # "cats" is stemmed to "cat"


def test_bigrams_rank_the_exact_phrase_above_scattered_characters():
    docs = ["模型的知识被蒸馏。", "知识蒸馏是一种方法。"]  # both contain 知 识 蒸 馏
    index = LexicalIndex.build([tokenize(d) for d in docs])
    rows, _ = index.search(tokenize("知识蒸馏"), k=2)
    assert rows[0] == 1
