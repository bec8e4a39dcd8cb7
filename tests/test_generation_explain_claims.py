"""The claim checker of written explanations: a sentence made of a passage's words in another
relation than the passage states (two claims joined, a swapped subject) is dropped where word
overlap let it through (the shipped model, and the engine's written path with a scripted LLM)."""

from __future__ import annotations

from generation_fixtures import FixedRetriever, ScriptedLLM

from generation import AnswerEngine, GenerationSettings
from generation.explain.claims import ClaimChecker, ClaimModel
from generation.explain.support import support
from ingest.core.types import Chunk
from retrieval.types import Hit

PIPELINE = ("Quality filtering scores every document with a small classifier. Documents that "
            "score below 0.35 are dropped before training. The classifier was trained on "
            "encyclopedia pages as positives. Deduplication then removes near copies of the "
            "same page. Knowledge distillation trains the small model from the large teacher "
            "model. The student model needs about 1.2 GB of memory on a laptop.")
JOINED = "Quality filtering trains the small model from the large teacher model."
TRUE = "Knowledge distillation trains the small model from the large teacher model."


def test_a_sentence_joining_two_claims_of_its_passage_is_not_made_by_it():
    checker = ClaimChecker(ClaimModel.load())
    # Word overlap cannot tell them apart: every word of both is in the passage.
    assert support(JOINED, PIPELINE).holds() and support(TRUE, PIPELINE).holds()
    assert checker(TRUE, PIPELINE) >= checker.threshold > checker(JOINED, PIPELINE)
    # A reworded true sentence still holds; one that invents its claim does not.
    assert checker("Documents scoring below 0.35 are dropped before training.",
                   PIPELINE) >= checker.threshold
    assert checker("The classifier was trained on legal contracts from the web.",
                   PIPELINE) < checker.threshold
    zh = ("质量过滤给每篇文档打分。得分低于 0.35 的文档被丢弃。去重删除近似重复的网页。"
          "知识蒸馏用大模型训练小模型。")
    assert checker("质量过滤用大模型训练小模型。", zh) < checker.threshold
    assert checker("知识蒸馏用大模型训练小模型。", zh) >= checker.threshold


def test_the_written_path_drops_a_joined_claim_that_word_overlap_would_show():
    hits = [Hit(Chunk("pipeline.md#0", PIPELINE, "kb/pipeline.md", None, 0), 0.9,
                relevance=0.7)]
    reply = f"{TRUE} [1] {JOINED} [1]"

    def answer(**settings):
        return AnswerEngine(FixedRetriever(hits), ScriptedLLM(reply), GenerationSettings(
            answer_form="explained", reader="llm", explanation="written", **settings)
        ).ask("How is the small model trained?")

    checked = answer().sentences
    assert [s.text for s in checked] == [TRUE]
    # Shown with the share of its words in the passage (the UI's "…% of this sentence is in
    # the passage"), not the checker's probability.
    assert checked[0].support == support(TRUE, PIPELINE).score == 1.0
    assert [s.text for s in answer(support_check="overlap").sentences] == [TRUE, JOINED]


def test_the_shipped_model_beats_word_overlap_on_held_out_claims():
    model = ClaimModel.load()
    assert model.threshold is not None and 0 < model.threshold < 1
    for held in model.provenance["held_out"].values():
        assert held["auc"] > held["auc_overlap_alone"] + 0.1

