"""hit@k, MRR and source recall on hand-made rankings."""

from __future__ import annotations

import pytest

from eval.metrics_retrieval import answer_rank, hit_at_k, mrr, normalize_for_match, source_recall


def test_answer_rank_finds_the_first_passage_containing_any_gold():
    passages = ["The run took 26 days.", "It used 1,024 GPUs.", "1,024 again"]
    assert answer_rank(passages, ["1,024"]) == 2
    assert answer_rank(passages, ["nope", "26 DAYS"]) == 1  # case-insensitive, any gold
    assert answer_rank(passages, ["3e-4"]) is None
    assert answer_rank(passages, []) is None


def test_containment_ignores_white_space_such_as_pdf_line_breaks():
    assert normalize_for_match("单机部署推荐使\n用 RTX  4090") == "单机部署推荐使用rtx4090"
    assert answer_rank(["推荐使\n用 24 GB 显存"], ["推荐使用 24 GB"]) == 1
    assert answer_rank(["ＲＴＸ４０９０"], ["RTX 4090"]) == 1  # full-width forms (NFKC)


def test_hit_at_k_and_mrr():
    ranks = [1, 3, None, 2]
    assert hit_at_k(ranks, 1) == 0.25
    assert hit_at_k(ranks, 2) == 0.5
    assert hit_at_k(ranks, 5) == 0.75
    assert mrr(ranks) == pytest.approx((1 + 1 / 3 + 0 + 1 / 2) / 4)
    assert hit_at_k([], 5) == 0.0 and mrr([]) == 0.0
    with pytest.raises(ValueError):
        hit_at_k(ranks, 0)


def test_source_recall_matches_file_names_and_relative_paths():
    got = ["/abs/data/kb/en_serving.md", "/abs/data/kb/zh_history.txt"]
    assert source_recall(got, ["en_serving.md"]) == 1.0
    assert source_recall(got, ["kb/en_serving.md", "en_tokenizer.txt"]) == 0.5
    # a longer gold path than what was retrieved is not a match, nor is a name suffix
    assert source_recall(got, ["serving.md"]) == 0.0
    with pytest.raises(ValueError):
        source_recall(got, [])
