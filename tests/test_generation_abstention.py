"""The abstention model: its signals, its fit, the best-threshold rule and the shipped file."""

from __future__ import annotations

import dataclasses
import json
import random

import numpy as np
import pytest
from generation_fixtures import HITS, FixedRetriever, ScriptedLLM, llm_settings

from generation.abstention import (
    MODEL_FILE,
    SIGNALS,
    NoAnswerModel,
    NoAnswerModelError,
    answer_signals,
    best_threshold,
    capped_threshold,
    fit_logistic,
)
from generation.engine import AnswerEngine
from generation.settings import GenerationSettings
from generation.spans import snap_to_passages


def test_best_threshold_matches_a_hand_computed_sweep():
    # Answering a question scores its F1; abstaining scores 1 on an unanswerable one.
    p_na = [0.1, 0.3, 0.6, 0.8]
    f1 = [1.0, 0.5, 1.0, 0.0]
    answerable = [True, True, False, False]
    # Answer none: 2/4. Answer the first: 3/4. First two: 3.5/4. First three: 2.5/4.
    threshold, best = best_threshold(p_na, f1, answerable)
    assert best == pytest.approx(87.5)
    assert 0.3 < threshold <= 0.6  # answers p_na 0.1 and 0.3, abstains from 0.6 on
    answered = [p < threshold for p in p_na]
    assert answered == [True, True, False, False]


def test_best_threshold_never_abstains_when_every_answer_is_right():
    threshold, best = best_threshold([0.2, 0.9], [1.0, 1.0], [True, True])
    assert best == 100.0 and threshold > 0.9


def test_logistic_fit_separates_and_ranks_a_noisy_signal():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = (x[:, 0] + 0.3 * rng.normal(size=400) > 0).astype(float)
    mean, scale, w, b = fit_logistic(x, y, l2=1.0)
    assert w[0] > 2 and abs(w[1]) < 0.5 and abs(w[2]) < 0.5
    p = 1 / (1 + np.exp(-(((x - mean) / scale) @ w + b)))
    assert ((p > 0.5) == (y == 1)).mean() > 0.9


def test_signals_read_grounding_retrieval_and_question_cover():
    span = snap_to_passages("330 metres", [HITS[0].chunk.text])
    s = answer_signals("How tall is the Eiffel Tower?", HITS, HITS[:1], span, declined=False,
                       mean_logprob=-0.2, lang="en")
    assert set(s) == set(SIGNALS) | {"cross_lingual"} and s["cross_lingual"] == 0.0
    assert s["grounded"] == 1 and s["match"] == 1.0 and s["logprob"] == -0.2
    assert s["relevance_top"] == 0.71 and s["relevance_margin"] == pytest.approx(0.16)
    assert s["q_cover_passage"] == 1.0  # "tall", "eiffel", "tower" are all in the passage
    assert s["answer_in_question"] == 0.0 and s["zh"] == 0.0
    echo = answer_signals("How tall is the Eiffel Tower?", HITS, HITS[:1],
                          snap_to_passages("Eiffel Tower", [HITS[0].chunk.text]), declined=False,
                          mean_logprob=None, lang="en")
    assert echo["answer_in_question"] == 1.0 and echo["has_logprob"] == 0.0
    none = answer_signals("Who painted it?", HITS, HITS[:1], None, declined=True,
                          mean_logprob=None, lang="en")
    assert none["grounded"] == 0 and none["declined"] == 1


def test_the_shipped_model_loads_and_its_thresholds_are_the_settings_default():
    model = NoAnswerModel.load()
    assert set(model.signals) <= set(SIGNALS)
    s = GenerationSettings()
    for lang in ("en", "zh"):
        assert s.threshold_for(lang, model.threshold) == model.threshold[lang]
        assert s.uncertain_for(lang, model.uncertain) == model.uncertain[lang]
    # Made by training/train_no_answer.py (bench/ before wave 4 moved it).
    assert model.provenance["script"].endswith("train_no_answer.py")
    assert all(d["split"] == "tune" for d in model.provenance["data"])


def test_a_right_looking_answer_scores_above_an_ungrounded_one():
    model = NoAnswerModel.load()
    good = answer_signals("How tall is the Eiffel Tower?", HITS, HITS[:1],
                          snap_to_passages("330 metres", [HITS[0].chunk.text]), declined=False,
                          mean_logprob=-0.05, lang="en")
    bad = answer_signals("Who painted the Mona Lisa?", [dataclasses.replace(
        HITS[0], relevance=0.1)], HITS[:1], None, declined=False, mean_logprob=-2.0, lang="en")
    assert model.prob_right(good) > model.prob_right(bad)


def test_a_saved_model_round_trips_and_a_broken_one_is_named(tmp_path):
    model = NoAnswerModel.load()
    path = tmp_path / "m.json"
    model.save(path)
    assert NoAnswerModel.load(path) == model
    data = json.loads(path.read_text())
    data["weights"] = data["weights"][:-1]
    path.write_text(json.dumps(data))
    with pytest.raises(NoAnswerModelError, match=r"m\.json"):
        NoAnswerModel.load(path)
    with pytest.raises(NoAnswerModelError, match="train_no_answer"):
        NoAnswerModel.load(tmp_path / "missing.json")
    assert MODEL_FILE.name == "no_answer_model.json"


def test_a_backend_without_log_probabilities_is_neither_helped_nor_hurt():
    model = NoAnswerModel.load()
    span = snap_to_passages("330 metres", [HITS[0].chunk.text])
    base = dict(declined=False, lang="en")
    s = answer_signals("How tall is the Eiffel Tower?", HITS, HITS[:1], span,
                       mean_logprob=None, **base)
    at_mean = answer_signals("How tall is the Eiffel Tower?", HITS, HITS[:1], span,
                             mean_logprob=model.mean[model.signals.index("logprob")], **base)
    assert model.prob_right(s) == pytest.approx(model.prob_right(at_mean))


def test_word_overlap_does_not_count_against_a_question_in_another_language():
    # A Chinese question over an English passage shares no words with it; that must not read
    # as "the passage is not about the question".
    model = NoAnswerModel.load()
    span = snap_to_passages("330 metres", [HITS[0].chunk.text])
    zh = answer_signals("埃菲尔铁塔有多高？", HITS, HITS[:1], span, declined=False,
                        mean_logprob=-0.1, lang="zh")
    assert zh["cross_lingual"] == 1.0 and zh["q_cover_sentence"] == 0.0
    unread = dict(zh, cross_lingual=0.0)  # the same zero overlap, read as evidence
    assert model.prob_right(zh) > model.prob_right(unread)


def test_the_threshold_is_per_language_or_one_number():
    from app.config import load_settings

    auto = {"en": 0.25, "zh": 0.75}
    s = GenerationSettings()
    assert s.no_answer_threshold == "auto" and s.threshold_for("zh", auto) == 0.75
    one = load_settings(None, {"no_answer_threshold": 0.7}, environ={}).generation
    assert one.threshold_for("en", auto) == one.threshold_for("zh", auto) == 0.7
    per = load_settings(None, {"no_answer_threshold": {"en": 0.3, "zh": 0.6}},
                        environ={}).generation
    assert per.threshold_for("en", auto) == 0.3 and per.threshold_for("zh", auto) == 0.6
    env = load_settings(None, {}, environ={"RAGQA_NO_ANSWER_THRESHOLD": "0.5"}).generation
    assert env.threshold_for("en", auto) == 0.5
    env = load_settings(None, {}, environ={"RAGQA_NO_ANSWER_THRESHOLD": "auto"}).generation
    assert env.threshold_for("en", auto) == 0.25
    with pytest.raises(Exception, match="no_answer_threshold"):
        load_settings(None, {"no_answer_threshold": 3}, environ={})


def test_the_capped_threshold_declines_at_most_the_cap_of_answerable_questions():
    rng = random.Random(7)
    # 200 answerable questions (12 forced declines: the model said it cannot answer), 60 not.
    answerable = [True] * 200 + [False] * 60
    p_na = [1.0] * 12 + [rng.random() * 0.8 for _ in range(188)] + \
        [0.4 + rng.random() * 0.6 for _ in range(60)]
    for cap in (0.06, 0.15, 0.3):
        t = capped_threshold(p_na, answerable, cap)
        declined = [p >= t for p, a in zip(p_na, answerable, strict=True) if a]
        assert sum(declined) <= cap * 200
        # The lowest such threshold: from the next answerable probability below it, the
        # cap would break.
        below = max(p for p, a in zip(p_na, answerable, strict=True) if a and p < t)
        assert sum(p >= below for p, a in zip(p_na, answerable, strict=True) if a) > cap * 200
    looser, tighter = capped_threshold(p_na, answerable, 0.3), capped_threshold(p_na,
                                                                                answerable, 0.06)
    assert looser < tighter
    # Forced declines alone reach the cap: the classifier declines nothing more.
    assert capped_threshold(p_na, answerable, 0.05) > 1.0
    with pytest.raises(ValueError, match="cap"):
        capped_threshold(p_na, answerable, 1.5)


def test_an_answer_above_the_uncertain_mark_is_given_and_marked():
    model = NoAnswerModel.load()
    llm = ScriptedLLM("330 metres")
    settings = llm_settings(no_answer_threshold=1.01, uncertain_threshold=0.0)
    answer = AnswerEngine(FixedRetriever(HITS), llm, settings, model).ask(
        "How tall is the Eiffel Tower?")
    assert not answer.abstained and answer.uncertain
    assert answer.to_json("1")["uncertain"] is True
    sure = AnswerEngine(FixedRetriever(HITS), ScriptedLLM("330 metres"),
                        llm_settings(no_answer_threshold=1.01, uncertain_threshold=1.01),
                        model).ask("How tall is the Eiffel Tower?")
    assert not sure.uncertain
