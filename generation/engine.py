"""AnswerEngine: question -> (rewrite) -> retrieve -> relevance gate -> prompt -> LLM -> Answer.

    >>> engine = AnswerEngine(retriever, llm, GenerationSettings(max_new_tokens=128))
    >>> for item in engine.stream("How tall is the tower?"):
    ...     if isinstance(item, str):
    ...         print(item, end="", flush=True)     # text as it is decoded
    ...     else:
    ...         answer = item                       # the final Answer comes last
    >>> answer.abstained, [c.n for c in answer.citations], answer.timings.first_token_ms
    (False, [1], 640.2)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from generation.citations import map_citations
from generation.llm import LLMBackend, mean_logprob_to_confidence
from generation.prompts import (
    ABSTAIN,
    PromptPlan,
    build_prompt,
    copies_example,
    is_abstention,
)
from generation.rewrite import rewrite_question
from generation.settings import GenerationSettings
from generation.types import Answer, Generation, Timings
from ingest.text import detect_language
from retrieval.types import Hit, Retriever

History = list[tuple[str, str]]  # (question, answer_text) pairs, oldest first


class AnswerEngine:
    """Answers questions from a retriever's passages with an LLM, citing them.

    `settings` (a `GenerationSettings`, validated when it was made):
    - `min_relevance`: when no hit has `Hit.relevance >= min_relevance` the engine abstains
      without calling the LLM (hits whose relevance is unknown, as in BM25 mode, always pass);
    - `few_shot`: two example turns (one answered with a citation, one declined) before the
      question; on the sample KB they made the 0.5B model cite and answer far more often;
    - `rewrite`: how follow-ups become standalone questions ("llm", "heuristic" or "off");
    - the decoding fields, `max_prompt_tokens` and `batch_size` (prompts per batch on a GPU).
    The retriever decides how many passages come back (its own `k`).
    """

    def __init__(self, retriever: Retriever, llm: LLMBackend,
                 settings: GenerationSettings | None = None) -> None:
        settings = settings or GenerationSettings()
        self.retriever = retriever
        self.llm = llm
        self.settings = settings
        self.decoding = settings.decoding
        self.min_relevance = settings.min_relevance
        self.few_shot = settings.few_shot
        self.rewrite = settings.rewrite
        self.max_prompt_tokens = settings.max_prompt_tokens
        self.batch_size = settings.batch_size

    def ask(self, question: str, history: History | None = None) -> Answer:
        """The complete Answer (the stream, consumed)."""
        answer = None
        for item in self.stream(question, history):
            answer = item
        assert isinstance(answer, Answer)
        return answer

    def stream(self, question: str, history: History | None = None) -> Iterator[str | Answer]:
        """Text pieces as the LLM decodes them, then the final Answer as the last item."""
        start = time.perf_counter()
        standalone, hits, retrieve_ms = self._retrieve(question, history)
        lang = detect_language(question)
        if not self._passes_gate(hits):
            yield ABSTAIN[lang]
            yield self._gated(question, standalone, hits, lang, retrieve_ms, start)
            return
        plan = self._plan(question, hits)
        generation = None
        emitted: list[str] = []
        held = ""  # whitespace held back: the answer must neither start nor end with it
        for item in self.llm.stream(plan.messages, self.decoding):
            if isinstance(item, Generation):
                generation = item
                continue
            piece = held + item
            if not emitted:
                piece = piece.lstrip()
            body = piece.rstrip()
            held = piece[len(body):]
            if body:
                emitted.append(body)
                yield body
        assert generation is not None, "an LLM backend's stream must end with a Generation"
        first_ms = None if generation.first_token_ms is None else \
            retrieve_ms + generation.first_token_ms
        text = "".join(emitted) if emitted else generation.text
        yield self._answer(question, standalone, hits, plan, generation, retrieve_ms, first_ms,
                           start, text=text)

    def ask_many(self, questions: list[str],
                 progress: Callable[[int, int], None] | None = None) -> list[Answer]:
        """Answers in input order; prompts go to the LLM in batches where batching pays."""
        if not self.llm.prefers_batching:
            answers = []
            for i, q in enumerate(questions):
                answers.append(self.ask(q))
                if progress:
                    progress(i + 1, len(questions))
            return answers
        results: list[Answer | None] = [None] * len(questions)
        for lo in range(0, len(questions), self.batch_size):
            chunk = range(lo, min(lo + self.batch_size, len(questions)))
            pending: list[tuple[int, PromptPlan, str, float, float]] = []
            hits_of: dict[int, list[Hit]] = {}
            for i in chunk:
                start = time.perf_counter()
                standalone, hits, retrieve_ms = self._retrieve(questions[i], None)
                hits_of[i] = hits
                if self._passes_gate(hits):
                    pending.append((i, self._plan(questions[i], hits), standalone, retrieve_ms,
                                    start))
                else:
                    results[i] = self._gated(questions[i], standalone, hits,
                                             detect_language(questions[i]), retrieve_ms, start)
            gens = self.llm.generate_batch([p[1].messages for p in pending], self.decoding)
            for (i, plan, standalone, retrieve_ms, start), gen in zip(pending, gens, strict=True):
                # A batch has no per-question first token: report when the batch's began.
                first_ms = None if gen.first_token_ms is None else retrieve_ms + gen.first_token_ms
                results[i] = self._answer(questions[i], standalone, hits_of[i], plan, gen,
                                          retrieve_ms, first_ms, start, text=gen.text)
            if progress:
                progress(chunk.stop, len(questions))
        return [a for a in results if a is not None]

    # -- steps ------------------------------------------------------------------------------
    def _retrieve(self, question: str, history: History | None) -> tuple[str, list[Hit], float]:
        t0 = time.perf_counter()
        standalone = question
        if history and self.rewrite != "off":
            standalone = rewrite_question(question, history,
                                          llm=self.llm if self.rewrite == "llm" else None)
        hits = self.retriever.retrieve(standalone)
        return standalone, hits, (time.perf_counter() - t0) * 1000

    def _passes_gate(self, hits: list[Hit]) -> bool:
        if not hits:
            return False
        if self.min_relevance is None:
            return True
        return any(h.relevance is None or h.relevance >= self.min_relevance for h in hits)

    def _plan(self, question: str, hits: list[Hit]) -> PromptPlan:
        return build_prompt(question, hits, count_tokens=self.llm.count_tokens,
                            window=self.llm.context_window,
                            max_new_tokens=self.decoding.max_new_tokens,
                            few_shot=self.few_shot, max_prompt_tokens=self.max_prompt_tokens)

    def _gated(self, question: str, standalone: str, hits: list[Hit], lang: str,
               retrieve_ms: float, start: float) -> Answer:
        total = (time.perf_counter() - start) * 1000
        return Answer(question=question, text=ABSTAIN[lang], abstained=True, citations=[],
                      confidence=None, timings=Timings(retrieve_ms, None, total), hits=hits,
                      standalone_question=standalone)

    def _answer(self, question: str, standalone: str, hits: list[Hit], plan: PromptPlan,
                gen: Generation, retrieve_ms: float, first_ms: float | None, start: float, *,
                text: str) -> Answer:
        # `plan.hits` is the prefix of `hits` that fitted the prompt, so [n] is hits[n - 1].
        abstained = is_abstention(text) or copies_example(text, [h.text for h in plan.hits])
        citations = [] if abstained else map_citations(text, plan.hits)
        total = (time.perf_counter() - start) * 1000
        return Answer(question=question, text=text, abstained=abstained,
                      citations=citations, confidence=mean_logprob_to_confidence(gen.mean_logprob),
                      timings=Timings(retrieve_ms, first_ms, total), hits=hits,
                      standalone_question=standalone)
