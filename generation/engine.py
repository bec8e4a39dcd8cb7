"""AnswerEngine: question -> (rewrite) -> retrieve -> relevance gate -> route -> read ->
abstain or answer, with citations. A short pipeline over its parts:

    engine = AnswerEngine(retriever, llm, GenerationSettings())
    stream = engine.stream("How tall is the tower?")
    for piece in stream:
        print(piece, end="", flush=True)        # text as it is shown
    answer = stream.result()                    # then the final Answer
    answer.short.text, answer.text, answer.confidence
    # ('330 metres', 'The tower is 330 metres tall. [1]', 0.91)

- the route (`generation.explain.form`): a factoid gets a short answer, a "why"/"how" an
  explained one (`answer_form`, or the setting);
- the short answer (`generation.short_answers`): the extractive reader by default, or the
  LLM; both give a verbatim span of a hit;
- the explained answer (`generation.explainer`): checked sentences written by the LLM;
- a declined factoid is asked again of the index's other languages
  (`generation.crosslingual.CrossLanguageFallback`, with the extractive reader);
- the relevance gate and the answer-or-decline step (`generation.policy`): a declined answer
  keeps its hits as the closest passages.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator

from generation.abstention import NO_ANSWER_MODELS, NoAnswerModel
from generation.backends.base import LLMBackend
from generation.crosslingual import CrossLanguageFallback, OtherLanguages
from generation.explain.claims import ClaimChecker, ClaimModel
from generation.explain.form import Form, answer_form
from generation.explain.scorer import SentenceModel, SentenceScorer
from generation.explainer import Explainer
from generation.policy import AbstentionPolicy, Asked
from generation.reader.model import ExtractiveReader
from generation.rewrite import rewrite_question
from generation.settings import GenerationSettings
from generation.short_answers import ExtractiveAnswerer, LLMAnswerer
from generation.types import Answer, Stream
from ingest.core.text import detect_language
from retrieval.types import Retriever

History = list[tuple[str, str]]  # (question, answer_text) pairs, oldest first


class AnswerEngine:
    """Answers questions from a retriever's passages, citing them.

    `settings` (`GenerationSettings`) chooses the reader, the answer form, the rewrite of
    follow-ups, the gate (`min_relevance`), the thresholds and the decoding. `llm` is a
    backend, or a function that loads one when it is first needed (the extractive reader
    answers factoids without it); `reader` the extractive reader (loaded here when the
    settings ask for it and none is given); `no_answer_model` defaults to the reader's shipped
    one; `other_languages` the index's languages and a retriever per language."""

    def __init__(self, retriever: Retriever, llm: LLMBackend | Callable[[], LLMBackend],
                 settings: GenerationSettings | None = None,
                 no_answer_model: NoAnswerModel | None = None,
                 reader: ExtractiveReader | None = None,
                 other_languages: OtherLanguages | None = None) -> None:
        settings = settings or GenerationSettings()
        if reader is None and settings.reader == "extractive":
            reader = ExtractiveReader.load(settings.model.cache_dir,
                                           threads=settings.model.threads)
        self.retriever, self.settings, self._llm = retriever, settings, llm
        self.policy = AbstentionPolicy(settings, no_answer_model or NoAnswerModel.load(
            NO_ANSWER_MODELS[settings.reader]))
        self.extractive = None if reader is None else ExtractiveAnswerer(reader, settings,
                                                                         self.policy)
        self.generative = LLMAnswerer(lambda: self.llm, settings, self.policy)
        self.explainer = Explainer(
            lambda: self.llm, settings,
            None if reader is None else SentenceScorer(reader.sentence_margins,
                                                       SentenceModel.load()),
            ClaimChecker(ClaimModel.load()) if settings.support_check == "claims" else None)
        self.fallback = None
        if other_languages is not None and settings.cross_language == "auto" \
                and reader is not None:
            self.fallback = CrossLanguageFallback(other_languages, lambda: self.llm,
                                                  self.policy.passes_gate,
                                                  self.extractive.answer)

    @property
    def llm(self) -> LLMBackend:
        """The LLM, loaded when an answer first needs it if it was given as a loader."""
        if not hasattr(self._llm, "generate"):
            self._llm = self._llm()
        return self._llm

    def ask(self, question: str, history: History | None = None) -> Answer:
        """The complete Answer (the stream, consumed)."""
        return self.stream(question, history).result()

    def stream(self, question: str, history: History | None = None) -> Stream[Answer]:
        """The answer's text; `.result()` is then the final Answer. A short answer comes as
        one piece once it is read and grounded; an explained one sentence by sentence, each
        once it is checked. Closing the stream early stops the decoding."""
        return Stream(self._stream(question, history))

    def _stream(self, question: str, history: History | None) -> Generator[str, None, Answer]:
        asked = self._retrieve(question, history, time.perf_counter())
        factoid = self._form(asked.standalone) == "short"
        gated = not self.policy.passes_gate(asked.hits)
        if gated:
            answer = self.policy.gated(asked)
        elif not factoid:
            factoid_reader = None if self.extractive is None else self.extractive.answer
            found = None
            if self.fallback is not None and self.settings.extracts_explanations:
                asked, found = self.fallback.for_explanation(asked, self.explainer.find)
            return (yield from self.explainer.explain(asked, factoid_reader, found))
        elif self.settings.reader == "extractive":
            answer = self.extractive.answer(asked)
        else:
            answer = self.generative.answer(asked)
        extractive = self.settings.reader == "extractive"
        if factoid and self.fallback is not None and (gated or extractive):
            answer = self.fallback.apply(answer, asked, compare=extractive and not gated)
        yield answer.text
        return answer

    def ask_many(self, questions: list[str],
                 progress: Callable[[int, int], None] | None = None) -> list[Answer]:
        """Answers in input order; prompts go to the LLM in batches where batching pays."""
        if self.settings.reader == "extractive" or self.settings.answer_form != "short" \
                or not self.llm.prefers_batching:
            answers = []
            for i, q in enumerate(questions):
                answers.append(self.ask(q))
                if progress:
                    progress(i + 1, len(questions))
            return answers
        results: list[Answer] = []
        for lo in range(0, len(questions), self.settings.batch_size):
            batch = [self._retrieve(q, None, time.perf_counter())
                     for q in questions[lo:lo + self.settings.batch_size]]
            passing = [a for a in batch if self.policy.passes_gate(a.hits)]
            read = iter(self.generative.answer_many(passing))
            results += [next(read) if self.policy.passes_gate(a.hits)
                        else self.policy.gated(a) for a in batch]
            if progress:
                progress(len(results), len(questions))
        return results

    def _retrieve(self, question: str, history: History | None, start: float) -> Asked:
        standalone = question
        if history and self.settings.rewrite != "off":
            llm = self.llm if self.settings.rewrite == "llm" else None
            standalone = rewrite_question(question, history, llm=llm)
        hits = self.retriever.retrieve(standalone)
        return Asked(question, standalone, hits, detect_language(question),
                     (time.perf_counter() - start) * 1000, start)

    def _form(self, question: str) -> Form:
        form = self.settings.answer_form
        return answer_form(question) if form == "auto" else form
