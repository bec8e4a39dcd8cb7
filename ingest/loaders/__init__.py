"""Turn a file's bytes into cleaned records (`PageText`), or a `LoadError` that says why not.

    pages = load_bytes(read_bytes(path), str(path))   # one PageText per PDF page with text
    pages[0].page, pages[0].text[:40]
    # (1, 'Retrieval-augmented generation combines')
    doc = load_document(data, "/scans/memo.pdf", ocr="auto")
    doc.pages[0].ocr, doc.skipped          # scanned pages read by Tesseract, or listed
    # (True, [])
    load_bytes(b"", "/docs/empty.txt")
    # Traceback (most recent call last):
    # ingest.loaders.common.LoadError: empty file

One small module per kind: `text` (.txt/.md, encodings), `html`, `pdf` (pypdf, pdfplumber for
ruled tables, OCR for scans), `image` (Tesseract OCR), `docx`, `pptx`, `spreadsheet` (.xlsx,
.csv). The libraries are used directly rather than through LangChain's loaders: those take a
path and raise library-specific errors, and ragqa must hash the very bytes it parses and tell
a user *why* a file failed (encrypted, needs OCR, truncated, ...). `SUPPORTED_SUFFIXES` is the
one list of kinds; uploads accept exactly these.
"""

from __future__ import annotations

from pathlib import Path

from ingest.core.types import Document, PageText
from ingest.loaders.common import LoadError
from ingest.loaders.docx import DOCX_SUFFIXES, load_docx
from ingest.loaders.html import HTML_SUFFIXES, html_visible_text, load_html
from ingest.loaders.image import IMAGE_SUFFIXES, Tesseract, load_image
from ingest.loaders.pdf import PDF_SUFFIXES, load_pdf
from ingest.loaders.pptx import PPTX_SUFFIXES, load_pptx
from ingest.loaders.spreadsheet import CSV_SUFFIXES, XLSX_SUFFIXES, load_csv, load_xlsx
from ingest.loaders.text import TEXT_SUFFIXES, decode_text, load_text
from ingest.settings import OCR_MODES, OcrMode

# Kinds read without OCR: suffix -> loader(data, source) -> records.
_LOADERS = {
    **dict.fromkeys(HTML_SUFFIXES, load_html),
    **dict.fromkeys(DOCX_SUFFIXES, load_docx),
    **dict.fromkeys(PPTX_SUFFIXES, load_pptx),
    **dict.fromkeys(XLSX_SUFFIXES, load_xlsx),
    **dict.fromkeys(CSV_SUFFIXES, load_csv),
}
SUPPORTED_SUFFIXES = frozenset(_LOADERS) | TEXT_SUFFIXES | PDF_SUFFIXES | IMAGE_SUFFIXES
# How files are read into text: raised whenever a loader or the cleaning gives an unchanged
# file other text (1: reST headings and code blocks, web page furniture dropped; 2: a PDF's
# running heads, page numbers and contents lines dropped, its numbered sections headings;
# 3: the same for scanned pages read by OCR and a multi-page image's frames).
# An index records the version its files were read with (`Manifest.reading_version`, 0 before
# it was recorded); the next ingest into an index of another version reads all of its files
# again, so an upgrade reaches the documents already in it.
READING_VERSION = 3

__all__ = ["READING_VERSION", "SUPPORTED_SUFFIXES", "LoadError", "Tesseract", "decode_text",
           "html_visible_text", "load_bytes", "load_document", "read_bytes"]


def read_bytes(path: Path) -> bytes:
    """The whole file, or LoadError('unreadable: ...') for a permission or I/O problem."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise LoadError("unreadable: the file does not exist") from None
    except IsADirectoryError:
        raise LoadError("unreadable: it is a directory") from None
    except OSError as exc:
        raise LoadError(f"unreadable: {exc.strerror or exc}") from None


def load_document(data: bytes, source: str, ocr: OcrMode = "auto",
                  tesseract: Tesseract | None = None) -> Document:
    """Parses the bytes of the file `source`, by its suffix, into cleaned, non-empty records,
    and lists the parts it left out (scanned pages it could not read) in `skipped`.

    `ocr`: "auto" reads PDF pages without a text layer and image files with `tesseract`
    (default: `Tesseract()`), "off" never, "force" every PDF page. Raises LoadError with a
    reason a user can act on; never anything else for bad input.
    """
    if ocr not in OCR_MODES:
        raise ValueError(f"ocr must be one of {OCR_MODES}, not {ocr!r}")
    suffix = Path(source).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        kinds = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise LoadError(f"unsupported file type {suffix or '(no suffix)'!r} (supported: {kinds})")
    if not data.strip():
        raise LoadError("empty file")
    if suffix in TEXT_SUFFIXES:
        return load_text(data, source)  # with a Markdown file's front matter
    loader = _LOADERS.get(suffix)
    if loader is not None:
        return Document(loader(data, source))
    tesseract = tesseract or Tesseract()
    if suffix in PDF_SUFFIXES:
        return load_pdf(data, source, ocr, tesseract)
    if ocr == "off":
        raise LoadError("an image needs OCR, and --ocr is off")
    return load_image(data, source, tesseract)


def load_bytes(data: bytes, source: str, ocr: OcrMode = "auto",
               tesseract: Tesseract | None = None) -> list[PageText]:
    """The records of `load_document`, without the list of what was left out."""
    return load_document(data, source, ocr, tesseract).pages
