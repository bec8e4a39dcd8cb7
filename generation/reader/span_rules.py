"""Which spans a person would write as the answer: the rules the decoder applies to the
reader's scores (`generation.reader.decoding.best_span`).

    >>> rules = SpanRules.for_question("When was LoRA proposed?")
    >>> rules.single_sentence, rules.max_tokens
    (True, 24)
    >>> SpanRules.for_question("为什么要做数据清洗？").single_sentence
    False

- A span starts and ends on a token that carries a letter, a digit, a CJK character or a
  bracket/quote: never a span of punctuation only ("。"), nor one that ends in a sentence mark
  ("身体原因而退役。"); the scorers ignore such marks, a reader of the answer does not.
- A question that asks for a name, a number, a date or a place (who/when/how many/which,
  谁/何时/多少/几/哪) gets an answer inside one sentence and at most 24 tokens: a whole
  sentence or paragraph is never the answer to "which flag".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np

from ingest.core.text import SENTENCE_END, is_code_line

# Questions asking for an entity: a person, a time, a count or amount, a place, a choice.
_ENTITY_EN = re.compile(
    r"\b(?:who|whom|whose|when|where|which|what (?:year|date|day|month|time|number|percentage|"
    r"percent|size|name|type|kind|flag|option|command|version|value|port|file)|how (?:many|much|"
    r"long|old|far|big|large|often|tall|high))\b", re.I)
_ENTITY_ZH = re.compile(r"谁|何时|何年|哪一?年|哪天|哪个|哪位|哪家|哪里|哪儿|哪座|哪国|什么时候|"
                        r"多少|多久|几[个年月天次位岁种名号]?|叫什么|什么名字|哪些")
_EXPLAIN = re.compile(r"\b(?:why|how (?:do|does|did|can|to|is|are)|explain|describe)\b|为什么|"
                      r"为何|怎么|如何|怎样|原因|区别|不同", re.I)
_BRACKETS = set("\"'“”‘’「」『』《》()（）[]【】")
ENTITY_MAX_TOKENS = 24


@dataclass(frozen=True)
class SpanRules:
    single_sentence: bool = False  # the span may not run across a sentence end
    max_tokens: int | None = None  # at most this many tokens (None: the decoder's own limit)
    prose_only: bool = False  # never in a heading, a line of code or a table row

    @classmethod
    def for_question(cls, question: str) -> SpanRules:
        entity = bool(_ENTITY_EN.search(question) or _ENTITY_ZH.search(question))
        if not entity or _EXPLAIN.search(question):
            return cls()
        return cls(single_sentence=True, max_tokens=ENTITY_MAX_TOKENS)


def clause_rules(question: str) -> SpanRules:
    """The rules for a question whose answer is to be a whole sentence of prose (the caller
    widens the span to it): one sentence, never a heading or a line of code."""
    return replace(SpanRules.for_question(question), single_sentence=True, prose_only=True)


def prose_chars(window: str) -> np.ndarray:
    """Per character of `window`: whether its line is prose (not a Markdown heading, code, a
    command or a table row)."""
    mask = np.zeros(len(window) + 1, dtype=bool)
    at = 0
    for line in window.splitlines(keepends=True):
        stripped = line.strip()
        mask[at:at + len(line)] = not (stripped.startswith("#") or is_code_line(stripped))
        at += len(line)
    return mask


def carries_content(text: str) -> bool:
    """Whether a token's characters can begin or end an answer.

    >>> carries_content("退役"), carries_content("。"), carries_content("》"), carries_content(" ,")
    (True, False, True, False)
    """
    return any(ch.isalnum() or ch in _BRACKETS for ch in text)


def token_flags(window: str, offsets: list[tuple[int, int] | None]) -> tuple[np.ndarray,
                                                                             np.ndarray]:
    """Per token of a piece: (can begin or end a span, holds a sentence end)."""
    ends = np.zeros(len(window) + 1, dtype=bool)
    for m in SENTENCE_END.finditer(window):
        ends[m.start()] = True
    content = np.zeros(len(offsets), dtype=bool)
    stops = np.zeros(len(offsets), dtype=bool)
    spans = [(t, off) for t, off in enumerate(offsets) if off is not None and off[1] > off[0]]
    for k, (t, (start, end)) in enumerate(spans):
        content[t] = carries_content(window[start:end])
        # A break in the gap after a token (a blank line no token covers) ends its sentence.
        gap_end = spans[k + 1][1][0] if k + 1 < len(spans) else end
        stops[t] = bool(ends[start:max(end, gap_end)].any())
    return content, stops
