"""Page furniture: the lines a web page or a copied article carries that are no one's answer.

    >>> page = "\\n".join(["首页 > 技术 > 大模型", "LLM 入门", "分享到：微信 微博", "目录",
    ...                    "1. 简介", "2. 训练", "1. 简介", "大模型在2022年兴起。", "返回顶部"])
    >>> print(drop_furniture(page))
    LLM 入门
    1. 简介
    大模型在2022年兴起。

Dropped, each only as a short line of its own (a sentence that mentions them stays):
- breadcrumbs: "首页 > 百科 > 条目", "Home › Docs › Install" (three or more short parts);
- share, print and navigation lines: "分享到：微信 微博", "Share: Twitter Facebook",
  "返回顶部", "Back to top", "上一篇 下一篇", "← Previous | Next →";
- a table of contents: a "目录" / "Contents" line and the short numbered or heading-like lines
  under it (up to a blank line, a line of prose, or an entry met a second time), or the
  whole contents flattened onto one line with no sentence ending;
- a short line of plain text repeated three times or more (a page header or the title on
  every page) after its first appearance; never a Markdown heading, table row or list item.
Nothing inside a fenced code block is touched.
These lead answers when left in ("目录 1 LLM基础知识 1.1 LLM介绍 …" quoted as an explanation).

A printed document's pages carry their own (`page_furniture`, for PDF pages before their
lines are rejoined): a running head or foot (the same line, its numbers aside, first or last
on three pages or more: "Shared MIME-info Database", "Chapter 2: ASN.1 structure handling
4"), kept only on the first page (a title); a page number first or last on a page ("4",
"iii", "- 4 -", "Page 4 of 9", "第 4 页"); and a table of contents' dotted lines ("2.1 ASN.1
syntax . . . . . 2") with the "Contents" line over them. Left in, they are glued to the text
around them when lines are rejoined ("4 2.3 Simple parsing For simple types …").

    >>> pages = ["Kestrel Manual\\nContents\\n1 Charging . . . . . 2\\n1", "Kestrel Manual\\n"
    ...          "Charge it for 2 hours.\\n2", "Kestrel Manual\\nStore it dry.\\n3"]
    >>> [sorted(lines) for lines in page_furniture(pages)]
    [[1, 2, 3], [0, 2], [0, 2]]
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from ingest.core.text import CODE_FENCES, display_columns

SHORT_COLUMNS = 40  # a line this narrow (a CJK character counts two) can be furniture
_BREADCRUMB_SPLIT = re.compile(r"\s*(?:>|›|»|→|/|\\)\s*")
# A navigation line is made of these words only (and separators), or starts with one of the
# labels below and a colon ("上一篇：…", "Share: …"); a sentence that uses them is prose.
_NAV_WORD_LIST = (
    "分享到 分享 收藏 打印 举报 评论 点赞 微信 微博 朋友圈 qq qq空间 豆瓣 知乎 返回顶部 回到顶部 "
    "返回首页 返回 上一篇 下一篇 上一页 下一页 相关阅读 相关文章 推荐阅读 share this on twitter "
    "facebook linkedin email reddit x weibo wechat back to top print page previous next prev "
    "related reading articles posts ← → ↑ « » |")
_NAV_WORDS = frozenset(_NAV_WORD_LIST.split())
_NAV_LABEL_RE = re.compile(r"^(?:分享到|分享|上一篇|下一篇|相关阅读|相关文章|推荐阅读|"
                           r"share(?: this)?|related (?:reading|articles|posts))\s*[:：]", re.I)
_NAV_SPLIT_RE = re.compile(r"[\s|/·,，:：、]+")
_CONTENTS_RE = re.compile(r"^(?:目录|文章目录|本文目录|contents|table of contents|on this page)"
                          r"\s*[:：]?$", re.I)
# A table of contents flattened onto one line ("目录 1 LLM基础知识 1.1 LLM介绍 …", as copied
# from a web page): a contents label, then numbered entries, and no sentence ending.
_FLAT_CONTENTS_RE = re.compile(r"^(?:目录|文章目录|本文目录|contents|table of contents)\s*[:：]?\s*"
                               r"(?:[\d一二三四五六七八九十]+[.、]?\d*\s*\S)", re.I)
_SENTENCE_END_RE = re.compile(r"[。！？!?]|\.(?:\s|$)")
# Markdown structure (headings, table rows, quotes, list items) repeats by design.
_MARKUP_RE = re.compile(r"^(?:#|\||>|[-*+]\s|\d+[.)]\s)")
_ENTRY_RE = re.compile(r"^(?:[\d一二三四五六七八九十]+(?:[.、)）]|\.\d+)*\s*\S|[-*•·]\s*\S|#)")


def _is_breadcrumb(line: str) -> bool:
    """Three or more short parts joined by ">", "›" or "»" (not "/": paths are content)."""
    parts = [p for p in _BREADCRUMB_SPLIT.split(line) if p]
    return (len(parts) >= 3 and any(sep in line for sep in ">›»")
            and all(display_columns(p) <= 24 for p in parts))


def _is_nav(line: str) -> bool:
    words = [w for w in _NAV_SPLIT_RE.split(line.lower()) if w]
    return bool(words) and (all(w in _NAV_WORDS for w in words) or bool(_NAV_LABEL_RE.match(line)))


def drop_furniture(text: str) -> str:
    """`text` without the lines the module docstring lists; everything else untouched."""
    lines = text.split("\n")
    stripped = [line.strip() for line in lines]
    short = Counter(s for s in stripped if s and display_columns(s) <= SHORT_COLUMNS)
    seen: set[str] = set()
    out: list[str] = []
    in_contents, entries, fenced = False, set(), False
    for line, s in zip(lines, stripped, strict=True):
        if s.startswith(CODE_FENCES):
            fenced = not fenced
        if fenced or s.startswith(CODE_FENCES):  # code is never furniture
            out.append(line)
            continue
        if in_contents:
            # The contents end at a blank line, a line of prose, or the first heading that
            # repeats one of its entries (the text itself begins).
            if (s and display_columns(s) <= SHORT_COLUMNS and _ENTRY_RE.match(s)
                    and s not in entries):
                entries.add(s)
                continue
            in_contents = False
        if not s:
            out.append(line)
            continue
        narrow = display_columns(s) <= SHORT_COLUMNS
        if narrow and _CONTENTS_RE.match(s):
            in_contents, entries = True, set()
            continue
        if _FLAT_CONTENTS_RE.match(s) and not _SENTENCE_END_RE.search(s):
            continue
        if narrow and (_is_breadcrumb(s) or _is_nav(s)):
            continue
        if narrow and short[s] >= 3 and s in seen and not _MARKUP_RE.match(s) \
                and any(ch.isalpha() for ch in s):
            continue
        seen.add(s)
        out.append(line)
    return "\n".join(out)


# A page's first and last lines this many deep (past blank ones) can be its head or foot.
EDGE_LINES = 2
# A line is a running head or foot when it is at an edge of this many pages or more.
RUNNING_PAGES = 3
_PAGE_NUMBER_RE = re.compile(r"^(?:[-–—]\s*)?(?:page\s+|p\.\s*)?(?:\d{1,4}|[ivxlcdm]{1,7})"
                             r"(?:\s*(?:/|of)\s*\d{1,4})?(?:\s*[-–—])?$|"
                             r"^第\s*\d{1,4}\s*页(?:\s*[,，/]?\s*共\s*\d{1,4}\s*页)?$", re.I)
# A contents entry with its dot (or ellipsis) leader and page number.
_LEADER_RE = re.compile(r"(?:[.·•…]\s?){4,}\s*(?:\d{1,4}|[ivxlcdm]{1,7})$", re.I)
_DIGITS_RE = re.compile(r"\d+")


def page_furniture(pages: Sequence[str]) -> list[set[int]]:
    """Per page, the indices of its lines (`text.split("\\n")`) that are page furniture:
    running heads and feet, page numbers and contents lines (the module docstring)."""
    lines = [[line.strip() for line in text.split("\n")] for text in pages]
    edges = []
    for page in lines:
        filled = [i for i, line in enumerate(page) if line]
        edges.append(sorted(set(filled[:EDGE_LINES] + filled[-EDGE_LINES:])))
    keys = [{i: _running_key(page[i]) for i in idx} for page, idx in zip(lines, edges,
                                                                          strict=True)]
    pages_with = Counter(k for page in keys for k in set(page.values()))
    dropped: list[set[int]] = []
    for number, (page, page_keys) in enumerate(zip(lines, keys, strict=True)):
        drop = {i for i, k in page_keys.items() if _PAGE_NUMBER_RE.match(page[i])
                or (number > 0 and pages_with[k] >= RUNNING_PAGES
                    and display_columns(page[i]) <= 2 * SHORT_COLUMNS
                    and not _SENTENCE_END_RE.search(page[i][-1]))}
        leaders = {i for i, line in enumerate(page) if _LEADER_RE.search(line)}
        if leaders:
            drop |= leaders | {i for i, line in enumerate(page) if _CONTENTS_RE.match(line)}
        dropped.append(drop)
    return dropped


def _running_key(line: str) -> str:
    """A line with its numbers masked: a running head's page number changes, its words not."""
    return _DIGITS_RE.sub("#", " ".join(line.lower().split()))
