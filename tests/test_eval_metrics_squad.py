"""SQuAD EM/F1: hand-computed cases, including the corners where v1.1 and v2.0 differ."""

from __future__ import annotations

import pytest

from eval.metrics_squad import exact_match, f1, normalize_answer, score_answer


@pytest.mark.parametrize(("text", "normalized"), [
    ("The Eiffel Tower", "eiffel tower"),
    ("an apple a day", "apple day"),
    ("Theory of the atom", "theory of atom"),      # "the" only as a whole word
    ("U.S.A.", "usa"),
    ("1,024 GPUs!", "1024 gpus"),
    ("  lots\tof   space ", "lots of space"),
    ("“curly”", "“curly”"),                          # only ASCII punctuation is removed
])
def test_normalize_answer_matches_the_official_rules(text, normalized):
    assert normalize_answer(text) == normalized


def test_articles_and_punctuation_do_not_break_an_exact_match():
    assert exact_match("The tower.", "tower") == 1.0
    assert exact_match("A 2.4 trillion", "24 trillion") == 1.0  # the decimal point is punctuation
    assert exact_match("towers", "tower") == 0.0


def test_f1_is_a_token_bag_overlap():
    # pred {big, red, dog} vs gold {red, dog, barks}: 2 shared -> P = R = 2/3
    assert f1("the big red dog", "red dog barks") == pytest.approx(2 / 3)
    # repeated tokens count once per occurrence: 1 shared of 3 predicted -> P 1/3, R 1
    assert f1("dog dog dog", "dog") == pytest.approx(0.5)
    assert f1("cat", "dog") == 0.0


def test_multiple_golds_take_the_best_em_and_the_best_f1_separately():
    s = score_answer("red dog", ["dog", "red cat"])
    assert s.em == 0.0
    assert s.f1 == pytest.approx(2 / 3)  # vs "dog": P 1/2, R 1
    assert score_answer("Red Cat", ["dog", "red cat"]).em == 1.0


def test_empty_prediction_on_an_answerable_question_scores_zero():
    assert score_answer("", ["tower"]) == score_answer("", ["tower"], "1.1")
    assert score_answer("", ["tower"]).em == 0.0 and score_answer("", ["tower"]).f1 == 0.0


def test_v2_unanswerable_scores_one_only_for_an_empty_prediction():
    assert score_answer("", []).em == 1.0 and score_answer("", []).f1 == 1.0
    assert score_answer("no idea", []).em == 0.0 and score_answer("no idea", []).f1 == 0.0
    # The official v2.0 script normalises first: "The." is empty, so it counts as abstaining.
    assert score_answer("The.", []).f1 == 1.0


def test_v1_and_v2_differ_where_a_gold_normalises_to_nothing():
    # v2.0 drops the gold "the" and treats the question as unanswerable: F1 1 for "".
    assert score_answer("", ["the"], "2.0").f1 == 1.0
    # v1.1 keeps it: both strings are empty, EM is 1 but F1 is 0 (no shared token).
    v1 = score_answer("", ["the"], "1.1")
    assert (v1.em, v1.f1) == (1.0, 0.0)


def test_v1_needs_a_gold_answer():
    with pytest.raises(ValueError, match="at least one gold"):
        score_answer("x", [], "1.1")
