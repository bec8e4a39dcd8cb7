"""Whitespace normalisation, and rejoining lines that a PDF broke inside a sentence.

    >>> clean_text("Retrieval aug-\\nmented  generation\\ncites sources.", rejoin_lines=True)
    'Retrieval augmented generation cites sources.'
    >>> clean_text("检索增强生成把搜索和\\n语言模型结合起来。", rejoin_lines=True)
    '检索增强生成把搜索和语言模型结合起来。'

Text copied from a web page or an e-mail is often hard-wrapped at a fixed width, mid-sentence
(`rejoin_wrapped_lines`, for text and Markdown files): only long lines are joined, so table
cells, menus and headings, one per short line, keep their lines.

    >>> rejoin_wrapped_lines("训练通常分为预训练、有监督微调和基于人类反馈的强化\\n"
    ...                      "学习。\\n项目\\n内容")
    '训练通常分为预训练、有监督微调和基于人类反馈的强化学习。\\n项目\\n内容'

Full-width punctuation is kept as it is (no NFKC): the chunker splits Chinese on 。！？；.
"""

from __future__ import annotations

import re

from ingest.core.text import CJK_LETTERS, CJK_MARKS, CODE_FENCES, display_columns, is_cjk

# Characters after which a line break is a real one (end of a sentence, a heading's colon).
_SENTENCE_END = set(".!?:;。！？：；…”』」\"')）)")
# Invisible characters PDFs and web pages leave behind: zero-width spaces/joiners, BOMs, soft
# hyphens, and C0 controls other than \t \n.
_INVISIBLE_RE = re.compile(r"[\u200b-\u200d\u2060\ufeff\u00ad\x00-\x08\x0b-\x1f\x7f]")
# Every kind of horizontal space (no-break, em, ideographic, ...) becomes one ASCII space.
_SPACES_RE = re.compile(r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_BLANK_LINES_RE = re.compile(r"\n{3,}")
# A word hyphenated across a line break: "aug-\nmented" (a lower-case letter follows).
_HYPHEN_BREAK_RE = re.compile(r"(?<=[^\W\d_])-\n(?=[a-z])")
# A line that starts a list item ("- ", "3.", "（二）") keeps its own line.
_LIST_ITEM_RE = re.compile(
    r"^(?:[-*•·▪●]|\d{1,3}[.)、]|[（(]?[一二三四五六七八九十\d]{1,3}[）)、])\s*")
# Spaces between two CJK characters, as OCR engines put them between the glyphs they read.
_CJK_SPACES_RE = re.compile(f"(?<=[{CJK_LETTERS}{CJK_MARKS}]) +(?=[{CJK_LETTERS}{CJK_MARKS}])")


def normalize_whitespace(text: str) -> str:
    """One space between words, no trailing spaces, at most one blank line between paragraphs."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n")
    text = _INVISIBLE_RE.sub("", text)
    lines = (_SPACES_RE.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES_RE.sub("\n\n", "\n".join(lines)).strip()


def rejoin_broken_lines(text: str) -> str:
    """Joins a line to the next when the break falls inside a sentence, as PDF text has it.

    Blank lines (paragraphs) stay; a line that ends a sentence keeps its break; a next line
    that starts a list item keeps its own line. Between CJK characters no space is inserted.
    """
    text = _HYPHEN_BREAK_RE.sub("", text)
    out: list[str] = []
    for line in text.split("\n"):
        prev = out[-1] if out else ""
        if (prev and line and prev[-1] not in _SENTENCE_END
                and not _LIST_ITEM_RE.match(line)):
            # Chinese and Japanese put no space between words: the break simply vanishes.
            joiner = "" if is_cjk(prev[-1]) or is_cjk(line[0]) else " "
            out[-1] = prev + joiner + line
        else:
            out.append(line)
    return "\n".join(out)


# A hard-wrapped line is at least this wide (a CJK character takes two columns): wraps fall at
# 60-80 columns, while the short lines of tables, menus and tables of contents stay apart.
WRAP_MIN_COLUMNS = 50
_BLOCK_LINE_RE = re.compile(r"^(?:#{1,6}\s|\||>|```|~~~)")


def rejoin_wrapped_lines(text: str) -> str:
    """Joins a long line that ends mid-sentence to the next, as a fixed-width hard wrap has
    it; never inside a fenced code block, nor into a Markdown heading, table row, quote, or
    list item."""
    out: list[str] = []
    fenced, joinable = False, False
    for line in text.split("\n"):
        if line.startswith(CODE_FENCES):
            fenced = not fenced
        starts_block = bool(_BLOCK_LINE_RE.match(line) or _LIST_ITEM_RE.match(line))
        if joinable and line and not fenced and not starts_block:
            prev = out[-1]
            out[-1] = prev + ("" if is_cjk(prev[-1]) or is_cjk(line[0]) else " ") + line
        else:
            out.append(line)
        last = out[-1]
        joinable = (not fenced and bool(last) and last[-1] not in _SENTENCE_END
                    and not _BLOCK_LINE_RE.match(last)
                    and display_columns(line) >= WRAP_MIN_COLUMNS)
    return "\n".join(out)


def remove_cjk_spaces(text: str) -> str:
    """"青岛 仓库 的 备件" -> "青岛仓库的备件": Chinese puts no space between words."""
    return _CJK_SPACES_RE.sub("", text)


def clean_text(text: str, rejoin_lines: bool = False) -> str:
    """`normalize_whitespace`, then (for PDF text) `rejoin_broken_lines`."""
    text = normalize_whitespace(text)
    return rejoin_broken_lines(text) if rejoin_lines else text
