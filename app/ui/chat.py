"""The conversation: turns kept in the session, answers streamed, sources and feedback shown.

    turns = session_turns()                       # list[Turn] of this browser session
    with st.chat_message("assistant"):
        turn = ask("BM25 是什么？", turns, settings, index_dir)   # streams into the page
    render_turn(turn, store)                      # later reruns redraw it from the session

Every model output is shown escaped: a `$` or `*` in a document must not turn into LaTeX or
emphasis, and Chinese text passes through untouched.
"""

from __future__ import annotations

import html
import re
import sys
import time
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import streamlit as st

from app.config import Settings, flat_value
from app.ui import resources
from app.ui.feedback import FeedbackEntry, FeedbackStore
from generation.citations import snippet
from generation.explain.form import asks_for_fact
from generation.explain.support import support
from generation.spans import link_words
from ingest.core.errors import RagqaError
from ingest.core.text import sentence_spans
from ingest.store import Location

# History passed to the engine: enough for follow-ups, short enough for a small context window.
HISTORY_TURNS = 4
# An answer given below the usual confidence: shown, with a mark, rather than withheld.
UNCERTAIN_BADGE = (":orange-badge[:material/help: Low confidence: check the source]")
CURSOR = "▌"
# The settings stored with each rating, so a rating can be traced to what produced the answer.
FEEDBACK_SETTINGS = ("mode", "k", "reranker", "embedding", "llm", "temperature", "top_p",
                     "top_k", "max_new_tokens")


@dataclass
class Turn:
    """One question and what became of it."""

    question: str
    index_dir: str
    settings: dict[str, Any]
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    answer: Any = None  # generation.Answer once finished
    error: str | None = None
    seconds: float | None = None  # wall time in the UI, question sent -> answer complete
    feedback_id: int | None = None
    feedback_error: str | None = None
    user: str = ""  # who asked (signed in), carried into the rating


def session_turns() -> list[Turn]:
    return st.session_state.setdefault("turns", [])


def clear_chat() -> None:
    st.session_state["turns"] = []


def escape_md(text: str) -> str:
    """Markdown-inert text: `$x$`, `*a*`, `# h` and `<b>` are shown as typed."""
    return re.sub(r"([\\`*_{}\[\]()#+\-!|>~<$])", r"\\\1", text).replace("\n", "  \n")


def show_answer_text(text: str) -> str:
    # A token limit can cut a multi-byte character in half; its remnant shows as U+FFFD.
    return escape_md(text.rstrip("\ufffd"))


@contextmanager
def errors_shown(what: str) -> Iterator[None]:
    """Turns an exception into an st.error: RagqaError's message as is, anything else short
    (the traceback goes to the server's stderr, never to the page)."""
    try:
        yield
    except RagqaError as exc:
        st.error(str(exc))
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        st.error(f"{what} failed unexpectedly ({type(exc).__name__}: {str(exc)[:200]}). "
                 "The details are in the server log.")


def history_for(turns: list[Turn]) -> list[tuple[str, str]]:
    """(question, answer) pairs of the finished, non-abstained turns, oldest first."""
    done = [t for t in turns if t.answer is not None and not t.answer.abstained]
    return [(t.question, t.answer.text) for t in done[-HISTORY_TURNS:]]


def ask(question: str, turns: list[Turn], s: Settings, index_dir: Location,
        user: str = "") -> Turn:
    """Streams the answer to `question` into the current chat message; returns the turn."""
    turn = Turn(question=question, index_dir=str(index_dir),
                settings={k: flat_value(s, k) for k in FEEDBACK_SETTINGS}, user=user)
    history = history_for(turns)
    placeholder = st.empty()
    start = time.perf_counter()
    try:
        # The LLM may still be loading (or being prepared, the first time): say so at once,
        # keep the question, and answer it when the model is ready. The extractive reader
        # answers without it; the engine waits only if the answer needs the LLM.
        def llm():
            return resources.wait_for_llm(s, lambda message: placeholder.info(
                message, icon=resources.WAIT_ICON), retry_failed=True)

        if s.generation.reader == "llm":
            llm()
        engine = resources.answer_engine(s, index_dir, llm=llm)
        placeholder.markdown("*Searching the documents…*")
        with resources.generation_slot(
            on_wait=lambda: placeholder.markdown("*Waiting for another answer to finish…*")
        ):
            text = ""
            stream = engine.stream(question, history)
            for piece in stream:
                text += piece
                placeholder.markdown(show_answer_text(text) + CURSOR)
            turn.answer = stream.result()
    except RagqaError as exc:
        turn.error = str(exc)
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        turn.error = (f"Answering failed unexpectedly ({type(exc).__name__}: {str(exc)[:200]}). "
                      "The details are in the server log.")
    turn.seconds = time.perf_counter() - start
    placeholder.empty()
    turns.append(turn)
    return turn


def render_turn(turn: Turn, store: FeedbackStore | None) -> None:
    with st.chat_message("user"):
        st.markdown(escape_md(turn.question))
    with st.chat_message("assistant"):
        render_answer(turn, store)


def render_answer(turn: Turn, store: FeedbackStore | None) -> None:
    if turn.error is not None:
        st.error(turn.error)
        return
    answer = turn.answer
    if answer.abstained:
        st.warning("**No answer found in the documents.**  \n" + show_answer_text(answer.text))
    elif answer.short is not None or answer.sentences:
        # The short answer first, then the sentence it was copied from with its [n], or the
        # explanation: each sentence with its [n], whose tooltip names the passage and how
        # much of the sentence it holds (every shown sentence was checked against it).
        # An explanation leads with a bold span only when the question also asks for a
        # name, number or date: a clause cut from a "why" is no headline.
        if answer.short is not None and (answer.form == "short"
                                         or asks_for_fact(turn.question)):
            st.markdown(f"**{show_answer_text(link_words(answer.short.text))}**")
            if answer.uncertain:
                st.markdown(UNCERTAIN_BADGE)
        if answer.sentences:
            st.html(f'<p class="ragqa-explained">{explained_html(answer)}</p>')
        else:
            st.markdown(show_answer_text(answer.text))
    else:
        st.markdown(show_answer_text(answer.text))
    if answer.standalone_question and answer.standalone_question.strip() != turn.question.strip():
        st.caption(f"Searched for: {escape_md(answer.standalone_question)}")
    render_sources(answer)
    st.caption(timing_line(turn))
    if store is not None:
        render_feedback(turn, store)


def explained_html(answer) -> str:
    """An explained answer's sentences, HTML-escaped, each followed by its [n] whose tooltip
    names the cited passage and the sentence's support."""
    sources = {h.chunk.chunk_id: h.chunk for h in answer.hits}
    parts = []
    for sentence in answer.sentences:
        chunk = sources.get(sentence.chunk_id)
        where = "" if chunk is None else Path(chunk.source).name + (
            f", page {chunk.page}" if chunk.page is not None else "")
        tip = html.escape(f"{where} · {round(100 * sentence.support)}% of this sentence is in "
                          "the passage", quote=True)
        parts.append(f'{html.escape(link_words(sentence.text))}<sup class="ragqa-cite" '
                     f'title="{tip}">'
                     f"[{sentence.n}]</sup>")
    return " ".join(parts)


@dataclass(frozen=True)
class SourceCard:
    """A passage shown under an answer: cited by the model, or merely given to it."""

    n: int  # the passage's number in the prompt, as in the answer's [n]
    source: str
    page: int | None
    chunk_id: str
    snippet: str
    cited: bool
    score: float | None = None
    relevance: float | None = None
    locator: str | None = None  # "slide 3", "sheet Revenue, rows 2-14", a heading path
    ocr: bool = False  # the passage was read from a scan: its text may hold OCR errors
    # The sentence that holds the short answer, and where the answer sits in it; for an
    # explained answer, the passage's sentences that support the answer's, each marked whole.
    evidence: str | None = None
    marks: tuple[tuple[int, int], ...] = ()

    def evidence_html(self) -> str | None:
        """The evidence, HTML-escaped, with the marked spans inside <mark>."""
        if self.evidence is None:
            return None
        e, out, at = self.evidence, [], 0
        for a, b in self.marks:
            out += [html.escape(e[at:a]), "<mark>", html.escape(e[a:b]), "</mark>"]
            at = b
        return "".join(out) + html.escape(e[at:])

    def label(self) -> str:
        label = f"[{self.n}] {Path(self.source).name}"
        if self.locator is not None:  # "slide 3" names a slide's number itself
            label += f" · {self.locator}"
        elif self.page is not None:
            label += f" · page {self.page}"
        if self.ocr:
            label += " · OCR"
        if self.score is not None:
            label += f" · score {self.score:.3f}"
        if self.relevance is not None:
            label += f" · relevance {self.relevance:.2f}"
        return label

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "source": self.source, "page": self.page, "chunk_id": self.chunk_id,
                "cited": self.cited, "score": self.score, "snippet": self.snippet,
                "locator": self.locator, "ocr": self.ocr}


def source_cards(answer) -> list[SourceCard]:
    """The cited passages; when the model cited none, the passages it was given, so every
    answer still shows (and every rating records) where it came from."""
    by_chunk = {h.chunk.chunk_id: h for h in answer.hits}
    if answer.citations:
        cards = []
        for c in answer.citations:
            hit = by_chunk.get(c.chunk_id)
            evidence, marks = _evidence_of(answer, c.chunk_id)
            if evidence is None and hit is not None:
                evidence, marks = _support_of(answer, hit.chunk)
            cards.append(SourceCard(c.n, c.source, c.page, c.chunk_id, c.snippet, True,
                                    hit.score if hit else None, hit.relevance if hit else None,
                                    hit.chunk.locator if hit else None, bool(hit and hit.chunk.ocr),
                                    evidence, marks))
        return cards
    return [SourceCard(n, h.chunk.source, h.chunk.page, h.chunk.chunk_id, snippet(h.chunk.text),
                       False, h.score, h.relevance, h.chunk.locator, h.chunk.ocr)
            for n, h in enumerate(answer.hits, 1)]


def _evidence_of(answer, chunk_id: str) -> tuple[str | None, tuple[tuple[int, int], ...]]:
    ev, short = answer.evidence, answer.short
    if ev is None or ev.chunk_id != chunk_id:
        return None, ()
    if short is None:
        return ev.text, ()
    # The evidence is quoted with runs of whitespace collapsed: find the answer likewise.
    words = " ".join(short.text.split())
    at = ev.text.find(words)
    return ev.text, () if at < 0 else ((at, at + len(words)),)


def _support_of(answer, chunk) -> tuple[str | None, tuple[tuple[int, int], ...]]:
    """For each explained sentence citing `chunk`, the passage sentence that supports it best
    (`generation.explain.support`): those sentences in passage order, joined by "…", marked."""
    cited = [s for s in getattr(answer, "sentences", ()) if s.chunk_id == chunk.chunk_id]
    spans = sentence_spans(chunk.text)
    if not cited or not spans:
        return None, ()
    best = sorted({max(spans, key=lambda sp: support(s.text, chunk.text[sp[0]:sp[1]]).score)
                   for s in cited})
    parts = [" ".join(chunk.text[a:b].split()) for a, b in best]
    marks, at = [], 0
    for part in parts:
        marks.append((at, at + len(part)))
        at += len(part) + 3  # " … "
    return " … ".join(parts), tuple(marks)


def render_sources(answer) -> None:
    """One expandable card per passage: file, page or slide/sheet rows/section, an OCR mark,
    score; the snippet and path inside."""
    cards = source_cards(answer)
    if cards and not cards[0].cited:
        st.caption("Closest passages found:"
                   if answer.abstained else "The answer cites no passage; it was given these:")
    for card in cards:
        with st.expander(card.label(), expanded=card.evidence is not None):
            highlighted = card.evidence_html()
            if highlighted is not None:
                # The answer's sentence with the answer marked, then the passage's start.
                st.html(f'<p class="ragqa-evidence">{highlighted}</p>')
            st.markdown(escape_md(card.snippet))
            if card.ocr:
                st.caption("Read from a scanned page by OCR: the text may contain misread "
                           "characters.")
            st.caption(escape_md(card.source))


def timing_line(turn: Turn) -> str:
    t = turn.answer.timings
    parts = [f"answered in {turn.seconds:.1f} s"]
    if t.first_token_ms is not None:
        parts.append(f"first token {t.first_token_ms / 1000:.1f} s")
    parts.append(f"retrieval {t.retrieve_ms:.0f} ms")
    if turn.answer.confidence is not None:
        parts.append(f"confidence {turn.answer.confidence:.2f}")
    return " · ".join(parts)


def render_feedback(turn: Turn, store: FeedbackStore) -> None:
    """Thumbs up/down; once rated, an optional comment. Stored at once, updated on change."""
    st.feedback("thumbs", key=f"rating-{turn.id}", on_change=_on_rating, args=(turn, store))
    if turn.feedback_id is not None:
        st.text_input("Comment (optional, Enter to save)", key=f"comment-{turn.id}",
                      on_change=_on_comment, args=(turn, store),
                      placeholder="What was wrong or missing?")
        st.caption("Feedback saved. Thank you.")
    if turn.feedback_error:
        st.error(turn.feedback_error)


def _on_rating(turn: Turn, store: FeedbackStore) -> None:
    rating = st.session_state.get(f"rating-{turn.id}")
    if rating is None:  # the thumb was clicked again to undo: keep the stored rating
        return
    try:
        if turn.feedback_id is None:
            a = turn.answer
            turn.feedback_id = store.add(FeedbackEntry(
                question=turn.question, answer=a.text, rating=int(rating),
                abstained=a.abstained, citations=[c.to_json() for c in source_cards(a)],
                settings=turn.settings, index_dir=turn.index_dir, user=turn.user,
            ))
        else:
            store.set_rating(turn.feedback_id, int(rating))
        turn.feedback_error = None
    except RagqaError as exc:
        turn.feedback_error = str(exc)


def _on_comment(turn: Turn, store: FeedbackStore) -> None:
    comment = st.session_state.get(f"comment-{turn.id}", "")
    try:
        store.set_comment(turn.feedback_id, comment)
        turn.feedback_error = None
    except RagqaError as exc:
        turn.feedback_error = str(exc)
