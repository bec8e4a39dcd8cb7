"""AnswerEngine: the relevance gate, abstention, citations, streaming order, follow-ups."""

from __future__ import annotations

import dataclasses

import pytest
from generation_fixtures import HITS, FixedRetriever, ScriptedLLM, llm_settings

from generation import Answer, AnswerEngine, DecodingParams
from generation.prompts import ABSTAIN
from generation.rewrite import heuristic_rewrite, is_follow_up, rewrite_question


def _low(hits, relevance):
    return [dataclasses.replace(h, relevance=relevance) for h in hits]


def _with_text(hit, text):
    return dataclasses.replace(hit, chunk=dataclasses.replace(hit.chunk, text=text))


def test_abstains_without_calling_the_llm_when_no_hit_is_relevant_enough():
    llm = ScriptedLLM("The tower is 330 metres tall [1].")
    engine = AnswerEngine(FixedRetriever(_low(HITS, 0.05)), llm,
                          llm_settings(min_relevance=0.2))
    answer = engine.ask("How tall is the Eiffel Tower?")
    assert llm.calls == []  # the LLM was never asked
    assert answer.abstained and answer.text == ABSTAIN["en"]
    assert answer.citations == [] and answer.confidence is None
    assert answer.timings.first_token_ms is None and answer.timings.total_ms >= 0
    assert answer.hits == _low(HITS, 0.05)  # still shown, so a user sees what was found


def test_the_gate_answers_a_chinese_question_in_chinese_and_streams_the_phrase():
    llm = ScriptedLLM("unused")
    engine = AnswerEngine(FixedRetriever(_low(HITS, 0.1)), llm,
                          llm_settings(min_relevance=0.3))
    stream = engine.stream("埃菲尔铁塔有多高？")
    assert list(stream) == [ABSTAIN["zh"]]
    assert stream.result().abstained and llm.calls == []


def test_no_hits_at_all_abstains_without_the_llm():
    llm = ScriptedLLM("unused")
    answer = AnswerEngine(FixedRetriever([]), llm,
                          llm_settings(min_relevance=None)).ask("Anything?")
    assert answer.abstained and llm.calls == []


def test_hits_without_a_known_relevance_are_not_gated():
    llm = ScriptedLLM("330 metres tall")
    answer = AnswerEngine(FixedRetriever(_low(HITS, None)), llm,
                          llm_settings(min_relevance=0.9,
                                             no_answer_threshold=None)).ask("Tall?")
    assert len(llm.calls) == 1 and not answer.abstained


def test_one_relevant_hit_is_enough_to_call_the_llm():
    hits = _low(HITS, 0.05)
    hits[2] = dataclasses.replace(hits[2], relevance=0.5)
    llm = ScriptedLLM("two million")
    answer = AnswerEngine(FixedRetriever(hits), llm,
                          llm_settings(min_relevance=0.2, evidence="passages",
                                             context_passages=3, no_answer_threshold=None)
                          ).ask("Population?")
    assert len(llm.calls) == 1 and not answer.abstained
    assert answer.short.text == "two million" and answer.short.n == 3


@pytest.mark.parametrize("said", ["unanswerable", "I don't know based on the provided "
                                  "documents. [1]", "无法回答"])
def test_a_model_that_declines_is_an_abstention_without_citations(said):
    llm = ScriptedLLM(said)
    answer = AnswerEngine(FixedRetriever(HITS), llm, llm_settings()).ask(
        "Who painted it?")
    assert len(llm.calls) == 1
    assert answer.abstained and answer.citations == [] and answer.short is None
    assert answer.proposed == said and answer.signals["declined"] == 1.0
    assert answer.hits == HITS  # the closest passages stay on the answer
    assert 0 <= answer.confidence <= 1 and answer.no_answer_prob == 1 - answer.confidence


def test_an_answer_found_in_no_passage_is_an_abstention():
    # Seen with the 0.5B model on CMRC 2018: it answered with the few-shot example's date.
    llm = ScriptedLLM("1968年12月29日")
    answer = AnswerEngine(FixedRetriever(HITS), llm,
                          llm_settings(no_answer_threshold=None)).ask("塔是哪一年建成的？")
    assert answer.abstained and answer.citations == [] and answer.short is None
    assert answer.signals["grounded"] == 0.0


def test_a_document_about_the_example_subject_is_still_answered():
    hits = [_with_text(HITS[0], "The Sydney Harbour Bridge arch spans 503 metres in all.")]
    llm = ScriptedLLM("503 metres")
    answer = AnswerEngine(FixedRetriever(hits), llm,
                          llm_settings(no_answer_threshold=None)).ask("How long?")
    assert not answer.abstained and [c.n for c in answer.citations] == [1]


def test_the_short_answer_is_a_verbatim_span_and_the_text_quotes_its_sentence():
    hits = [_with_text(HITS[0], "Built for the fair. The Eiffel Tower is 330 "
                       "metres tall and was completed in 1889. It was painted.")]
    llm = ScriptedLLM("The 330 Metres [1].")
    answer = AnswerEngine(FixedRetriever(hits), llm,
                          llm_settings(no_answer_threshold=None)).ask("How tall?")
    short, ev = answer.short, answer.evidence
    assert short.text == "330 metres" == hits[0].chunk.text[short.start:short.end]
    assert (short.n, short.chunk_id) == (1, "tower.pdf#3:0")
    assert ev.text == "The Eiffel Tower is 330 metres tall and was completed in 1889."
    assert hits[0].chunk.text[ev.start:ev.end] == ev.text
    assert answer.text == ev.text + " [1]"
    assert [(c.n, c.source, c.page) for c in answer.citations] == [(1, "kb/tower.pdf", 3)]
    row = answer.to_json("q7")
    assert row["short_answer"] == {"text": "330 metres", "n": 1, "chunk_id": "tower.pdf#3:0",
                                   "start": short.start, "end": short.end,
                                   "match": short.match}
    assert row["evidence"]["text"] == ev.text and row["proposed"] == "The 330 Metres [1]."
    assert set(row) >= {"id", "question", "answer", "abstained", "citations", "timings_ms",
                        "confidence", "no_answer_prob", "signals"}


def test_the_no_answer_threshold_decides_between_answering_and_abstaining():
    llm = ScriptedLLM("330 metres")
    engine = AnswerEngine(FixedRetriever(HITS), llm,
                          llm_settings(no_answer_threshold=None))
    answered = engine.ask("How tall is the Eiffel Tower?")
    p = answered.no_answer_prob
    assert not answered.abstained and 0 < p < 1
    strict = AnswerEngine(FixedRetriever(HITS), ScriptedLLM("330 metres"),
                          llm_settings(no_answer_threshold=p - 1e-6))
    declined = strict.ask("How tall is the Eiffel Tower?")
    assert declined.abstained and declined.no_answer_prob == pytest.approx(p)
    assert declined.text == ABSTAIN["en"] and declined.proposed == "330 metres"


def test_stream_yields_the_grounded_text_then_holds_the_answer():
    llm = ScriptedLLM("330 metres tall")
    stream = AnswerEngine(FixedRetriever(HITS), llm,
                          llm_settings(no_answer_threshold=None)).stream("How tall?")
    pieces = list(stream)
    answer = stream.result()
    assert isinstance(answer, Answer) and answer.short.text == "330 metres tall"
    # What streams is what the answer says (the model's own words may differ from it).
    assert pieces == [answer.text] and answer.proposed == "330 metres tall"
    assert answer.timings.first_token_ms >= answer.timings.retrieve_ms


def test_streaming_a_real_model_matches_its_final_answer(smollm2):
    engine = AnswerEngine(FixedRetriever(HITS), smollm2, llm_settings(max_new_tokens=24))
    stream = engine.stream("How tall is the Eiffel Tower?")
    pieces = list(stream)
    answer = stream.result()
    assert isinstance(answer, Answer) and all(isinstance(p, str) for p in pieces)
    assert "".join(pieces) == answer.text != "" and answer.proposed
    t = answer.timings
    assert 0 < t.first_token_ms <= t.total_ms
    assert 0 < answer.confidence <= 1


def test_ask_many_batches_where_it_pays_and_keeps_the_input_order():
    hits = FixedRetriever(HITS)
    llm = ScriptedLLM(["330 metres", "Gustave Eiffel's company"], prefers_batching=True)
    engine = AnswerEngine(hits, llm, llm_settings(batch_size=2, evidence="passages",
                                                        context_passages=3,
                                                        no_answer_threshold=None))
    answers = engine.ask_many(["first?", "second?", "third?"])
    assert [a.question for a in answers] == ["first?", "second?", "third?"]
    assert [a.short.text for a in answers] == ["330 metres", "Gustave Eiffel's company",
                                               "Gustave Eiffel's company"]
    assert [c.n for c in answers[1].citations] == [2]


def test_ask_many_gates_per_question():
    llm = ScriptedLLM("unused", prefers_batching=True)
    answers = AnswerEngine(FixedRetriever(_low(HITS, 0.0)), llm,
                           llm_settings()).ask_many(["a?", "b?"])
    assert all(a.abstained for a in answers) and llm.calls == []


@pytest.mark.parametrize("question, history, follow_up", [
    ("and in 2020?", [("What was the revenue in 2019?", "12 M [1].")], True),
    ("What about its height?", [("Who built the tower?", "Eiffel [1].")], True),
    ("那2020年呢？", [("2019年的收入是多少？", "1200万 [1]。")], True),
    ("How tall is the Eiffel Tower?", [("Who built it?", "Eiffel.")], False),
    ("What is BM25?", [("Who built the tower?", "Eiffel [1].")], False),
    ("in 2020?", [("What was the revenue in 2019?", "12 M [1].")], True),
    ("BM25是什么？", [("谁建造了铁塔？", "埃菲尔 [1]。")], False),
    ("and in 2020?", None, False),
])
def test_recognises_follow_up_questions(question, history, follow_up):
    assert is_follow_up(question, history) is follow_up


def test_heuristic_rewrite_swaps_the_year_or_appends_the_fragment():
    history = [("What was the revenue in 2019?", "12 million euros [1].")]
    assert heuristic_rewrite("and in 2020?", history) == "What was the revenue in 2020?"
    zh_history = [("2019年的收入是多少？", "…")]
    assert heuristic_rewrite("那2020年呢？", zh_history) == "2020年的收入是多少？"
    assert heuristic_rewrite("what about the profit?", history) == \
        "What was the revenue in 2019 the profit?"


def test_the_engine_retrieves_with_the_rewritten_follow_up():
    retriever = FixedRetriever(HITS)
    llm = ScriptedLLM("It was 14 million [1].")
    engine = AnswerEngine(retriever, llm, llm_settings(rewrite="heuristic"))
    answer = engine.ask("and in 2020?", history=[("What was the revenue in 2019?", "12 M")])
    assert retriever.questions == ["What was the revenue in 2020?"]
    assert answer.standalone_question == "What was the revenue in 2020?"
    assert answer.question == "and in 2020?"


def test_the_llm_rewrite_is_used_when_plausible_and_the_heuristic_when_not():
    history = [("What was the revenue in 2019?", "12 M [1].")]
    good = ScriptedLLM("What was the company's revenue in 2020?")
    assert rewrite_question("and in 2020?", history, llm=good) == \
        "What was the company's revenue in 2020?"
    assert "Last question: and in 2020?" in good.calls[0][-1]["content"]
    echo = ScriptedLLM("and in 2020?")  # a model that just repeats the fragment
    assert rewrite_question("and in 2020?", history, llm=echo) == "What was the revenue in 2020?"
    garbled = ScriptedLLM("最近似去重呢？")  # as long as the fragment, still leaning on 呢
    zh_history = [("精确去重用的是什么哈希？", "SHA-256 [1]。")]
    assert rewrite_question("那近似去重呢？", zh_history, llm=garbled) == \
        "精确去重用的是什么哈希近似去重？"
    standalone = ScriptedLLM("unused")
    assert rewrite_question("Who built the tower?", history, llm=standalone) == \
        "Who built the tower?" and standalone.calls == []


def test_generation_and_decoding_settings_are_validated_when_made():
    with pytest.raises(ValueError, match="min_relevance"):
        llm_settings(min_relevance=3)
    with pytest.raises(ValueError, match="batch_size"):
        llm_settings(batch_size=0)
    with pytest.raises(ValueError, match="top_p"):
        DecodingParams(top_p=0)
    with pytest.raises(ValueError, match="temperature"):
        DecodingParams(temperature=-1)
    assert not DecodingParams().do_sample and DecodingParams(temperature=0.7).do_sample


def test_a_question_read_in_its_own_language_never_lists_the_index_languages():
    """Cross-language reading costs a same-language question nothing: the index's languages
    (every file's metadata) are not listed, nothing is translated, retrieved or read again."""
    import time

    from generation.crosslingual import CrossLanguageFallback, OtherLanguages
    from generation.policy import Asked
    from generation.types import Timings

    def never(*args):
        raise AssertionError("called for a question in its passages' language")

    fallback = CrossLanguageFallback(OtherLanguages(never, never), never, never, never)
    asked = Asked("How tall is the tower?", "How tall is the tower?", HITS, "en", 1.0,
                  time.perf_counter())
    answer = Answer(question=asked.question, text="330 metres [1]", abstained=False,
                    citations=[], confidence=0.9, timings=Timings(1.0, 2.0, 2.0), hits=HITS)
    assert fallback.apply(answer, asked, compare=True) is answer
