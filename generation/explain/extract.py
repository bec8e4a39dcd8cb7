"""The extractive explanation, the default on a CPU: the document's own sentences that explain
a "why" or "how", verbatim, in document order, each with its citation. No LLM, a few
milliseconds.

    sentences = extract_explanation("Why are uploads over 25 MB rejected?", hits, from_hits=5)
    [(s.text, s.n) for s in sentences]
    # [('Files larger than 25 MB are rejected by the upload service.', 1), ...]

The passage is the best window of the top hits (`generation.windows.select_windows`: a run of
consecutive sentences around the question's words, ranked by BM25 over sentences). It is cut
into sentences; page furniture (breadcrumbs, navigation and share lines, a table of contents),
headings and fragments are dropped, a list item stays one sentence, and a window that covers
under half of the question's content declines (the documents are not about it). Sentences
written by an LLM (`generation.explainer`) are the other path, for a capable LLM.
"""

from __future__ import annotations

import re

from generation.explain.support import content_units
from generation.types import AnswerSentence
from generation.windows import select_windows
from ingest.cleaning import remove_cjk_spaces
from ingest.core.text import has_cjk, sentence_spans
from ingest.furniture import drop_furniture
from retrieval.types import Hit

EXPLAIN_CHARS = 600  # the window: about three to five sentences
EXPLAIN_COVER = 0.5  # the share of the question's content units the window must hold
MIN_UNITS = 3  # a sentence with fewer content units is a fragment ("是的。", "Note:")
_LIST_ITEM = re.compile(r"^\s*(?:[-*•·]|\d+[.)、]|[（(]\d+[)）]|[一二三四五六七八九十]+、)\s*")


def extract_explanation(question: str, hits: list[Hit], *, from_hits: int,
                        max_sentences: int = 5,
                        max_chars: int = EXPLAIN_CHARS) -> list[AnswerSentence]:
    """The explaining sentences of the best window, in document order (empty: decline)."""
    windows = select_windows(question, hits, count=1, max_chars=max_chars, from_hits=from_hits)
    if not windows:
        return []
    window = windows[0]
    asked = content_units(question)
    if not asked or len(asked & content_units(window.text)) < EXPLAIN_COVER * len(asked):
        return []
    chunk = hits[window.rank].chunk
    out: list[AnswerSentence] = []
    for text in window_sentences(window.text):
        if len(out) == max_sentences:
            break
        out.append(AnswerSentence(text=text, n=window.rank + 1, chunk_id=chunk.chunk_id,
                                  support=1.0))
    return out


def window_sentences(text: str) -> list[str]:
    """The sentences a window shows: furniture, headings and fragments left out; a list item is
    one sentence; Chinese keeps no spaces between its characters."""
    out = []
    for line in drop_furniture(text).splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue  # headings are the document's structure, not its answer
        pieces = [line] if _LIST_ITEM.match(line) else \
            [line[a:b].strip() for a, b in sentence_spans(line)]
        for piece in pieces:
            if len(content_units(piece)) < MIN_UNITS:
                continue
            out.append(remove_cjk_spaces(piece) if has_cjk(piece) else piece)
    return out
