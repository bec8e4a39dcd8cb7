"""The extractive explanation, the default on a CPU: the document's own sentences that explain
a "why" or "how", verbatim, in document order, each with its citation. No LLM, a few
milliseconds.

    sentences = extract_explanation("Why are uploads over 25 MB rejected?", hits, from_hits=5)
    [(s.text, s.n) for s in sentences]
    # [('Files larger than 25 MB are rejected by the upload service.', 1), ...]

The passage is the best of the top hits' windows (`generation.windows.select_windows`: runs of
consecutive sentences around the question's words, ranked by BM25 over sentences) that holds
at least `EXPLAIN_COVER` of the question's content. It is cut into sentences; page furniture
(breadcrumbs, navigation and share lines, a table of contents, a package's header fields),
headings and fragments are dropped, a list item stays one sentence; when no window holds
enough of the question, it declines (the documents are not about it). Sentences
written by an LLM (`generation.explainer`) are the other path, for a capable LLM.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from generation.explain.support import content_units, question_units
from generation.types import AnswerSentence
from generation.windows import select_windows
from ingest.cleaning import rejoin_broken_lines, remove_cjk_spaces
from ingest.core.text import has_cjk, is_code_line, sentence_spans
from ingest.furniture import drop_furniture
from retrieval.types import Hit

EXPLAIN_CHARS = 600  # the window: about three to five sentences
EXPLAIN_COVER = 0.4  # the share of the question's content units the window must hold
EXPLAIN_CANDIDATES = 3  # windows looked at, best first: the first that covers the question
MIN_UNITS = 3  # a sentence with fewer content units is a fragment ("是的。", "Note:")
MIN_SENTENCES = 3  # an explanation shorter than this grows by its section's neighbours
_LIST_ITEM = re.compile(r"^\s*(?:[-*•·]|\d+[.)、]|[（(]\d+[)）]|[一二三四五六七八九十]+、)\s*")
# A package's or a mail's header fields ("Home-page: …", "Requires-Dist: …", "Classifier: …",
# the head of every PyPI description): data about the document, never its explanation.
_HEADER_FIELD = re.compile(r"^\s*(?:[A-Z][a-z]+(?:-[A-Z]?[a-z]+)+|Classifier|License|Author|"
                           r"Maintainer|Version|Name|Summary|Keywords|Platform)\s*:\s*\S")
# A sentence that leans on the one before it ("Therefore …", "因此…") brings it along.
_LEANS = re.compile(r"^(?:因此|所以|这样|这就|由此|于是|故|therefore|thus|so |this |these |"
                    r"that is why|hence|as a result|for this reason)", re.I)


_FENCES = ("```", "~~~")
# A comment line in a code block: "# …" or "// …" with a space after the marker.
_COMMENT = re.compile(r"^(?:#|//)\s+(?=\S)")
# A Markdown quote's markers ("> > text"; not a ">>>" prompt, which is code).
_QUOTE = re.compile(r"^(?:>(?:\s+|$))+")
# A Markdown link or image: its words count, its address does not ("[webtool](https://…png)"
# alone is a fragment).
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")


@dataclass(frozen=True)
class _Unit:
    text: str
    section: int  # units under different headings never join


def extract_explanation(question: str, hits: list[Hit], *, from_hits: int,
                        max_sentences: int = 5, max_chars: int = EXPLAIN_CHARS,
                        candidates: int = EXPLAIN_CANDIDATES,
                        cover: float = EXPLAIN_COVER
                        ) -> list[AnswerSentence]:
    """The explaining sentences of the best window that holds `cover` of the question's
    content, in document order (empty: decline)."""
    windows = select_windows(question, hits, count=candidates, max_chars=max_chars,
                             from_hits=from_hits)
    asked = question_units(question)
    if not windows or not asked:
        return []
    # Code and furniture alone explain nothing: such a window is passed over.
    covering = [(w, inside) for w in windows
                if len(asked & content_units(w.text)) >= cover * len(asked)
                and (inside := [u.text for u in shown_units(w.text)])]
    if not covering:
        return []
    window, inside = covering[0]
    units = shown_units(hits[window.rank].chunk.text)
    texts = [u.text for u in units]
    first = texts.index(inside[0]) if inside[0] in texts else None
    if first is None:  # the window cut a sentence the whole hit reads differently
        chosen = inside
    else:
        last = min(first + len(inside), len(units)) - 1
        first, last = _grow(units, first, last, max_chars)
        chosen = texts[first:last + 1]
    chosen = _on_topic(asked, chosen)
    chunk = hits[window.rank].chunk
    return [AnswerSentence(text=text, n=window.rank + 1, chunk_id=chunk.chunk_id, support=1.0)
            for text in chosen[:max_sentences]]


def _on_topic(asked: set, texts: list[str]) -> list[str]:
    """`texts` without the sentences that share nothing with the question, unless one
    between two that do (the middle of an explanation)."""
    shares = [bool(asked & content_units(text)) for text in texts]
    if not any(shares):
        return texts
    lo, hi = shares.index(True), len(shares) - 1 - shares[::-1].index(True)
    return [text for i, text in enumerate(texts) if shares[i] or lo < i < hi]


def _grow(units: list[_Unit], first: int, last: int, max_chars: int) -> tuple[int, int]:
    """The run widened to the sentence its first leans on, then to MIN_SENTENCES by the
    next (else the previous) sentence of the same section, within 1.5 x max_chars."""
    section = units[first].section
    if first > 0 and units[first - 1].section == section and _LEANS.match(units[first].text):
        first -= 1
    budget = 1.5 * max_chars
    while last - first + 1 < MIN_SENTENCES:
        used = sum(len(u.text) for u in units[first:last + 1])
        if last + 1 < len(units) and units[last + 1].section == section \
                and used + len(units[last + 1].text) <= budget:
            last += 1
        elif first > 0 and units[first - 1].section == section \
                and used + len(units[first - 1].text) <= budget:
            first -= 1
        else:
            break
    return first, last


def shown_units(text: str) -> list[_Unit]:
    """The sentences of `text` an explanation may show, in order: furniture, headings, code,
    table rows and fragments left out; a list item is one sentence, and so is a code comment
    that is a sentence ("# 在 normal 模式下，可以将 一二三 进行转化": READMEs explain there);
    Chinese keeps no spaces between its characters. A heading starts a new section."""
    out: list[_Unit] = []
    section, paragraph = 0, []

    def end_paragraph() -> None:
        # Lines broken inside a sentence (hard-wrapped text, <pre>, a PDF) are one sentence.
        for line in rejoin_broken_lines("\n".join(paragraph)).splitlines():
            pieces = [line] if _LIST_ITEM.match(line) else \
                _joined_clauses([line[a:b].strip() for a, b in sentence_spans(line)])
            out.extend(_Unit(remove_cjk_spaces(piece) if has_cjk(piece) else piece, section)
                       for piece in pieces
                       if len(content_units(_LINK.sub(r"\1", piece))) >= MIN_UNITS)
        paragraph.clear()

    lines = [line.strip() for line in drop_furniture(text).splitlines()]
    fenced = _starts_in_code(lines)
    for line in lines:
        if line.startswith(_FENCES):
            end_paragraph()
            fenced = not fenced
            continue
        if fenced:
            end_paragraph()  # a comment is a sentence of its own
            comment = _COMMENT.match(line)
            line = line[comment.end():] if comment else ""
        if not line or is_code_line(line) or _HEADER_FIELD.match(line):
            end_paragraph()
            continue
        line = _QUOTE.sub("", line)
        if not line:
            end_paragraph()
            continue
        if line.startswith("#"):
            end_paragraph()
            section += 1  # headings are the document's structure, not its answer
            continue
        paragraph.append(line)
    end_paragraph()
    return out


def _starts_in_code(lines: list[str]) -> bool:
    """Whether a chunk begins inside a code block (it was cut there): its first fence closes
    one. A fence naming a language ("```python") opens a block; a bare one closes it when a
    fence naming a language follows, or when code comes before it."""
    fences = [i for i, line in enumerate(lines) if line.startswith(_FENCES)]
    if not fences or lines[fences[0]].lstrip("`~").strip():
        return False
    if len(fences) > 1 and lines[fences[1]].lstrip("`~").strip():
        return True
    return any(is_code_line(line) for line in lines[:fences[0]])


def _joined_clauses(pieces: list[str]) -> list[str]:
    """Sentences cut at a semicolon joined again: "…run as nobody instead; a dedicated user
    is better practice." is one statement, and its second half is often the reason."""
    out: list[str] = []
    for piece in pieces:
        if out and out[-1].endswith((";", "；")):
            out[-1] += ("" if out[-1].endswith("；") else " ") + piece
        else:
            out.append(piece)
    return out

