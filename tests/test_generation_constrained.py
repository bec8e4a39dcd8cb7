"""Constrained decoding: a real model can only copy a passage substring (or decline)."""

from __future__ import annotations

import pytest
from generation_fixtures import HITS, FixedRetriever, llm_settings

from generation import AnswerEngine, DecodingParams
from generation.backends.constrained import SubstringConstraint

PASSAGE = "The Eiffel Tower is 330 metres tall and was completed in 1889."


class _CharTokenizer:
    """One token per character (id = code point): enough to drive the constraint's rule."""

    def decode(self, ids, skip_special_tokens=True):
        return "".join(chr(i) for i in ids if i > 0)


def _kept(constraint, written: str, candidates: str) -> set[str]:
    import torch

    ids = torch.tensor([[ord(c) for c in "PROMPT" + written]])
    scores = torch.full((1, 0x10000), -1e9)
    for rank, c in enumerate(candidates):
        scores[0, ord(c)] = 10.0 - rank
    out = constraint(ids, scores)
    return {chr(i) for i in torch.nonzero(out[0] > float("-inf")).flatten().tolist() if i > 0}


def test_only_tokens_that_keep_the_answer_a_passage_substring_survive():
    # Of the 4 likeliest tokens (the candidates, best first), those that still copy survive.
    constraint = SubstringConstraint(_CharTokenizer(), prompt_length=6, texts=[PASSAGE],
                                     stop_ids=[0], top_k=4)
    assert _kept(constraint, "330 me", "txyz") == {"t"}
    assert _kept(constraint, "", "3Tqu") == {"3", "T", "u"}  # "u": a prefix of "unanswerable"
    assert constraint.allows("330 METRES") and constraint.allows("  completed in ")
    assert not constraint.allows("330 feet")
    assert constraint.allows("unans") and constraint.allows("无法")


def test_a_chinese_character_split_over_tokens_is_judged_when_whole():
    constraint = SubstringConstraint(_CharTokenizer(), 0, ["北海道狼于1889年灭绝。"], [0])
    assert constraint.allows("1889年灭") and not constraint.allows("1890年")
    assert constraint._fits([], ord("\ufffd"))  # an incomplete character: nothing judged yet


def test_smollm2_under_constraint_writes_a_verbatim_substring(smollm2):
    params = DecodingParams(max_new_tokens=16, copy_from=(PASSAGE,))
    messages = [{"role": "user", "content": f"{PASSAGE}\n\nHow tall is the Eiffel Tower? "
                 "Answer with a short phrase."}]
    text = smollm2.generate(messages, params).text
    assert text and " ".join(text.split()).lower() in PASSAGE.lower()


@pytest.mark.parametrize("question", ["How tall is the Eiffel Tower?", "埃菲尔铁塔有多高？"])
def test_the_engine_with_constrained_grounding_answers_from_the_passage(smollm2, question):
    engine = AnswerEngine(FixedRetriever(HITS), smollm2,
                          llm_settings(grounding="constrained", max_new_tokens=16,
                                             no_answer_threshold=None))
    answer = engine.ask(question)
    if not answer.abstained:
        assert answer.short.match == 1.0  # decoding copied, so grounding finds it exactly
        assert HITS[0].chunk.text[answer.short.start:answer.short.end] == answer.short.text
    assert answer.proposed is not None


def test_backends_that_cannot_constrain_say_so(smollm2_openvino):
    from generation.types import GenerationError

    with pytest.raises(GenerationError, match="transformers"):
        smollm2_openvino.generate([{"role": "user", "content": "hi"}],
                                  DecodingParams(max_new_tokens=4, copy_from=(PASSAGE,)))
