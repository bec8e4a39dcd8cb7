"""AnswerEngine: question -> (rewrite) -> retrieve -> relevance gate -> prompt -> LLM ->
grounding -> abstention -> Answer.

    engine = AnswerEngine(retriever, llm, GenerationSettings(max_new_tokens=128))
    stream = engine.stream("How tall is the tower?")
    for piece in stream:
        print(piece, end="", flush=True)        # text as it is decoded
    answer = stream.result()                    # then the final Answer
    answer.short.text, answer.text, answer.confidence
    # ('330 metres', 'The tower is 330 metres tall. [1]', 0.91)

The LLM is asked for the shortest phrase of the passages that answers the question. That
phrase is found in the passages (`generation.spans`): `Answer.short` is the verbatim span, and
`Answer.text` quotes the sentence around it with its [n]. An answer that is found in no
passage, that the model declined, or whose no-answer probability (`generation.abstention`)
reaches `no_answer_threshold` abstains, and keeps its hits as the closest passages.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from contextlib import closing
from dataclasses import replace

from generation.abstention import NO_ANSWER_MODELS, NoAnswerModel, answer_signals, reader_signals
from generation.backends.base import LLMBackend
from generation.citations import snippet
from generation.crosslingual import OtherLanguages, translate_question
from generation.explain.form import Form, answer_form
from generation.explain.writer import (
    SentenceSplitter,
    check_sentence,
    quoted_evidence,
    shown_text,
)
from generation.prompts import ABSTAIN, PromptPlan, build_prompt, is_abstention
from generation.reader.decoding import span_text
from generation.reader.model import ExtractiveReader
from generation.rewrite import rewrite_question
from generation.settings import GenerationSettings
from generation.spans import Span, evidence_bounds, quote_evidence, snap_to_passages
from generation.types import (
    Answer,
    Citation,
    DecodingParams,
    Evidence,
    Generation,
    ShortAnswer,
    Stream,
    Timings,
)
from generation.windows import Window, select_windows, whole_hit
from ingest.core.text import detect_language
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
    - `context_passages`: how many of the retrieved passages (best first) the prompt shows;
    - `no_answer_threshold`: abstain when the no-answer probability reaches it;
    - the decoding fields, `max_prompt_tokens` and `batch_size` (prompts per batch on a GPU).
    The retriever decides how many passages come back (its own `k`); all of them are kept on
    the Answer as the closest passages.
    `no_answer_model` defaults to the shipped one of the reader (`NO_ANSWER_MODELS`).
    `llm` is a backend, or a function that loads one when it is first needed; `reader` the
    extractive reader (`settings.reader = "extractive"`; loaded here when not given);
    `other_languages` the index's languages and a retriever per language, for questions whose
    answer is in a document of another language (`generation.crosslingual`).
    """

    def __init__(self, retriever: Retriever, llm: LLMBackend | Callable[[], LLMBackend],
                 settings: GenerationSettings | None = None,
                 no_answer_model: NoAnswerModel | None = None,
                 reader: ExtractiveReader | None = None,
                 other_languages: OtherLanguages | None = None) -> None:
        settings = settings or GenerationSettings()
        self.no_answer_model = no_answer_model or NoAnswerModel.load(
            NO_ANSWER_MODELS[settings.reader])
        if reader is None and settings.reader == "extractive":
            reader = ExtractiveReader.load(settings.model.cache_dir,
                                           threads=settings.model.threads)
        self.reader = reader
        self.retriever = retriever
        self._llm = llm
        self.settings = settings
        self.other_languages = other_languages if settings.cross_language == "auto" else None

    @property
    def llm(self) -> LLMBackend:
        """The LLM; given as a loader, it is loaded when an answer first needs it (the
        extractive reader answers factoid questions without it)."""
        if not hasattr(self._llm, "generate"):
            self._llm = self._llm()
        return self._llm

    def ask(self, question: str, history: History | None = None) -> Answer:
        """The complete Answer (the stream, consumed)."""
        return self.stream(question, history).result()

    def stream(self, question: str, history: History | None = None) -> Stream[Answer]:
        """The answer's text; `.result()` is then the final Answer.

        The text comes as one piece once the short answer is decoded and grounded (a short
        phrase takes a fraction of a second to decode; what the model wrote is not what is
        shown, so streaming its tokens would show text that then changes). Closing the
        stream early stops the decoding.
        """
        return Stream(self._stream(question, history))

    def _stream(self, question: str, history: History | None) -> Generator[str, None, Answer]:
        start = time.perf_counter()
        standalone, hits, retrieve_ms = self._retrieve(question, history)
        lang = detect_language(question)
        factoid = self._form(standalone) == "short"
        if not self._passes_gate(hits):
            answer = self._gated(question, standalone, hits, lang, retrieve_ms, start)
            if factoid:
                answer = self._across_languages(answer, lang, retrieve_ms, start)
            yield answer.text
            return answer
        if not factoid:
            return (yield from self._explain(question, standalone, hits, lang, retrieve_ms,
                                             start))
        if self.settings.reader == "extractive":
            answer = self._read(question, standalone, hits, lang, retrieve_ms, start)
            answer = self._across_languages(answer, lang, retrieve_ms, start)
            yield answer.text
            return answer
        plan = self._plan(question, hits)
        with closing(self.llm.stream(plan.messages, self._decoding(plan))) as decoded:
            generation = decoded.result()
        first_ms = None if generation.first_token_ms is None else \
            retrieve_ms + generation.first_token_ms
        text = decoded.text().strip() or generation.text
        answer = self._answer(question, standalone, hits, plan, generation, retrieve_ms,
                              first_ms, start, text=text)
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
        results: list[Answer | None] = [None] * len(questions)
        for lo in range(0, len(questions), self.settings.batch_size):
            chunk = range(lo, min(lo + self.settings.batch_size, len(questions)))
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
            gens = [self.llm.generate(p[1].messages, self._decoding(p[1])) for p in pending] \
                if self.settings.grounding == "constrained" else \
                self.llm.generate_batch([p[1].messages for p in pending], self.settings.decoding)
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
        if history and self.settings.rewrite != "off":
            standalone = rewrite_question(question, history,
                                          llm=self.llm if self.settings.rewrite == "llm" else None)
        hits = self.retriever.retrieve(standalone)
        return standalone, hits, (time.perf_counter() - t0) * 1000

    def _form(self, question: str) -> Form:
        form = self.settings.answer_form
        return answer_form(question) if form == "auto" else form

    def _explain(self, question: str, standalone: str, hits: list[Hit], lang: str,
                 retrieve_ms: float, start: float) -> Generator[str, None, Answer]:
        """One to five sentences, each shown once it is checked against its passage."""
        g = self.settings
        windows = select_windows(standalone, hits, count=g.explain_windows,
                                 max_chars=g.window_chars, from_hits=g.window_hits)
        plan = build_prompt(question, hits, windows=windows, count_tokens=self.llm.count_tokens,
                            window=self.llm.context_window,
                            max_new_tokens=g.explain_max_new_tokens,
                            max_prompt_tokens=g.max_prompt_tokens, explained=True)
        params = g.decoding.model_copy(update={"max_new_tokens": g.explain_max_new_tokens})
        splitter, shown, checks = SentenceSplitter(), [], []
        first_ms = None
        with closing(self.llm.stream(plan.messages, params)) as decoded:
            def written_sentences():
                for piece in decoded:
                    yield from splitter.feed(piece)
                yield from splitter.flush()

            # One check per sentence as it ends; decoding stops once enough are shown.
            for written in written_sentences():
                if len(shown) >= g.explain_max_sentences:
                    break
                checks.append(check_sentence(written, plan.windows, hits, standalone,
                                             g.support_threshold))
                sentence = checks[-1].sentence
                if sentence is None or any(s.text == sentence.text for s in shown):
                    continue
                if first_ms is None:
                    first_ms = (time.perf_counter() - start) * 1000
                yield ("" if not shown or lang == "zh" else " ") + shown_text(sentence, lang)
                shown.append(sentence)
        written = decoded.text()
        declined = is_abstention(written)
        signals = answer_signals(standalone, hits, hits, None, declined=declined,
                                 mean_logprob=None, lang=lang)
        signals["written_sentences"] = float(len(checks))
        signals["shown_sentences"] = float(len(shown))
        # The reader's short span, when it is sure of one: kept with the explanation (a
        # "why" asked of a benchmark is scored on it), or the answer when nothing written held.
        factoid = None if self.reader is None else self._read(question, standalone, hits, lang,
                                                              retrieve_ms, start)
        if factoid is not None and factoid.abstained:
            factoid = None
        quote = None if shown or declined else quoted_evidence(standalone, hits, g.window_hits)
        if quote is not None:
            # Nothing written held, but the documents are about the question: quote them
            # (bench/explained.py: key-point recall 52% quoting, 48% with the span instead).
            shown.append(quote)
            yield shown_text(quote, lang)
        elif not shown and factoid is not None:
            yield factoid.text
            return factoid
        total = (time.perf_counter() - start) * 1000
        timings = Timings(retrieve_ms, first_ms if first_ms is not None else total, total)
        common = dict(question=question, timings=timings, hits=hits,
                      standalone_question=standalone, signals=signals, proposed=written,
                      form="explained")
        if not shown:
            yield ABSTAIN[lang]
            return Answer(text=ABSTAIN[lang], abstained=True, citations=[], confidence=None,
                          **common)
        cited = sorted({s.n for s in shown})
        if factoid is not None:
            common.update(short=factoid.short, evidence=factoid.evidence,
                          uncertain=factoid.uncertain)
        return Answer(text=("" if lang == "zh" else " ").join(shown_text(s, lang)
                                                               for s in shown),
                      abstained=False, sentences=shown,
                      confidence=None if factoid is None else factoid.confidence,
                      citations=[_citation(n, hits[n - 1]) for n in cited], **common)

    def _across_languages(self, answer: Answer, lang: str, retrieve_ms: float,
                          start: float) -> Answer:
        """`answer`, or when it declined and the index holds documents in another language,
        the reader's answer to the question translated into that language, asked of those
        documents only (`generation.crosslingual`; the extractive reader answers)."""
        if not answer.abstained or self.other_languages is None or self.reader is None:
            return answer
        for target in self.other_languages.besides(lang):
            translated = translate_question(answer.standalone_question or answer.question,
                                            target, self.llm)
            if translated is None:
                continue
            hits = self.other_languages.retriever_for(target).retrieve(translated)
            if not self._passes_gate(hits):
                continue
            crossed = self._read(answer.question, translated, hits, target, retrieve_ms, start)
            if not crossed.abstained:
                return crossed
        return answer

    def _decoding(self, plan: PromptPlan) -> DecodingParams:
        """The decoding settings; with constrained grounding, the passages to copy from."""
        if self.settings.grounding != "constrained":
            return self.settings.decoding
        return self.settings.decoding.model_copy(
            update={"copy_from": tuple(w.text for w in plan.windows)})

    def _passes_gate(self, hits: list[Hit]) -> bool:
        if not hits:
            return False
        floor = self.settings.min_relevance
        if floor is None:
            return True
        return any(h.relevance is None or h.relevance >= floor for h in hits)

    def _plan(self, question: str, hits: list[Hit]) -> PromptPlan:
        g = self.settings
        if g.evidence == "windows":
            windows = select_windows(question, hits, count=g.window_count,
                                     max_chars=g.window_chars, from_hits=g.window_hits)
        else:
            windows = [whole_hit(rank, hit) for rank, hit in
                       enumerate(hits[:g.context_passages])]
        return build_prompt(question, hits, windows=windows, count_tokens=self.llm.count_tokens,
                            window=self.llm.context_window,
                            max_new_tokens=self.settings.max_new_tokens,
                            few_shot=self.settings.few_shot,
                            max_prompt_tokens=self.settings.max_prompt_tokens)

    def _gated(self, question: str, standalone: str, hits: list[Hit], lang: str,
               retrieve_ms: float, start: float) -> Answer:
        total = (time.perf_counter() - start) * 1000
        return Answer(question=question, text=ABSTAIN[lang], abstained=True, citations=[],
                      confidence=None, timings=Timings(retrieve_ms, None, total), hits=hits,
                      standalone_question=standalone)

    def _answer(self, question: str, standalone: str, hits: list[Hit], plan: PromptPlan,
                gen: Generation, retrieve_ms: float, first_ms: float | None, start: float, *,
                text: str) -> Answer:
        # Passage [n] of the prompt is plan.windows[n - 1], a slice of hits[window.rank]: the
        # span found in a window is moved to its hit, whose number the answer cites.
        declined = is_abstention(text)
        in_window = None if declined else snap_to_passages(text, [w.text for w in plan.windows])
        span = None if in_window is None else _in_hit(in_window, plan.windows[in_window.passage])
        signals = answer_signals(standalone, hits, hits, span, declined=declined,
                                 mean_logprob=gen.mean_logprob, lang=plan.lang)
        timings = Timings(retrieve_ms, first_ms, (time.perf_counter() - start) * 1000)
        return self._conclude(question, standalone, hits, span, signals, plan.lang, timings,
                              proposed=text)

    def _read(self, question: str, standalone: str, hits: list[Hit], lang: str,
              retrieve_ms: float, start: float) -> Answer:
        """The extractive reader's answer: the best span of the windows it reads."""
        g = self.settings
        windows = select_windows(standalone, hits, count=g.reader_windows,
                                 max_chars=g.reader_window_chars, from_hits=g.window_hits)
        texts = [w.text for w in windows]
        reading = self.reader.read(standalone, texts)
        text, left, right = span_text(texts, reading)
        span = None if not text else _in_hit(Span(reading.window, left, right, text, 1.0),
                                             windows[reading.window])
        signals = answer_signals(standalone, hits, hits, span, declined=False, mean_logprob=None,
                                 lang=lang) | reader_signals(reading)
        total = (time.perf_counter() - start) * 1000
        # The whole answer comes at once: its first token is its end.
        return self._conclude(question, standalone, hits, span, signals, lang,
                              Timings(retrieve_ms, total, total), proposed=text)

    def _conclude(self, question: str, standalone: str, hits: list[Hit], span: Span | None,
                  signals: dict[str, float], lang: str, timings: Timings, *,
                  proposed: str) -> Answer:
        """Abstains, or answers `span` (a span of `hits[span.passage]`) quoting its sentence."""
        confidence = self.no_answer_model.prob_right(signals)
        threshold = self.settings.threshold_for(lang, self.no_answer_model.threshold)
        common = dict(question=question, confidence=confidence, timings=timings, hits=hits,
                      standalone_question=standalone, signals=signals, proposed=proposed)
        if span is None or (threshold is not None and 1.0 - confidence >= threshold):
            return Answer(text=ABSTAIN[lang], abstained=True, citations=[], **common)
        mark = self.settings.uncertain_for(lang, self.no_answer_model.uncertain)
        common["uncertain"] = mark is not None and 1.0 - confidence >= mark
        chunk, n = hits[span.passage].chunk, span.passage + 1
        left, right = evidence_bounds(chunk.text, span.start, span.end)
        quote = quote_evidence(chunk.text, left, right)
        return Answer(
            text=f"{quote} [{n}]", abstained=False,
            citations=[_citation(n, hits[span.passage])],
            short=ShortAnswer(text=span.text, n=n, chunk_id=chunk.chunk_id, start=span.start,
                              end=span.end, match=span.match),
            evidence=Evidence(n=n, source=chunk.source, page=chunk.page, chunk_id=chunk.chunk_id,
                              start=left, end=right, text=quote),
            **common)


def _citation(n: int, hit: Hit) -> Citation:
    """Passage [n] of an answer: the hit's source, page, chunk and snippet."""
    c = hit.chunk
    return Citation(n=n, source=c.source, page=c.page, chunk_id=c.chunk_id,
                    snippet=snippet(c.text))


def _in_hit(span: Span, window: Window) -> Span:
    """`span`, found in `window`, as a span of the hit the window was cut from."""
    return replace(span, passage=window.rank, start=window.start + span.start,
                   end=window.start + span.end)
