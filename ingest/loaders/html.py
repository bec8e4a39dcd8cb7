"""HTML: what a browser shows (no scripts, styles, comments or hidden elements), one record.

    >>> html_visible_text("<p>a <b>bold</b> word</p><script>x()</script>").strip()
    'a bold word'
    >>> shown = html_visible_text("<p>wrapped in the\\nsource</p><pre>two\\nlines</pre>")
    >>> [line for line in shown.splitlines() if line]
    ['wrapped in the source', 'two', 'lines']
"""

from __future__ import annotations

import re

from ingest.cleaning import clean_text
from ingest.core.text import CJK_LETTERS, CJK_MARKS
from ingest.core.types import PageText
from ingest.furniture import drop_furniture
from ingest.loaders.common import LoadError
from ingest.loaders.text import decode_text

HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})

_HIDDEN_TAGS = ("script", "style", "noscript", "template", "svg", "canvas", "iframe", "object")
_BLOCK_TAGS = ("p", "div", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6",
               "tr", "table", "section", "article", "header", "footer", "nav", "aside", "main",
               "blockquote", "pre", "figure", "figcaption", "hr", "br", "td", "th")
_PREFORMATTED = ("pre", "textarea")  # their line breaks are shown as they are
_CJK = f"{CJK_LETTERS}{CJK_MARKS}"
_CJK_BREAK = re.compile(f"(?<=[{_CJK}])[ \t]*\n\\s*(?=[{_CJK}])")
_SOURCE_SPACE = re.compile(r"\s+")


def load_html(data: bytes, source: str) -> list[PageText]:
    text = drop_furniture(clean_text(html_visible_text(decode_text(data)), rejoin_lines=False))
    if not text:
        raise LoadError("no text in the file")
    return [PageText(source=source, page=None, text=text)]


def html_visible_text(html: str) -> str:
    """What a browser shows: no scripts, styles, comments or hidden elements; blocks as lines."""
    from bs4 import BeautifulSoup, Comment, Declaration, Doctype, ProcessingInstruction

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(_HIDDEN_TAGS):
        tag.decompose()
    for tag in soup.find_all(attrs={"hidden": True}):
        tag.decompose()
    for tag in soup.find_all(style=re.compile(r"display\s*:\s*none", re.I)):
        tag.decompose()
    # Comments and the markup's own declarations ("<!DOCTYPE HTML PUBLIC …>", "<?xml …?>")
    # are strings to the parser, never shown.
    unseen = (Comment, Declaration, Doctype, ProcessingInstruction)
    for node in soup.find_all(string=lambda s: isinstance(s, unseen)):
        node.extract()
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    if soup.head:
        soup.head.decompose()
    # A browser shows a line break in the source as a space (none between two CJK
    # characters): a hard-wrapped paragraph is one line, as it reads. <pre> keeps its lines.
    for node in soup.find_all(string=True):
        if node.find_parent(_PREFORMATTED) is None and "\n" in node:
            node.replace_with(_SOURCE_SPACE.sub(" ", _CJK_BREAK.sub("", str(node))))
    # Line breaks only between blocks: "<p>a <b>bold</b> word</p>" stays one line.
    for tag in soup.find_all(_BLOCK_TAGS):
        tag.insert_before("\n")
        tag.insert_after("\n")
    body = soup.get_text("")
    return f"{title}\n\n{body}" if title else body
