"""Word (.docx, python-docx): one record per section, named by its heading path.

    [(p.locator, p.header) for p in load_docx(data, "/docs/guide.docx")]
    # [(None, ''), ('Setup', '# Setup'), ('Setup > 安装', '# Setup\\n## 安装')]

Paragraphs and tables are read in document order. A heading (a "Heading N" or "Title" style,
the Chinese "标题 N", or an outline level) starts a new section; the section's text is its
body, and its `header` is the heading path as Markdown headings, which the chunker repeats at
the start of every chunk of the section, so a piece from the middle of "Setup > 安装" still
says where it came from. Tables become Markdown tables, a row per line. Headers, footers,
comments and text boxes are not read.
"""

from __future__ import annotations

import io
import re

from ingest.cleaning import clean_text
from ingest.core.types import PageText
from ingest.loaders.common import LoadError, check_office_zip, corrupt, markdown_table

DOCX_SUFFIXES = frozenset({".docx"})
_HEADING_STYLE = re.compile(r"^(?:heading|标题)\s*(\d)$", re.I)
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def load_docx(data: bytes, source: str) -> list[PageText]:
    import docx
    from docx.table import Table

    check_office_zip(data, "DOCX")
    try:
        document = docx.Document(io.BytesIO(data))
        blocks = list(document.iter_inner_content())
    except Exception as exc:  # python-docx and zipfile raise many kinds on damaged input
        raise corrupt("DOCX", exc) from None

    records: list[PageText] = []
    path: list[tuple[int, str]] = []  # (level, heading) from the top
    body: list[str] = []

    def close_section() -> None:
        text = "\n\n".join(b for b in body if b)
        if text:
            records.append(PageText(
                source=source, page=None, text=text,
                locator=" > ".join(h for _, h in path) or None,
                header="\n".join("#" * min(level, 6) + " " + h for level, h in path)))
        body.clear()

    for block in blocks:
        if isinstance(block, Table):
            body.append(markdown_table([_row_cells(row) for row in block.rows]))
            continue
        text = clean_text(block.text, rejoin_lines=False)
        level = _heading_level(block)
        if level and text:
            close_section()
            while path and path[-1][0] >= level:
                path.pop()
            path.append((level, " ".join(text.split())))
        elif text:
            body.append(_list_marker(block) + text)
    close_section()
    if not records:
        raise LoadError("no text in the file")
    return records


def _heading_level(paragraph) -> int:
    """1.. for a heading paragraph, 0 for body text."""
    name = (paragraph.style.name if paragraph.style is not None else "") or ""
    if name.lower() == "title":
        return 1
    match = _HEADING_STYLE.match(name.strip())
    if match:
        return max(1, int(match.group(1)))
    # Documents from other editors mark headings by outline level instead of a named style.
    ppr = paragraph._p.pPr
    outline = ppr.find(f"{_W}outlineLvl") if ppr is not None else None
    if outline is not None:
        value = outline.get(f"{_W}val", "")
        if value.isdigit() and int(value) < 9:
            return int(value) + 1
    return 0


def _list_marker(paragraph) -> str:
    name = (paragraph.style.name if paragraph.style is not None else "") or ""
    return "- " if "list" in name.lower() else ""


def _row_cells(row) -> list[str]:
    """A row's cells, a merged cell once (python-docx repeats it for every grid column)."""
    cells: list[str] = []
    seen = None
    for cell in row.cells:
        if cell._tc is seen:
            continue
        seen = cell._tc
        cells.append(cell.text)
    return cells
