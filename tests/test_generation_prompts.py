"""Prompt building: language choice, numbered passages, fitting into the window."""

from __future__ import annotations

import pytest
from generation_fixtures import HITS

from generation.prompts import (
    DECLINE,
    SYSTEM,
    build_prompt,
    is_abstention,
    render_plain,
)
from generation.types import GenerationError
from ingest.core.text import count_cjk
from ingest.core.types import Chunk
from retrieval.types import Hit


def _count_words(text: str) -> int:
    return len(text.split()) + count_cjk(text)


def test_a_chinese_question_gets_the_chinese_system_prompt_and_labels():
    plan = build_prompt("埃菲尔铁塔有多高？", HITS, count_tokens=_count_words, window=2048,
                        max_new_tokens=128)
    assert plan.lang == "zh"
    assert plan.messages[0] == {"role": "system", "content": SYSTEM["zh"]}
    assert DECLINE["zh"] in plan.messages[0]["content"]
    user = plan.messages[-1]["content"]
    assert user.startswith("资料：\n[1] (tower.pdf, 第3页) The Eiffel Tower")
    assert user.endswith("问题：埃菲尔铁塔有多高？")


def test_an_english_question_gets_the_english_prompt_with_numbered_passages_best_first():
    plan = build_prompt("How tall is it?", HITS, count_tokens=_count_words, window=2048,
                        max_new_tokens=128)
    assert plan.lang == "en"
    assert plan.messages[0]["content"] == SYSTEM["en"]
    assert DECLINE["en"] in SYSTEM["en"] and "shortest exact phrase" in SYSTEM["en"]
    user = plan.messages[-1]["content"]
    positions = [user.index(f"[{n}] ") for n in (1, 2, 3)]
    assert positions == sorted(positions)
    assert "[1] (tower.pdf, page 3)" in user and "[2] (eiffel.md) Gustave" in user
    assert plan.hits == HITS and not plan.truncated


def test_few_shot_examples_come_as_chat_turns_in_the_question_language():
    plan = build_prompt("塔有多高？", HITS, count_tokens=_count_words, window=2048,
                        max_new_tokens=128, few_shot=True)
    roles = [m["role"] for m in plan.messages]
    assert roles == ["system"] + ["user", "assistant"] * 3 + ["user"]
    assert plan.messages[6]["content"] == DECLINE["zh"]  # the unanswerable example declines
    # Each answered example is a verbatim phrase of its own passage, as the model must write.
    for user, assistant in zip(plan.messages[1:5:2], plan.messages[2:6:2], strict=True):
        assert assistant["content"] in user["content"]
        assert len(assistant["content"]) < 20


def test_a_100k_character_document_is_cut_to_fit_the_window_with_the_answer_budget(smollm2):
    huge = Hit(Chunk("huge#0", "The tower was repainted in 2019. " * 3100, "kb/huge.txt", 1, 0),
               0.9, relevance=0.9)
    assert len(huge.chunk.text) > 100_000
    window, max_new = 1024, 200
    plan = build_prompt("When was the tower repainted?", [huge, *HITS],
                        count_tokens=smollm2.count_tokens, window=window, max_new_tokens=max_new)
    prompt_tokens = smollm2.count_tokens(smollm2.format_prompt(plan.messages))
    assert prompt_tokens + max_new <= window
    assert prompt_tokens > window // 2  # the room was used, not thrown away
    assert plan.truncated and plan.hits == [huge]  # the rest no longer fit
    assert "[1] (huge.txt, page 1) The tower was repainted in 2019." in plan.messages[-1]["content"]
    assert plan.messages[-1]["content"].endswith("Question: When was the tower repainted?")


def test_max_prompt_tokens_caps_the_context_below_the_window(smollm2):
    long_hits = [Hit(Chunk(f"{i}", "word " * 400, f"kb/{i}.txt", None, 0), 1.0, relevance=0.5)
                 for i in range(5)]
    plan = build_prompt("What word?", long_hits, count_tokens=smollm2.count_tokens,
                        window=smollm2.context_window, max_new_tokens=64, max_prompt_tokens=900)
    assert smollm2.count_tokens(smollm2.format_prompt(plan.messages)) <= 900
    assert 1 <= len(plan.hits) < 5


def test_a_window_too_small_for_the_answer_budget_is_refused_with_advice():
    with pytest.raises(GenerationError, match="max_new_tokens"):
        build_prompt("How tall?", HITS, count_tokens=_count_words, window=256,
                     max_new_tokens=250)


def test_the_models_chat_template_is_used_and_base_models_get_a_plain_transcript(
        smollm2, monkeypatch):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"}]
    templated = smollm2.format_prompt(messages)
    assert "<|im_start|>user\nHi?<|im_end|>" in templated
    assert templated.rstrip().endswith("<|im_start|>assistant")
    monkeypatch.setattr(smollm2.tokenizer, "chat_template", None)
    plain = smollm2.format_prompt(messages)
    assert plain == render_plain(messages) == "System: Be brief.\n\nUser: Hi?\n\nAssistant:"


@pytest.mark.parametrize("text, expected", [
    ("I don't know based on the provided documents.", True),
    ("I don’t know.", True),
    ("根据提供的文档无法回答该问题。", True),
    ("根据资料无法回答该问题。", True),
    ("The context does not say who painted it.", True),
    ("", True),
    ("unanswerable", True),
    ("Unanswerable.", True),
    ("无法回答", True),
    ("The tower is 330 metres tall [1].", False),
    ("answerable questions", False),
    ("电池续航 12 小时 [1]。", False),
    ("Nobody knows who I don't know is [2].", False),
])
def test_recognises_the_abstention_phrases(text, expected):
    assert is_abstention(text) is expected
