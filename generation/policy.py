"""The last step of every answer: a span and its signals become an Answer, or a decline.

    policy = AbstentionPolicy(settings, NoAnswerModel.load(NO_ANSWER_MODELS["extractive"]))
    asked = Asked("How tall is the tower?", "How tall is the tower?", hits, "en", 12.0, t0)
    policy.conclude(asked, span, signals, proposed="330 metres")   # an Answer with a citation

`passes_gate` is the relevance gate before any reader runs (no hit relevant enough: decline
without reading); `conclude` asks the no-answer model how likely the span is right and
declines at the language's threshold, marks an answer uncertain above the second one, and
otherwise quotes the sentence around the span with its [n].
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from generation.abstention import NoAnswerModel
from generation.citations import citation
from generation.prompts import ABSTAIN
from generation.settings import GenerationSettings
from generation.spans import Span, evidence_bounds, quote_evidence
from generation.types import Answer, Evidence, ShortAnswer, Timings
from generation.windows import Window
from retrieval.types import Hit


@dataclass(frozen=True)
class Asked:
    """One question on its way through the engine: as asked, as searched (a follow-up made
    standalone, or translated), its hits and language, and when it started."""

    question: str
    standalone: str
    hits: list[Hit]
    lang: str
    retrieve_ms: float
    start: float  # time.perf_counter() when the question came

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.start) * 1000


class AbstentionPolicy:
    """The relevance gate and the answer-or-decline decision (see the module docstring)."""

    def __init__(self, settings: GenerationSettings, no_answer_model: NoAnswerModel) -> None:
        self.settings = settings
        self.no_answer_model = no_answer_model

    def passes_gate(self, hits: list[Hit]) -> bool:
        """Some hit is relevant enough to read (relevance unknown, as in BM25 mode, passes)."""
        if not hits:
            return False
        floor = self.settings.min_relevance
        if floor is None:
            return True
        return any(h.relevance is None or h.relevance >= floor for h in hits)

    def gated(self, asked: Asked) -> Answer:
        """The decline of a question whose hits did not pass the gate."""
        return Answer(question=asked.question, text=ABSTAIN[asked.lang], abstained=True,
                      citations=[], confidence=None,
                      timings=Timings(asked.retrieve_ms, None, asked.elapsed_ms()),
                      hits=asked.hits, standalone_question=asked.standalone)

    def conclude(self, asked: Asked, span: Span | None, signals: dict[str, float],
                 timings: Timings, *, proposed: str, may_decline: bool = True) -> Answer:
        """Declines, or answers `span` (a span of `asked.hits[span.passage]`) quoting its
        sentence. `may_decline=False`: only without a span (the answer is then marked
        uncertain where it would have been declined)."""
        lang, hits = asked.lang, asked.hits
        confidence = self.no_answer_model.prob_right(signals)
        threshold = self.settings.threshold_for(lang, self.no_answer_model.threshold)
        common = dict(question=asked.question, confidence=confidence, timings=timings,
                      hits=hits, standalone_question=asked.standalone, signals=signals,
                      proposed=proposed)
        declines = threshold is not None and 1.0 - confidence >= threshold
        if span is None or (may_decline and declines):
            return Answer(text=ABSTAIN[lang], abstained=True, citations=[], **common)
        mark = self.settings.uncertain_for(lang, self.no_answer_model.uncertain)
        common["uncertain"] = declines or (mark is not None and 1.0 - confidence >= mark)
        chunk, n = hits[span.passage].chunk, span.passage + 1
        left, right = evidence_bounds(chunk.text, span.start, span.end)
        quote = quote_evidence(chunk.text, left, right)
        return Answer(
            text=f"{quote} [{n}]", abstained=False,
            citations=[citation(n, hits[span.passage])],
            short=ShortAnswer(text=span.text, n=n, chunk_id=chunk.chunk_id, start=span.start,
                              end=span.end, match=span.match),
            evidence=Evidence(n=n, source=chunk.source, page=chunk.page, chunk_id=chunk.chunk_id,
                              start=left, end=right, text=quote),
            **common)


def in_hit(span: Span, window: Window) -> Span:
    """`span`, found in `window`, as a span of the hit the window was cut from."""
    return replace(span, passage=window.rank, start=window.start + span.start,
                   end=window.start + span.end)
