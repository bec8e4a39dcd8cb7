"""Grounding a short answer: the passage span it was copied from, and the sentence around it.

    >>> span = snap_to_passages("12 hours", ["The battery lasts 12 hours and charges in 2."])
    >>> span.passage, span.text, (span.start, span.end), span.match
    (0, '12 hours', (18, 26), 1.0)
    >>> snap_to_passages("约12小时", ["电池续航12小时，充电2小时。"]).text      # by character
    '12小时'
    >>> evidence_bounds("One. The battery lasts 12 hours. Two.", 23, 31)
    (5, 32)

A small model copies the fact but not always verbatim ("the 12 hours", "12 hours."), so the
generated text is matched to the passages: an exact (case-insensitive) occurrence first, else
the span with the best unit F1 against it, counting CJK by character and other text by word
(`ingest.core.text.word_unit_spans`, the units the official CMRC and SQuAD scorers count). The
result is always a verbatim slice of a passage, so the answer's citation is exact.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from ingest.core.text import (
    CODE_FENCES,
    ENGLISH_STOP_WORDS,
    SENTENCE_END,
    has_cjk,
    is_cjk,
    strip_citations,
    word_unit_spans,
)

# Below this unit F1 the generated text is not taken to come from any passage.
MIN_MATCH = 0.34
# Quotes, brackets and sentence marks a model puts around the phrase it copied.
_FRAME = " \t\n\"'“”‘’「」『』《》()（）[]【】.,;:!?。，；：！？、"
_LEAD_IN = re.compile(r"^(?:answer|the answer is|答案|回答)\s*[:：是为]?\s*", re.I)
_ENDERS = frozenset("。！？!?；;.\n")
_MAX_EVIDENCE_CHARS = 240
# A shell's or Python's prompt before a command in a code block.
_PROMPT = re.compile(r"(?:\$|>>>)[ \t]+(?=\S)")
# A word that ties a sentence to the one before it, not part of what it states: a
# sentence-long answer starts after it ("Instead, when encrypting a block in CBC mode, …").
# ("Also" and "in particular" only with their comma: "Also known as …" states something.)
_CONNECTIVE = re.compile(r"(?:(?:however|instead|in contrast|by contrast|therefore|thus|hence|"
                         r"moreover|furthermore|in addition|additionally|similarly|conversely|"
                         r"indeed|in fact|note that|keep in mind that|remember that)\b,?|"
                         r"(?:also|in particular),)\s+(?=\S)", re.I)
# A term on a line of its own, defined by the paragraph under it (a definition list, a
# glossary: "dialout" over "Full and direct access to serial ports."): at most this many words.
_TERM_WORDS = 4
# A Markdown link or image, inline or by reference: "[`Writable`][]", "[the guide](https://…)",
# "[HTTP server][http-incoming-message]". Not a bracketed number (a citation: "[12]", "[3][4]")
# nor an index after a name ("rows[i][j]").
_MARKDOWN_LINK = re.compile(r"(?<![\w\]])!?\[(?!\d[\d,\s–-]*\])([^\[\]\n]*)\]"
                            r"(?:\((?:[^()\s]|\([^()\s]*\))*(?:\s+\"[^\"\n]*\")?\)|"
                            r"\[[^\[\]\n]*\])")


@dataclass(frozen=True)
class Span:
    """A verbatim slice `passages[passage][start:end]` and how well it matched the answer."""

    passage: int
    start: int
    end: int
    text: str
    match: float  # unit F1 between the generated answer and the span (1.0: exact)


def clean_answer(text: str) -> str:
    """The phrase a model meant: citations, "Answer:" lead-ins and framing marks removed."""
    lines = strip_citations(text).strip().splitlines()
    text = _LEAD_IN.sub("", lines[0] if lines else "")
    return text.strip(_FRAME)


def snap_to_passages(answer: str, passages: Sequence[str],
                     min_match: float = MIN_MATCH) -> Span | None:
    """The passage span that `answer` was copied from, best passage first; None when no span
    matches at least `min_match` (the answer does not come from the passages)."""
    phrase = clean_answer(answer)
    if not phrase:
        return None
    exact = _exact(phrase, passages)
    if exact is not None:
        return exact
    wanted = Counter(u for u, _, _ in word_unit_spans(phrase))
    if not wanted:
        return None
    best: Span | None = None
    for p, passage in enumerate(passages):
        span = _best_overlap(wanted, passage, p)
        # Ties keep the earlier (better-ranked) passage.
        if span is not None and (best is None or span.match > best.match):
            best = span
    return best if best is not None and best.match >= min_match else None


def _exact(phrase: str, passages: Sequence[str]) -> Span | None:
    # Whitespace may differ (passages are shown to the model with runs of spaces collapsed).
    pattern = re.compile(r"\s+".join(re.escape(w) for w in phrase.split()), re.I)
    for p, passage in enumerate(passages):
        m = pattern.search(passage)
        if m:
            return Span(p, m.start(), m.end(), m.group(), 1.0)
    return None


def _best_overlap(wanted: Counter, passage: str, p: int) -> Span | None:
    units = word_unit_spans(passage)
    n_wanted = sum(wanted.values())
    # A best span starts and ends on a wanted unit, and not on a bare "the" or "of" when the
    # answer has other words.
    anchors = {u for u in wanted if u not in ENGLISH_STOP_WORDS} or set(wanted)
    longest = 2 * n_wanted + 2
    best: tuple[float, int, int] | None = None  # (f1, first unit, last unit)
    for i, (unit, _, _) in enumerate(units):
        if unit not in anchors:
            continue
        have: Counter = Counter()
        common = 0
        for j in range(i, min(len(units), i + longest)):
            u = units[j][0]
            have[u] += 1
            if have[u] <= wanted[u]:
                common += 1
            if u in anchors:
                f1 = 2 * common / (j - i + 1 + n_wanted)
                if best is None or f1 > best[0] + 1e-9:
                    best = (f1, i, j)
    if best is None:
        return None
    f1, i, j = best
    start, end = units[i][1], units[j][2]
    return Span(p, start, end, passage[start:end], round(f1, 4))


def evidence_bounds(passage: str, start: int, end: int,
                    max_chars: int = _MAX_EVIDENCE_CHARS) -> tuple[int, int]:
    """The sentence of `passage` around `[start, end)`, trimmed to about `max_chars`; a term
    on a line of its own comes with the first sentence of the paragraph that defines it.

    >>> glossary = "shadow\\n\\n/etc/shadow is readable by this group. Some are setgid.\\n"
    >>> left, right = evidence_bounds(glossary, 0, 6)
    >>> glossary[left:right]
    'shadow\\n\\n/etc/shadow is readable by this group.'
    """
    left = 0
    for m in SENTENCE_END.finditer(passage, 0, start):
        left = m.end()
    while left < start and passage[left].isspace():
        left += 1
    right = _sentence_end(passage, end)
    if _is_term_line(passage[left:right]) and (left == 0 or passage[left - 1] == "\n"):
        # The term alone shares no word with a question about it: its definition does.
        follows = len(passage[right:]) - len(passage[right:].lstrip())
        definition = right + follows
        after = _sentence_end(passage, definition + 1) if definition < len(passage) else right
        if len(passage[definition:after].split()) > _TERM_WORDS \
                and not passage[definition:after].startswith(("#", *CODE_FENCES)):
            right = after
    if right - left > max_chars:  # a run-on "sentence" (a table row, a list): a window
        room = max(0, max_chars - (end - start)) // 2
        left, right = max(left, start - room), min(right, end + room)
    return left, right


def _sentence_end(passage: str, at: int) -> int:
    """Where the sentence holding `passage[at]` ends (its end mark kept, a line break not)."""
    m = SENTENCE_END.search(passage, at)
    right = m.end() if m else len(passage)
    if passage[right - 1:right] in {"\n", ";", "；"}:
        right -= 1
    return right


def _is_term_line(text: str) -> bool:
    """A short line with no end mark of its own: a term, a label, a name."""
    text = text.strip()
    return bool(text) and "\n" not in text and len(text.split()) <= _TERM_WORDS \
        and len(text) <= 40 and text[-1] not in _ENDERS and not has_cjk(text)


def sentence_span(passage: str, span: Span) -> Span:
    """The sentence of `passage` around `span` (`evidence_bounds`), its end mark and a
    leading connective ("However,", "Note that") left out: the answer to a question that
    expects a clause or a sentence.

    >>> text = "Builds fail. Most fail because tests share state. Outages do the rest."
    >>> at = text.find("tests share state")
    >>> sentence_span(text, Span(0, at, at + 17, "tests share state", 1.0)).text
    'Most fail because tests share state'
    >>> text = "Builds fail. However, most fail because tests share state."
    >>> at = text.find("tests share state")
    >>> sentence_span(text, Span(0, at, at + 17, "tests share state", 1.0)).text
    'most fail because tests share state'
    """
    left, right = evidence_bounds(passage, span.start, span.end)
    connective = _CONNECTIVE.match(passage, left, right)
    if connective is not None and connective.end() <= span.start:  # never into the span
        left = connective.end()
    while right > span.end and (passage[right - 1].isspace() or passage[right - 1] in _ENDERS):
        right -= 1
    return Span(span.passage, left, right, passage[left:right], span.match)


def code_span(passage: str, span: Span) -> Span:
    """`span`, or where it touches a code fence ("```bash"), the lines of code it touches:
    a command is a whole line, never "bash\\npip" nor a heading run into the code under it.
    A span that holds only a fence opening a block takes the block's first line.

    >>> text = "## Install\\n\\n```bash\\npip install kestrel\\n```\\n\\n## Use"
    >>> at = text.find("bash")
    >>> code_span(text, Span(0, at, at + 8, "bash\\npip", 1.0)).text
    'pip install kestrel'
    """
    lines, at, inside = [], 0, False  # (start, end, is a fence, inside a block)
    for line in passage.splitlines(keepends=True):
        fence = line.strip().startswith(CODE_FENCES)
        lines.append((at, at + len(line.rstrip("\r\n")), fence, inside and not fence))
        inside = inside != fence
        at += len(line)
    touched = [i for i, (a, b, _, _) in enumerate(lines) if a < span.end and span.start < b]
    if not any(lines[i][2] for i in touched):
        return span
    code = [i for i in touched if lines[i][3]]
    if not code:  # the fence alone: the block's first line, when the fence opens one
        code = [i + 1 for i in touched if lines[i][2] and i + 1 < len(lines)
                and lines[i + 1][3]][:1]
    if not code:
        return span
    start, end = lines[code[0]][0], lines[code[-1]][1]
    while start < end and passage[start].isspace():
        start += 1
    if prompt := _PROMPT.match(passage, start, end):  # "$ pip install …": the command
        start = prompt.end()
    return Span(span.passage, start, end, passage[start:end], span.match)


def link_words(text: str, keep: str = r"\1") -> str:
    """`text` with each Markdown link or image as a reader of the rendered page sees it: its
    words (`keep`; "" drops it), nested ones too (a badge "[![PyPI](…svg)](…)" is an image
    inside a link). What is shown of a passage; spans and offsets stay on the stored text.

    >>> link_words("[`Transform`][] streams call [`writable._write()`][stream-_write] (see "
    ...            "[the guide](https://nodejs.org/guide), [12] and rows[i][j]).")
    '`Transform` streams call `writable._write()` (see the guide, [12] and rows[i][j]).'
    >>> link_words("[![PyPI](https://img.shields.io/pypi/v/x.svg)](https://pypi.org/x)")
    'PyPI'
    """
    while "[" in text and (plain := _MARKDOWN_LINK.sub(keep, text)) != text:
        text = plain
    return text


def link_span(passage: str, span: Span) -> Span:
    """`span`, or where it cuts a Markdown link ("[`stream.drain()`]["), grown to the whole
    links it touches, so that it is shown as their words (`link_words`).

    >>> text = "It waits until [`stream.drain()`][] is called."
    >>> at = text.find("[`")
    >>> link_span(text, Span(0, at, at + 19, text[at:at + 19], 1.0)).text
    '[`stream.drain()`][]'
    """
    if "[" not in passage:
        return span
    start, end = span.start, span.end
    for link in _MARKDOWN_LINK.finditer(passage):
        if link.start() < span.end and span.start < link.end():
            start, end = min(start, link.start()), max(end, link.end())
    if (start, end) == (span.start, span.end):
        return span
    return Span(span.passage, start, end, passage[start:end], span.match)


def quote_evidence(passage: str, left: int, right: int) -> str:
    """`passage[left:right]` (see `evidence_bounds`) as a reader sees it: spaces collapsed,
    links as their words (`link_words`), "…" where it was cut."""
    text = link_words(" ".join(passage[left:right].split()))
    if left > 0 and passage[left - 1] not in _ENDERS and not passage[left - 1].isspace():
        text = "…" + text
    if right < len(passage) and passage[right - 1] not in _ENDERS:
        text += "…"
    if text and not is_cjk(text[-1]) and text[-1] not in ".!?…":
        text += "."
    return text
