"""Explained answers: one to five sentences for a "why" or "how", each shown once it is
checked against its passage (`generation.explain`).

    explainer = Explainer(lambda: backend, settings)
    stream = explainer.explain(asked, factoid=reader.answer)   # a generator of shown text
    answer = (yield from stream)                                # then the Answer

The LLM writes from sentence-bounded windows around the question's words; a sentence whose
claim no passage makes (the trained claim checker, or word overlap) is dropped. When nothing
written holds, the best evidence is quoted, or the reader's short span is the answer; with
neither, the question is declined.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from contextlib import closing

from generation.abstention import answer_signals
from generation.backends.base import LLMBackend
from generation.citations import citation
from generation.explain.claims import ClaimChecker
from generation.explain.extract import EXPLAIN_COVER, extract_explanation
from generation.explain.form import asks_for_clause
from generation.explain.scorer import SentenceScores
from generation.explain.support import identifiers
from generation.explain.writer import (
    SentenceSplitter,
    check_sentence,
    quoted_evidence,
    shown_text,
)
from generation.policy import Asked
from generation.prompts import ABSTAIN, build_prompt, is_abstention
from generation.settings import GenerationSettings
from generation.types import Answer, AnswerSentence, FoundExplanation, Timings
from generation.windows import Window, select_windows

# The extractive reader (`ExtractiveAnswerer.answer`): the short answer of the question's
# windows, or of the given ones; called with `may_decline=False` it never declines a span.
Factoid = Callable[..., Answer]


def sentence_windows(shown: list[AnswerSentence], hits: list) -> list[Window]:
    """The passage the shown sentences come from (first to last, per hit), for the reader to
    choose the answer from with its context (a question that expects a sentence: its answer
    is among those that explain)."""
    bounds: dict[int, tuple[int, int]] = {}
    for sentence in shown:
        text = hits[sentence.n - 1].chunk.text
        at = text.find(sentence.text)
        if at < 0:  # a sentence rejoined from its line (Chinese spaces) is not a slice
            continue
        lo, hi = bounds.get(sentence.n - 1, (at, at + len(sentence.text)))
        bounds[sentence.n - 1] = min(lo, at), max(hi, at + len(sentence.text))
    return [Window(rank, lo, hi, hits[rank].chunk.text[lo:hi], 0.0)
            for rank, (lo, hi) in bounds.items()]


class Explainer:
    """`score`: the trained sentence scorer (`generation.explain.scorer`) that picks the
    extracted sentences; None (no extractive reader): the best window's sentences. `claims`:
    the trained claim checker of written sentences (`generation.explain.claims`); None: word
    overlap from `settings.support_threshold`."""

    def __init__(self, llm: Callable[[], LLMBackend], settings: GenerationSettings,
                 score: SentenceScores | None = None, claims: ClaimChecker | None = None
                 ) -> None:
        self._llm, self.settings, self._score, self._claims = llm, settings, score, claims

    def explain(self, asked: Asked, factoid: Factoid | None,
                found: FoundExplanation | None = None) -> Generator[str, None, Answer]:
        """Shown text as each sentence is checked; returns the Answer. `factoid` reads the
        short span that goes with the explanation (None: no extractive reader); `found`: the
        extracted explanation already looked for (`find`), shown as it is."""
        if self.settings.extracts_explanations:
            shown = self.find(asked).sentences if found is None else found.sentences
            return (yield from self._extracted(asked, factoid, shown))
        return (yield from self._written(asked, factoid))

    def find(self, asked: Asked, cover: float = EXPLAIN_COVER, sure: float | None = None
             ) -> FoundExplanation:
        """The extracted explanation of `asked`'s hits, in a window that holds `cover` of the
        question's content (or less, when the scorer is `sure` of a sentence in it:
        `extract_explanation`); it explains the question when its passages hold the
        identifiers the question as asked names ("DataRecorder", "cn2an": its other words may
        be matched by a document about something else)."""
        shown = extract_explanation(asked.standalone, asked.hits,
                                    from_hits=self.settings.window_hits,
                                    max_sentences=self.settings.explain_max_sentences,
                                    cover=cover, score=self._score, sure=sure)
        cited = " ".join(asked.hits[n - 1].chunk.text for n in {s.n for s in shown}).lower()
        names = identifiers(asked.question)
        return FoundExplanation(shown, bool(shown) and all(n.lower() in cited for n in names))

    def _extracted(self, asked: Asked, factoid: Factoid | None, shown: list[AnswerSentence]
                   ) -> Generator[str, None, Answer]:
        """The documents' own explaining sentences (`generation.explain.extract`)."""
        lang = asked.lang
        first_ms = asked.elapsed_ms() if shown else None
        for i, sentence in enumerate(shown):
            yield ("" if i == 0 or lang == "zh" else " ") + shown_text(sentence, lang)
        signals = answer_signals(asked.standalone, asked.hits, asked.hits, None,
                                 declined=not shown, mean_logprob=None, lang=lang)
        signals["shown_sentences"] = float(len(shown))
        return (yield from self._finish(asked, factoid, shown, signals, None, first_ms))

    def _written(self, asked: Asked, factoid: Factoid | None
                 ) -> Generator[str, None, Answer]:
        """Sentences the LLM writes, each shown once its passage supports it."""
        g, llm = self.settings, self._llm()
        question, standalone, hits, lang = asked.question, asked.standalone, asked.hits, \
            asked.lang
        windows = select_windows(standalone, hits, count=g.explain_windows,
                                 max_chars=g.window_chars, from_hits=g.window_hits)
        plan = build_prompt(question, hits, windows=windows, count_tokens=llm.count_tokens,
                            window=llm.context_window, max_new_tokens=g.explain_max_new_tokens,
                            max_prompt_tokens=g.max_prompt_tokens, explained=True)
        params = g.decoding.model_copy(update={"max_new_tokens": g.explain_max_new_tokens})
        splitter, shown, checks = SentenceSplitter(), [], []
        first_ms = None
        with closing(llm.stream(plan.messages, params)) as decoded:
            def written_sentences():
                for piece in decoded:
                    yield from splitter.feed(piece)
                yield from splitter.flush()

            # One check per sentence as it ends; decoding stops once enough are shown.
            for written in written_sentences():
                if len(shown) >= g.explain_max_sentences:
                    break
                checks.append(check_sentence(
                    written, plan.windows, hits, standalone,
                    g.support_threshold if self._claims is None else self._claims.threshold,
                    self._claims))
                sentence = checks[-1].sentence
                if sentence is None or any(s.text == sentence.text for s in shown):
                    continue
                if first_ms is None:
                    first_ms = asked.elapsed_ms()
                yield ("" if not shown or lang == "zh" else " ") + shown_text(sentence, lang)
                shown.append(sentence)
        written = decoded.text()
        declined = is_abstention(written)
        signals = answer_signals(standalone, hits, hits, None, declined=declined,
                                 mean_logprob=None, lang=lang)
        signals["written_sentences"] = float(len(checks))
        signals["shown_sentences"] = float(len(shown))
        quote = None if shown or declined else quoted_evidence(standalone, hits, g.window_hits)
        if quote is not None:
            # Nothing written held, but the documents are about the question: quote them
            # (bench/explained.py: key-point recall 52% quoting, 48% with the span instead).
            shown.append(quote)
            yield shown_text(quote, lang)
        return (yield from self._finish(asked, factoid, shown, signals, written, first_ms))

    def _finish(self, asked: Asked, factoid: Factoid | None,
                shown: list, signals: dict, written: str | None, first_ms: float | None
                ) -> Generator[str, None, Answer]:
        """The Answer of the shown sentences; with none, the reader's span or a decline."""
        question, standalone, hits, lang = asked.question, asked.standalone, asked.hits, \
            asked.lang
        # The reader's short span, when it is sure of one: kept with the explanation (a
        # "why" asked of a benchmark is scored on it), or the answer when nothing is shown.
        short = None
        explaining = sentence_windows(shown, hits) \
            if factoid is not None and asks_for_clause(standalone) else []
        if explaining:
            short = factoid(asked, explaining, may_decline=True)
        if factoid is not None and (short is None or short.abstained):
            # The question's own windows: with nothing shown, the short answer is the answer
            # and is declined as a short question's is; else only a sure one joins the
            # explanation (the reader's pick among the shown sentences comes next).
            short = factoid(asked, None, may_decline=None if not shown else True)
        if explaining and shown and (short is None or short.abstained):
            # A question that expects a clause gets the shown sentence the reader reads as
            # its answer even when unsure, marked uncertain: the explanation is shown either
            # way (bench/longdocs tune: the whole explanation was its answer; F1 36.1 -> 38.6).
            short = factoid(asked, explaining, may_decline=False)
        if short is not None and short.abstained:
            short = None
        if not shown and short is not None:
            yield short.text
            return short
        total = asked.elapsed_ms()
        timings = Timings(asked.retrieve_ms, first_ms if first_ms is not None else total, total)
        common = dict(question=question, timings=timings, hits=hits,
                      standalone_question=standalone, signals=signals, proposed=written,
                      form="explained")
        if not shown:
            yield ABSTAIN[lang]
            return Answer(text=ABSTAIN[lang], abstained=True, citations=[], confidence=None,
                          **common)
        cited = sorted({s.n for s in shown})
        if short is not None:
            common.update(short=short.short, evidence=short.evidence, uncertain=short.uncertain)
        return Answer(text=("" if lang == "zh" else " ").join(shown_text(s, lang)
                                                               for s in shown),
                      abstained=False, sentences=shown,
                      confidence=None if short is None else short.confidence,
                      citations=[citation(n, hits[n - 1]) for n in cited], **common)
