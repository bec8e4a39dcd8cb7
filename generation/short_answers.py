"""The two readers of a short answer, behind one protocol: `answer(asked) -> Answer`.

    reader = ExtractiveAnswerer(ExtractiveReader.load(cache_dir), settings, policy)
    llm = LLMAnswerer(lambda: backend, settings, policy)
    reader.answer(asked)     # the best span of the evidence window, in milliseconds, no LLM
    llm.answer(asked)        # the LLM asked for the shortest phrase, found in the passages

Both end in `AbstentionPolicy.conclude`: the span (always verbatim from a hit) and the
signals the no-answer model reads.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from dataclasses import replace
from typing import Protocol

from generation.abstention import answer_signals, reader_signals
from generation.backends.base import LLMBackend
from generation.explain.extract import EXPLAIN_COVER
from generation.explain.form import asks_for_clause
from generation.explain.support import covered, question_units
from generation.policy import AbstentionPolicy, Asked, in_hit
from generation.prompts import PromptPlan, build_prompt, is_abstention
from generation.reader.decoding import span_text
from generation.reader.model import ExtractiveReader
from generation.settings import GenerationSettings
from generation.spans import Span, code_span, link_span, sentence_span, snap_to_passages
from generation.types import Answer, DecodingParams, Generation, Timings
from generation.windows import Window, select_windows, whole_hit
from ingest.core.text import has_cjk


class ShortAnswerer(Protocol):
    def answer(self, asked: Asked) -> Answer:
        """The short answer to `asked` from its hits, or a decline."""


class ExtractiveAnswerer:
    """The trained span reader (`generation.reader`) over the evidence window(s)."""

    def __init__(self, reader: ExtractiveReader, settings: GenerationSettings,
                 policy: AbstentionPolicy) -> None:
        self.reader, self.settings, self.policy = reader, settings, policy

    def answer(self, asked: Asked, windows: list[Window] | None = None, *,
               may_decline: bool | None = None) -> Answer:
        """The best span of `windows` (default: the question's evidence windows). The
        no-answer model declines it (`may_decline=True`) or only marks it uncertain (False);
        by default (None) it declines a factoid, and a question that expects a sentence only
        when the span's window holds less of the question than an explanation must
        (`held_by`)."""
        g = self.settings
        if not windows:
            windows = select_windows(asked.standalone, asked.hits, count=g.reader_windows,
                                     max_chars=g.reader_window_chars, from_hits=g.window_hits)
        texts = [w.text for w in windows]
        clause = asks_for_clause(asked.standalone)
        reading = self.reader.read(asked.standalone, texts, clause=clause)
        text, left, right = span_text(texts, reading)
        window_text = texts[reading.window] if text else ""
        span = None if not text else in_hit(
            link_span(window_text, code_span(window_text,
                                             Span(reading.window, left, right, text, 1.0))),
            windows[reading.window])
        signals = answer_signals(asked.standalone, asked.hits, asked.hits, span, declined=False,
                                 mean_logprob=None, lang=asked.lang) | reader_signals(reading)
        if may_decline is None:
            may_decline = not clause or span is None \
                or not held_by(asked.standalone, windows[reading.window].text)
        if span is not None and clause and not has_cjk(span.text):
            # The reader was trained on short spans; the no-answer model reads the span it
            # chose, the user gets its whole sentence (of an English passage: Chinese sets
            # mark the short clause).
            span = sentence_span(asked.hits[span.passage].chunk.text, span)
        total = asked.elapsed_ms()
        # The whole answer comes at once: its first token is its end.
        return self.policy.conclude(asked, span, signals,
                                    Timings(asked.retrieve_ms, total, total), proposed=text,
                                    may_decline=may_decline)


def held_by(question: str, text: str, cover: float = EXPLAIN_COVER) -> bool:
    """Whether `text` holds `cover` of the question's content units, as an explanation's
    window must. A question that expects a sentence is declined by this, not by the no-answer
    model, which was fitted on short spans of SQuAD and CMRC: it declined "What are pools
    used for?" (bench/longdocs tune) with the answer in its window."""
    units = question_units(question)
    return bool(units) and covered(units, text) >= cover


class LLMAnswerer:
    """The LLM asked for the shortest exact phrase of the passages; what it writes is found
    in them (`generation.spans`). `llm` returns the backend (loaded when first needed)."""

    def __init__(self, llm: Callable[[], LLMBackend], settings: GenerationSettings,
                 policy: AbstentionPolicy) -> None:
        self._llm, self.settings, self.policy = llm, settings, policy

    def answer(self, asked: Asked) -> Answer:
        plan = self.plan(asked.question, asked.hits)
        with closing(self._llm().stream(plan.messages, self.decoding(plan))) as decoded:
            generation = decoded.result()
        first_ms = None if generation.first_token_ms is None else \
            asked.retrieve_ms + generation.first_token_ms
        text = decoded.text().strip() or generation.text
        return self.grounded(asked, plan, generation, first_ms, text=text)

    def answer_many(self, asked: list[Asked]) -> list[Answer]:
        """The answers to several questions, their prompts decoded as one batch where the
        backend batches (constrained grounding decodes one prompt at a time)."""
        plans = [self.plan(a.question, a.hits) for a in asked]
        llm = self._llm()
        gens = [llm.generate(p.messages, self.decoding(p)) for p in plans] \
            if self.settings.grounding == "constrained" else \
            llm.generate_batch([p.messages for p in plans], self.settings.decoding)
        # A batch has no per-question first token: report when the batch's began.
        return [self.grounded(a, p, gen, None if gen.first_token_ms is None
                              else a.retrieve_ms + gen.first_token_ms, text=gen.text)
                for a, p, gen in zip(asked, plans, gens, strict=True)]

    def plan(self, question: str, hits) -> PromptPlan:
        g, llm = self.settings, self._llm()
        if g.evidence == "windows":
            windows = select_windows(question, hits, count=g.window_count,
                                     max_chars=g.window_chars, from_hits=g.window_hits)
        else:
            windows = [whole_hit(rank, hit) for rank, hit in
                       enumerate(hits[:g.context_passages])]
        return build_prompt(question, hits, windows=windows, count_tokens=llm.count_tokens,
                            window=llm.context_window, max_new_tokens=g.max_new_tokens,
                            few_shot=g.few_shot, max_prompt_tokens=g.max_prompt_tokens)

    def decoding(self, plan: PromptPlan) -> DecodingParams:
        """The decoding settings; with constrained grounding, the passages to copy from."""
        if self.settings.grounding != "constrained":
            return self.settings.decoding
        return self.settings.decoding.model_copy(
            update={"copy_from": tuple(w.text for w in plan.windows)})

    def grounded(self, asked: Asked, plan: PromptPlan, gen: Generation,
                 first_ms: float | None, *, text: str) -> Answer:
        # Passage [n] of the prompt is plan.windows[n - 1], a slice of hits[window.rank]: the
        # span found in a window is moved to its hit, whose number the answer cites.
        asked = replace(asked, lang=plan.lang)
        declined = is_abstention(text)
        in_window = None if declined else snap_to_passages(text, [w.text for w in plan.windows])
        span = None if in_window is None else in_hit(in_window,
                                                     plan.windows[in_window.passage])
        signals = answer_signals(asked.standalone, asked.hits, asked.hits, span,
                                 declined=declined, mean_logprob=gen.mean_logprob,
                                 lang=plan.lang)
        timings = Timings(asked.retrieve_ms, first_ms, asked.elapsed_ms())
        return self.policy.conclude(asked, span, signals, timings, proposed=text)
