"""A "web-copied" rendering of an article: the mess of users' files, every gold answer kept.

    >>> para = Paragraph("北海道狼是灰狼的一个亚种，于1889年灭绝。", protected=(Span(14, 19),))
    >>> text = render_messy("北海道狼", [para], seed=0)                 # the same bytes every run
    >>> "1889年" in text
    True
    >>> clean = render_messy("北海道狼", [para], mess=Mess(strength=0.0))
    >>> clean == "北海道狼\\n\\n" + para.text + "\\n"
    True

Users' documents are text copied from web pages, not Wikipedia paragraphs. The kinds of mess
(`KINDS`), each of which `Mess` can switch off:

- `halfwidth`: "，：（）？！；" become ",:()?!;" inside Chinese text.
- `wraps`: hard line breaks mid-sentence at a width of 70-80 columns (a CJK character takes
  two, so 35-40 of them, or 70-80 Latin characters).
- `table`: a page-information table flattened to one cell per line.
- `nav`: a breadcrumb ("首页 > 百科 > …"), a share line ("分享到：微信 微博"), a table of
  contents ("目录", "1. 简介"), "返回顶部".
- `bullets`: a bullet or emoji bullet ("• ", "👉 ", "✅ ", "1）") before a paragraph or
  before each of its sentences.
- `headings`: long paragraphs cut between sentences into a page's shorter ones, the title
  repeated as a header every few of them, a "相关阅读" footer.
- `spacing`: extra blank lines (or none) between blocks, trailing spaces, "　　" indents.

Protected spans (the gold answers' character spans in their paragraph) are never touched:
no character inside one is converted, and no line break or bullet goes inside one, so every
gold answer stays verbatim findable in the rendered text.

The same title, paragraphs, seed and `Mess` give the same text on every machine: the random
stream is `random.Random(seed ^ <SHA-1 of the title>)`, never Python's salted `hash()`. At
strength 0 the rendering is the clean one (title, blank line, paragraphs, one per block).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ingest.core.text import Lang, detect_language, display_columns, is_cjk

Kind = Literal["halfwidth", "wraps", "table", "nav", "bullets", "headings", "spacing"]
KINDS: tuple[Kind, ...] = ("halfwidth", "wraps", "table", "nav", "bullets", "headings",
                           "spacing")


@dataclass(frozen=True)
class Span:
    """Characters `start:end` of a paragraph that must survive verbatim (a gold answer)."""

    start: int
    end: int


@dataclass(frozen=True)
class Paragraph:
    text: str
    protected: tuple[Span, ...] = ()


@dataclass(frozen=True)
class Mess:
    """How messy: `strength` 0 is the clean rendering, 1 the messiest; `kinds` are the kinds
    of mess allowed (all by default)."""

    strength: float = 1.0
    kinds: tuple[Kind, ...] = KINDS

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"strength must be in [0, 1]. Currently, the strength is "
                             f"{self.strength}")
        unknown = [k for k in self.kinds if k not in KINDS]
        if unknown:
            raise ValueError(f"unknown kinds of mess {unknown}; known: {', '.join(KINDS)}")

    def chance(self, kind: Kind, base: float) -> float:
        return base * self.strength if kind in self.kinds else 0.0


def title_seed(title: str) -> int:
    """A stable 64-bit number for the title (SHA-1), to mix into the seed."""
    return int.from_bytes(hashlib.sha1(title.encode("utf-8")).digest()[:8], "big")


def render_messy(title: str, paragraphs: Sequence[Paragraph], seed: int = 0,
                 mess: Mess = Mess()) -> str:
    """The article as a web page copied to a text file (see the module docstring)."""
    rng = random.Random(seed ^ title_seed(title))
    lang = detect_language(title + " " + " ".join(p.text for p in paragraphs[:3]))
    words = _WORDS[lang]
    width = rng.randint(70, 80)
    units = [unit for para in paragraphs for unit in _page_paragraphs(para, rng, mess)]
    blocks: list[list[str]] = []
    if rng.random() < mess.chance("nav", 0.9):
        blocks.append([rng.choice(words.breadcrumbs).format(t=title)])
    blocks.append([title])
    if rng.random() < mess.chance("nav", 0.7):
        blocks.append([rng.choice(words.share)])
    if rng.random() < mess.chance("nav", 0.8):
        blocks.append(_contents(rng, words, len(units)))
    table_after = rng.randrange(len(units)) if units else -1
    with_table = rng.random() < mess.chance("table", 1.0)
    next_heading = rng.randint(1, 3)
    for i, para in enumerate(units):
        if i == next_heading:
            if rng.random() < mess.chance("headings", 1.0):
                blocks.append([rng.choice(words.headings).format(t=title)])
            next_heading = i + rng.randint(2, 4)
        blocks.append(_paragraph_lines(para, rng, mess, lang, width))
        if with_table and i == table_after:
            blocks.append(_flat_table(rng, words, title))
    if rng.random() < mess.chance("headings", 1.0):
        blocks.append([words.related] + [rng.choice(words.bullets[:3]) + r.format(t=title)
                                         for r in rng.sample(words.related_titles, 3)])
    if rng.random() < mess.chance("nav", 0.6):
        blocks.append([rng.choice(words.back)])
    text = _join(blocks, rng, mess)
    for para in paragraphs:
        for span in para.protected:
            # A benchmark that silently lost an answer would measure the renderer, not the reader.
            if para.text[span.start:span.end] not in text:
                raise AssertionError(f"messy rendering of {title!r} lost the protected span "
                                     f"{para.text[span.start:span.end]!r}")
    return text


def _join(blocks: list[list[str]], rng: random.Random, mess: Mess) -> str:
    out = []
    for b, lines in enumerate(blocks):
        if b:
            out.append("\n\n" if rng.random() >= mess.chance("spacing", 0.5)
                       else rng.choice(_SEPARATORS))
        out.append("\n".join(line + rng.choice(_TRAILING)
                             if rng.random() < mess.chance("spacing", 0.15) else line
                             for line in lines))
    return "".join(out) + "\n"


_SEPARATORS = ("\n", "\n\n\n", "\n\n\n\n", "\n \n", "\n\n  \n\n")
_TRAILING = (" ", "  ", "   ", "\t")


# --- one paragraph -------------------------------------------------------------------------

_HALFWIDTH = {"，": ",", "：": ":", "（": "(", "）": ")", "？": "?", "！": "!", "；": ";"}
_SENTENCE_END = frozenset("。！？!?；")
_LATIN_SENTENCE_END = frozenset(".!?")
_CLOSING_QUOTES = frozenset("」』”’")
# A browser does not start a line with closing punctuation, so a copied wrap does not either.
_NO_LINE_START = frozenset("，。、：；！？）」』》〉】”’,.:;!?)]}%")


def _guards(para: Paragraph) -> tuple[bytearray, bytearray]:
    """Characters of a protected span (never changed), and gaps strictly inside one (no line
    break, bullet or cut goes there)."""
    n = len(para.text)
    locked, inside = bytearray(n), bytearray(n + 1)
    for span in para.protected:
        start, end = max(0, span.start), min(n, span.end)
        if end > start:
            locked[start:end] = b"\x01" * (end - start)
            inside[start + 1:end] = b"\x01" * (end - start - 1)
    return locked, inside


def _page_paragraphs(para: Paragraph, rng: random.Random, mess: Mess) -> list[Paragraph]:
    """A long paragraph as the shorter paragraphs of a web page (150-350 characters or more),
    cut between sentences; each keeps the protected spans that fall in it."""
    if len(para.text) < 400 or rng.random() >= mess.chance("headings", 0.8):
        return [para]
    locked, inside = _guards(para)
    target = rng.randint(150, 350)
    groups: list[tuple[int, int]] = []
    for a, b in _sentences(list(para.text), locked, inside):
        if groups and groups[-1][1] - groups[-1][0] < target:
            groups[-1] = (groups[-1][0], b)
        else:
            groups.append((a, b))
    return [Paragraph(para.text[a:b], tuple(Span(s.start - a, s.end - a) for s in para.protected
                                            if a <= s.start and s.end <= b))
            for a, b in groups]


def _paragraph_lines(para: Paragraph, rng: random.Random, mess: Mess, lang: Lang,
                     width: int) -> list[str]:
    n = len(para.text)
    locked, inside = _guards(para)
    chars = list(para.text)
    if rng.random() < mess.chance("halfwidth", 0.8):
        for i, ch in enumerate(chars):
            if ch in _HALFWIDTH and not locked[i] and rng.random() < 0.9:
                chars[i] = _HALFWIDTH[ch]
    pieces = [(0, n)]
    bullet = ""
    if rng.random() < mess.chance("bullets", 0.3):
        bullet = rng.choice(_WORDS[lang].bullets)
        if rng.random() < 0.5:
            pieces = _sentences(chars, locked, inside)
    wrap = rng.random() < mess.chance("wraps", 0.85)
    indent = "\u3000\u3000" if lang == "zh" and rng.random() < mess.chance("spacing", 0.3) \
        else ""
    lines = []
    for k, (a, b) in enumerate(pieces):
        prefix = bullet.format(n=k + 1) if bullet else indent
        ranges = _wrap(chars, a, b, width - display_columns(prefix), locked, inside) if wrap \
            else [(a, b)]
        lines += [("" if j else prefix) + "".join(chars[x:y]) for j, (x, y) in enumerate(ranges)]
    return lines


def _sentences(chars: list[str], locked: bytearray, inside: bytearray) -> list[tuple[int, int]]:
    """(start, end) of each sentence, cut only where no protected span is; a space after a
    Latin sentence is dropped."""
    pieces, start, n = [], 0, len(chars)
    for i in range(1, n):
        if inside[i]:
            continue
        ended = chars[i - 1] in _SENTENCE_END or (
            chars[i - 1] in _CLOSING_QUOTES and i > 1 and chars[i - 2] in _SENTENCE_END)
        if ended and not chars[i].isspace() and chars[i] not in _NO_LINE_START:
            pieces.append((start, i))
            start = i
        elif chars[i - 1] in _LATIN_SENTENCE_END and chars[i] == " " and not locked[i] \
                and i + 1 < n:
            pieces.append((start, i))
            start = i + 1
    pieces.append((start, n))
    return [(a, b) for a, b in pieces if b > a]


def _wrap(chars: list[str], a: int, b: int, width: int, locked: bytearray,
          inside: bytearray) -> list[tuple[int, int]]:
    """(start, end) of each line of chars[a:b] hard-wrapped at `width` columns: at the last
    break before the width (a space, dropped; or between two characters, one of them CJK),
    later when a protected span leaves none."""
    lines, start, col, last = [], a, 0, None
    i = a
    while i < b:
        col += 2 if is_cjk(chars[i]) else 1
        i += 1
        if i < b and not inside[i]:
            if chars[i] == " " and not locked[i]:
                last = (i, i + 1)
            elif (is_cjk(chars[i - 1]) or is_cjk(chars[i])) and not chars[i].isspace() \
                    and not chars[i - 1].isspace() and chars[i] not in _NO_LINE_START:
                last = (i, i)
        if col > width and last is not None:
            end, nxt = last
            if end > start:
                lines.append((start, end))
            start, last = nxt, None
            col = display_columns("".join(chars[start:i]))
    if b > start:
        lines.append((start, b))
    return lines


# --- the page around the article -----------------------------------------------------------

@dataclass(frozen=True)
class _Words:
    breadcrumbs: tuple[str, ...]
    share: tuple[str, ...]
    contents: str
    sections: tuple[str, ...]
    numbering: tuple[str, ...]
    headings: tuple[str, ...]
    bullets: tuple[str, ...]
    related: str
    related_titles: tuple[str, ...]
    back: tuple[str, ...]
    table_captions: tuple[str, ...]
    table_header: tuple[str, str]
    table_fields: tuple[str, str, str, str]  # title, category, updated, views
    categories: tuple[str, ...]


_WORDS: dict[Lang, _Words] = {
    "zh": _Words(
        breadcrumbs=("首页 > 百科 > {t}", "首页 > 知识库 > 词条 > {t}",
                     "当前位置：首页 > 文章 > {t}", "首页 » 资料 » {t}"),
        share=("分享到：微信 微博 QQ空间", "分享到: 微信 微博 豆瓣", "分享 | 收藏 | 打印"),
        contents="目录",
        sections=("简介", "概述", "历史", "发展", "特点", "影响", "评价", "参见", "参考资料"),
        numbering=("{n}. {s}", "{n} {s}", "{n}、{s}"),
        headings=("{t}", "【{t}】", "{t}_百科", "{t} - 知识库"),
        bullets=("• ", "👉 ", "✅ ", "▶ ", "★ ", "· ", "- ", "{n}）", "{n}. "),
        related="相关阅读",
        related_titles=("{t}的历史与现状", "关于{t}你不知道的事", "{t}最新消息", "{t}图片",
                        "如何评价{t}？"),
        back=("返回顶部", "上一篇 下一篇", "本文来源于网络，如有侵权请联系删除"),
        table_captions=("基本信息", "词条信息", "文章信息"),
        table_header=("项目", "内容"),
        table_fields=("标题", "分类", "更新时间", "阅读量"),
        categories=("百科", "科普", "历史", "人物", "地理", "文化"),
    ),
    "en": _Words(
        breadcrumbs=("Home > Docs > {t}", "Home › Wiki › {t}",
                     "You are here: Home / Articles / {t}", "Home » Knowledge base » {t}"),
        share=("Share: Twitter Facebook LinkedIn Email", "Share this: Facebook | X | Reddit",
               "Print | Share | Save"),
        contents="Contents",
        sections=("Introduction", "Overview", "History", "Background", "Features", "Impact",
                  "Reception", "See also", "References"),
        numbering=("{n}. {s}", "{n} {s}", "{n}) {s}"),
        headings=("{t}", "{t} - Wiki", "{t} | Knowledge Base", "[{t}]"),
        bullets=("• ", "👉 ", "✅ ", "▶ ", "- ", "* ", "{n}) ", "{n}. "),
        related="Related reading",
        related_titles=("{t}: a short history", "10 things you did not know about {t}",
                        "{t} in pictures", "What is {t}?", "{t}: latest news"),
        back=("Back to top", "← Previous | Next →", "All content is for reference only."),
        table_captions=("Quick facts", "Article info", "At a glance"),
        table_header=("Field", "Value"),
        table_fields=("Title", "Category", "Updated", "Views"),
        categories=("Encyclopedia", "Science", "History", "People", "Geography", "Culture"),
    ),
}


def _contents(rng: random.Random, words: _Words, n_paragraphs: int) -> list[str]:
    count = max(2, min(n_paragraphs + 1, rng.randint(3, 6)))
    numbering = rng.choice(words.numbering)
    sections = [words.sections[0], *rng.sample(words.sections[1:-1], count - 2),
                words.sections[-1]]
    return [words.contents] + [numbering.format(n=k + 1, s=s) for k, s in enumerate(sections)]


def _flat_table(rng: random.Random, words: _Words, title: str) -> list[str]:
    """A page-information table, one cell per line (as a copied HTML table arrives)."""
    date = f"{rng.randint(2015, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    values = (title, rng.choice(words.categories), date, str(rng.randint(1000, 99999)))
    lines = [rng.choice(words.table_captions)] if rng.random() < 0.5 else []
    lines += list(words.table_header)
    if rng.random() < 0.4:
        lines.append("---")  # what is left of a markdown table's rule
    for field, value in zip(words.table_fields, values, strict=True):
        lines += [field, value]
    return lines
