"""Reciprocal-rank fusion orders a constructed example as the formula says."""

from __future__ import annotations

import pytest

from retrieval import RetrievalError, reciprocal_rank_fusion
from retrieval.hybrid import FusionWeights, HybridRetriever


def test_a_row_high_in_both_rankings_beats_a_row_first_in_one():
    dense = [10, 20, 30, 40]
    bm25 = [50, 20, 10, 60]
    fused = reciprocal_rank_fusion([dense, bm25], [1.0, 1.0], rrf_k=60)
    # 10: 1/61 + 1/63, 20: 1/62 + 1/62, 50: 1/61, 30: 1/63, 60: 1/64, 40: 1/64
    assert [f.row for f in fused] == [10, 20, 50, 30, 40, 60]
    assert fused[0].score == pytest.approx(1 / 61 + 1 / 63)
    assert fused[1].score == pytest.approx(2 / 62)


def test_ties_go_to_the_better_single_rank_then_the_lower_row():
    fused = reciprocal_rank_fusion([[1, 2], [2, 1]], [1.0, 1.0], rrf_k=0)
    assert [f.row for f in fused] == [1, 2]  # equal scores and best ranks: lower row first
    fused = reciprocal_rank_fusion([[7, 8, 9], [9, 3]], [1.0, 1.0], rrf_k=1)
    # 9: 1/4 + 1/2 = 0.75; 7: 1/2; 8: 1/3 ; 3: 1/3 (best rank 2 vs 2: row 3 < 8)
    assert [f.row for f in fused] == [9, 7, 3, 8]


def test_weights_shift_the_order_towards_the_heavier_ranking():
    dense, bm25 = [1, 2, 3], [3, 2, 1]
    assert reciprocal_rank_fusion([dense, bm25], [1.0, 0.2])[0].row == 1
    assert reciprocal_rank_fusion([dense, bm25], [0.2, 1.0])[0].row == 3
    # A zero weight turns a ranking off entirely (but its rows are still candidates).
    only_bm25 = reciprocal_rank_fusion([dense, bm25], [0.0, 1.0])
    assert [f.row for f in only_bm25] == [3, 2, 1]


def test_mismatched_weights_are_refused():
    with pytest.raises(ValueError, match="2 rankings but 1 weights"):
        reciprocal_rank_fusion([[1], [2]], [1.0])


def test_hybrid_weights_follow_the_question_language():
    weights = FusionWeights(dense=1.0, bm25=0.8, cjk_dense=0.2, cjk_bm25=1.0)
    assert weights.for_question("How are chunks embedded?") == pytest.approx((1.0, 0.8))
    assert weights.for_question("分块如何嵌入") == pytest.approx((0.2, 1.0))
    dense, bm25 = weights.for_question("RAG 是什么")
    assert bm25 > dense


def test_hybrid_refuses_bad_settings_before_touching_the_index():
    with pytest.raises(RetrievalError, match="depth must be an integer greater than 0"):
        HybridRetriever(None, None, depth=0)
    with pytest.raises(RetrievalError, match="bm25 must be 0 or greater"):
        FusionWeights(bm25=-1)
    with pytest.raises(RetrievalError, match="must not both be 0"):
        FusionWeights(cjk_dense=0, cjk_bm25=0)
