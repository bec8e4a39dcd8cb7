"""Explained answers, sentence by sentence: each sentence the LLM writes is cut from the
stream as soon as it ends, checked against the passage it cites (`support`), re-cited or
dropped, and only then shown, so streamed text is never withdrawn.

    splitter = SentenceSplitter()
    splitter.feed("LoRA冻结权重[1]。它只训练低秩")   # ['LoRA冻结权重[1]。']
    splitter.flush()                                  # ['它只训练低秩']
    splitter.feed("Copy the `.env` file. Then")      # ['Copy the `.env` file.']
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from generation.explain.support import (
    SUPPORT_THRESHOLD,
    ClaimCheck,
    Support,
    best_citation,
    content_units,
    covered,
    question_units,
    support,
)
from generation.spans import link_words
from generation.types import AnswerSentence
from generation.windows import Window, select_windows
from ingest.cleaning import remove_cjk_spaces
from ingest.core.text import CJK_LETTERS, citation_numbers, has_cjk, strip_citations
from retrieval.types import Hit

# A sentence ends at 。！？!? or at a period before a space, a citation or after a Chinese
# character: never inside a number ("2.4"), a file name ("a `.env` file") or an address.
_END = re.compile(rf"[。！？!?]|\.(?=\s|\[)|(?<=[{CJK_LETTERS}])\.")
_MARKS = re.compile(r"(?:\s*\[[\d\s,，、-]*\])*")
QUOTE_CHARS = 240  # the quoted fallback: the best sentence and its neighbours, about this long
QUOTE_COVER = 0.5  # ... holding at least this share of the question's content units


class SentenceSplitter:
    """Cuts streamed text into sentences; a sentence's trailing [n] markers stay with it."""

    def __init__(self) -> None:
        self.buffer = ""

    def feed(self, piece: str) -> list[str]:
        self.buffer += piece
        out = []
        while (cut := self._cut()) is not None:
            sentence, self.buffer = self.buffer[:cut].strip(), self.buffer[cut:]
            if sentence:
                out.append(sentence)
        return out

    def flush(self) -> list[str]:
        rest, self.buffer = self.buffer.strip(), ""
        return [rest] if rest else []

    def _cut(self) -> int | None:
        end = _END.search(self.buffer)
        if end is None:
            return None
        after = _MARKS.match(self.buffer, end.end()).end()
        # The markers may go on in the next piece ("。[" or "。[1"): wait for more text.
        if after >= len(self.buffer.rstrip()) or self.buffer[after:].lstrip().startswith("["):
            return None
        return after


@dataclass(frozen=True)
class Checked:
    """A written sentence and what the check made of it."""

    written: str
    sentence: AnswerSentence | None  # None: dropped (no shown passage supports it)
    support: Support
    recited: bool  # supported by another passage than the one it cited


def check_sentence(written: str, windows: list[Window], hits: list[Hit], question: str = "",
                   threshold: float = SUPPORT_THRESHOLD, claims: ClaimCheck | None = None
                   ) -> Checked:
    """`written` (with any [n], numbered as the prompt's passages = `windows`) checked against
    the window it cites, else the others; the result cites the hit that window was cut from.
    A fragment ("[1]", "是的。") or a sentence that only repeats the question says nothing and
    is dropped. `claims`: the trained claim checker, from `threshold` (else word overlap)."""
    text = strip_citations(written).strip()
    cited = [n - 1 for n in citation_numbers(written) if 0 < n <= len(windows)]
    units = content_units(text)
    if len(units) < 3 or units <= content_units(question):
        return Checked(written, None, Support(0.0, ()), False)
    index, held = best_citation(text, [w.text for w in windows],
                                cited[0] if cited else None, threshold, claims)
    if index is None:
        return Checked(written, None, held, False)
    window = windows[index]
    chunk = hits[window.rank].chunk
    # The sentence carries the share of its words its passage holds, whichever check let it
    # through: what the UI says on its [n] ("…% of this sentence is in the passage").
    share = held.score if claims is None else support(text, window.text).score
    return Checked(written, AnswerSentence(text=text, n=window.rank + 1,
                                           chunk_id=chunk.chunk_id, support=share),
                   held, bool(cited) and index != cited[0])


def quoted_evidence(question: str, hits: list[Hit], from_hits: int,
                    max_chars: int = QUOTE_CHARS) -> AnswerSentence | None:
    """The fallback when no written sentence holds: the sentences of the hits that best match
    the question, quoted (None when they hold under half of the question's content: the
    documents are not about it)."""
    best = select_windows(question, hits, count=1, max_chars=max_chars, from_hits=from_hits)
    if not best:
        return None
    window = best[0]
    asked = question_units(question)
    if not asked or covered(asked, window.text) < QUOTE_COVER:
        return None
    chunk = hits[window.rank].chunk
    # Markdown headings are the document's structure, not what it says; lines are joined.
    lines = [line.strip() for line in window.text.splitlines()]
    text = " ".join(line for line in lines if line and not line.startswith("#"))
    return AnswerSentence(text=remove_cjk_spaces(text) if has_cjk(text) else text,
                          n=window.rank + 1, chunk_id=chunk.chunk_id, support=1.0)


def shown_text(sentence: AnswerSentence, lang: str) -> str:
    """A sentence as shown (its links as their words, `spans.link_words`), with its citation."""
    text = link_words(sentence.text)
    return f"{text}[{sentence.n}]" if lang == "zh" else f"{text} [{sentence.n}]"
