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

from ingest.core.text import (
    CJK_LETTERS,
    CJK_MARKS,
    CODE_FENCES,
    ENGLISH_STOP_WORDS,
    display_columns,
    has_cjk,
    is_cjk,
)

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
# A numbered section heading on a line of its own ("2.2. The source XML files", "3.1 数据清洗",
# "Chapter 4: Tools", "第三章 训练"): short, so no hard wrap; it is not joined to the lines
# around it, or the heading reads as the opening words of its first sentence.
_NUMBERED_HEADING_RE = re.compile(
    r"^(?:\d{1,2}(?:\.\d{1,2})*\.?|[A-Z]\.\d{1,2}(?:\.\d{1,2})*\.?|chapter \d{1,2}[.:]?|"
    r"第[一二三四五六七八九十\d]{1,3}[章节部分]+)\s*[^\W\d_]", re.I)
_HEADING_COLUMNS = 64
_HEADING_WORDS = 10
# Spaces between two CJK characters, as OCR engines put them between the glyphs they read.
_CJK_SPACES_RE = re.compile(f"(?<=[{CJK_LETTERS}{CJK_MARKS}]) +(?=[{CJK_LETTERS}{CJK_MARKS}])")


def normalize_whitespace(text: str) -> str:
    """One space between words, no trailing spaces, at most one blank line between paragraphs."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n\n")
    text = _INVISIBLE_RE.sub("", text)
    lines = (_SPACES_RE.sub(" ", line).strip() for line in text.split("\n"))
    return _BLANK_LINES_RE.sub("\n\n", "\n".join(lines)).strip()


def is_numbered_heading(line: str) -> bool:
    """A short numbered section heading ("2.2. The source XML files", "第三章 训练"); not a
    line of a narrow column that opens with a number ("3 GPUs were used in", "12 hours
    later the"): its words after the number start with a capital and it ends on no "the".

    >>> is_numbered_heading("2.2. The source XML files"), is_numbered_heading("3 GPUs were used in")
    (True, False)
    """
    m = _NUMBERED_HEADING_RE.match(line)
    if not m or line[-1] in _SENTENCE_END or "," in line \
            or display_columns(line) > _HEADING_COLUMNS or len(line.split()) > _HEADING_WORDS:
        return False
    words = line[m.end() - 1:].split()
    return has_cjk(words[0]) or (words[0][0].isupper()
                                 and words[-1].lower() not in ENGLISH_STOP_WORDS)


def section_level(line: str) -> int | None:
    """The level of a numbered section heading (`is_numbered_heading`): "2.2 Naming" 2,
    "1 Introduction" and "第三章 训练" 1, "第二节 数据" 2; None for any other line, and for
    "1. Install it", which may as well be the first step of a list.

    >>> section_level("2.2. The source XML files"), section_level("1. Install the package")
    (2, None)
    """
    if not is_numbered_heading(line):
        return None
    number = line.split()[0]
    if number.startswith("第"):
        return 2 if "节" in number else 1
    if number.lower() == "chapter":
        return 1
    parts = [p for p in number.rstrip(".:").split(".") if p]
    if len(parts) == 1 and number.endswith("."):
        return None
    return len(parts)


def mark_section_headings(text: str) -> str:
    """`text` (a PDF page, its lines rejoined) with each numbered section heading on a line
    of its own as a Markdown heading of its level, a paragraph apart from the text around it:
    answers and explanations then neither quote it as a sentence's opening words nor read
    past it into the next section (`generation.explain.extract`).

    >>> mark_section_headings("2.2 The source files\\nEach application provides one.")
    '## 2.2 The source files\\n\\nEach application provides one.'
    """
    out: list[str] = []
    for line in text.split("\n"):
        level = section_level(line)
        if level is None:
            out.append(line)
            continue
        if out and out[-1]:
            out.append("")
        out += ["#" * min(level, 6) + " " + line, ""]
    return _BLANK_LINES_RE.sub("\n\n", "\n".join(out)).strip()


def rejoin_broken_lines(text: str) -> str:
    """Joins a line to the next when the break falls inside a sentence, as PDF text has it.

    Blank lines (paragraphs) stay; a line that ends a sentence keeps its break; a next line
    that starts a list item keeps its own line, and a numbered section heading its own.
    Between CJK characters no space is inserted.

    >>> rejoin_broken_lines("2.2 The source files\\nEach application provides one\\nfile.")
    '2.2 The source files\\nEach application provides one file.'
    """
    text = _HYPHEN_BREAK_RE.sub("", text)
    out: list[str] = []
    for line in text.split("\n"):
        prev = out[-1] if out else ""
        if (prev and line and prev[-1] not in _SENTENCE_END
                and not _LIST_ITEM_RE.match(line)
                and not is_numbered_heading(prev) and not is_numbered_heading(line)):
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
