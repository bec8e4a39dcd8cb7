"""PowerPoint (.pptx, python-pptx): one record per slide, cited by its number as a PDF page is.

    [(p.page, p.locator, p.header) for p in load_pptx(data, "/docs/deck.pptx")]
    # [(1, 'slide 1', '# Q3 review'), (3, 'slide 3', '# 华东区')]

A slide's text is its text frames (grouped shapes included) in reading order, top to bottom,
then left to right; its tables as Markdown rows; then its speaker notes. The title is the
record's `header`, so each chunk of a long slide starts with it; a slide that fits the chunk
size is one chunk. Slides with no text (pictures only) are left out.
"""

from __future__ import annotations

import io

from ingest.cleaning import clean_text
from ingest.core.types import PageText
from ingest.loaders.common import LoadError, check_office_zip, corrupt, markdown_table

PPTX_SUFFIXES = frozenset({".pptx"})


def load_pptx(data: bytes, source: str) -> list[PageText]:
    import pptx

    check_office_zip(data, "PPTX")
    try:
        slides = list(pptx.Presentation(io.BytesIO(data)).slides)
    except Exception as exc:  # python-pptx and zipfile raise many kinds on damaged input
        raise corrupt("PPTX", exc) from None
    records: list[PageText] = []
    for number, slide in enumerate(slides, start=1):
        title_shape = slide.shapes.title
        title = " ".join(title_shape.text_frame.text.split()) if title_shape is not None else ""
        parts = [_shape_text(shape) for shape in _reading_order(slide.shapes)
                 if title_shape is None or shape.shape_id != title_shape.shape_id]
        if slide.has_notes_slide:
            notes = clean_text(slide.notes_slide.notes_text_frame.text or "")
            if notes:
                parts.append(f"Notes: {notes}")
        text = "\n\n".join(p for p in parts if p)
        if not text and not title:
            continue
        records.append(PageText(source=source, page=number, text=text or title,
                                locator=f"slide {number}",
                                header=f"# {title}" if title and text else ""))
    if not records:
        raise LoadError("no text in the file")
    return records


def _reading_order(shapes) -> list:
    def position(shape) -> tuple[int, int]:
        return (shape.top or 0, shape.left or 0)

    return sorted(shapes, key=position)


def _shape_text(shape) -> str:
    from pptx.shapes.group import GroupShape

    if isinstance(shape, GroupShape):
        return "\n\n".join(t for s in _reading_order(shape.shapes) if (t := _shape_text(s)))
    if getattr(shape, "has_table", False) and shape.has_table:
        return markdown_table([[cell.text for cell in row.cells] for row in shape.table.rows])
    if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
        return clean_text(shape.text_frame.text)
    return ""
