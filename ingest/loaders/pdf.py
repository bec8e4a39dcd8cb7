"""PDF: one record per page, numbered as a viewer shows them; tables kept as rows; scans OCR'd.

    doc = load_pdf(data, "/docs/report.pdf", ocr="auto", tesseract=Tesseract())
    [(p.page, p.ocr) for p in doc.pages], doc.skipped
    # ([(1, False), (2, True)], [])

pypdf reads the text layer: it is fast, and it rejoins a CJK font's glyphs correctly. It
flattens a table into one cell per line, though, which the line rejoining then turns into word
soup; so a page whose content stream draws lines (the rulings tables are made of) goes to
pdfplumber, which finds ruled tables and returns their rows. Pages that draw no lines, the
bulk of a text PDF, never pay for pdfplumber (bench/loaders.py measures both). Running heads
and feet, page numbers and a table of contents' dotted lines are dropped first, from the text
layer and the scans' OCR alike, and numbered section headings ("2.1 Charging") become
Markdown headings (`ingest.loaders.common.printed_pages`).

A page without a text layer (a scan, or text drawn as outlines) is rendered with pdfium and
read by Tesseract (`ingest.loaders.image`); `ocr="force"` reads every page that way, `"off"`
none. Without Tesseract, such pages are listed in `Document.skipped` and the rest goes in.
"""

from __future__ import annotations

import io
import re

from ingest.cleaning import clean_text, normalize_whitespace
from ingest.core.types import Document, PageText
from ingest.loaders.common import LoadError, markdown_table, printed_pages
from ingest.loaders.image import Tesseract
from ingest.settings import OcrMode

PDF_SUFFIXES = frozenset({".pdf"})
# A scan is rendered at its own resolution, so its pixels reach Tesseract unresampled (a 200-dpi
# scan read at 200 dpi: character F1 1.00; rendered at 300: 0.995 and 40% slower), within
# these bounds; a page with no image (text drawn as outlines) at the resolution Tesseract
# is trained for.
OCR_DPI = 300
OCR_DPI_RANGE = (200, 400)
# A page with less text than this and an image on it is treated as a scan with a stamp (a page
# number, a Bates label) on top.
_STAMP_CHARS = 20
# Path operators that draw straight lines and rectangles: "x y l", "x y w h re".
_RULING_RE = re.compile(rb"[\d.]\s+(?:l|re)\s")


def load_pdf(data: bytes, source: str, ocr: OcrMode, tesseract: Tesseract) -> Document:
    """The pages that have text, and the scanned pages read by OCR (see the module doc)."""
    reader = _open(data)
    num_pages = len(reader.pages)
    layer: dict[int, str] = {}  # the text layer, page by page, its lines as pypdf gives them
    tabled: set[int] = set()  # pages that draw lines: ruled tables, maybe
    scans: list[int] = []  # page numbers for OCR
    broken = 0
    for number, page in enumerate(reader.pages, start=1):
        if ocr == "force":  # OCR for every page; the text layer where OCR finds nothing
            scans.append(number)
        try:
            raw = page.extract_text() or ""  # None for pages with no content stream
        except Exception:  # one damaged page should not lose the rest of the document
            broken += 1
            continue
        raw = normalize_whitespace(raw)
        if ocr != "force" and raw and _draws_lines(page):
            tabled.add(number)
        if ocr != "force" and len(raw) < _STAMP_CHARS and (not raw or _has_image(page)):
            scans.append(number)
        if raw:
            layer[number] = raw

    skipped: list[str] = []
    why = ""  # why scanned pages were not read, if they were not
    scanned: dict[int, str] = {}
    if scans and ocr == "off":
        why = "needs OCR (--ocr is off)"
    elif scans:
        why = tesseract.missing() or ""
        if not why:
            scanned, failures = _ocr_pages(data, scans, tesseract)
            skipped += failures
    if why:
        what = "not read by OCR (--ocr force)" if ocr == "force" else "no text layer (scanned)"
        skipped.append(f"{_pages(scans)}: {what}: {why}")
    # A stamp on a scan is shorter than the scan's text; under "force" OCR always wins.
    read_by_ocr = {n for n, text in scanned.items()
                   if text and (ocr == "force" or len(text) > len(layer.get(n, "")))}
    raw_pages = {n: scanned[n] if n in read_by_ocr else layer[n]
                 for n in range(1, num_pages + 1) if n in read_by_ocr or n in layer}
    pages: list[PageText] = []
    plumber = _Plumber(data)
    try:
        for number, (text, dropped) in zip(raw_pages, printed_pages(list(raw_pages.values())),
                                           strict=True):
            if number in tabled and number not in read_by_ocr and text:
                text = plumber.page_with_tables(number, dropped) or text
            if text:
                pages.append(PageText(source=source, page=number, text=text,
                                      ocr=number in read_by_ocr))
    finally:
        plumber.close()
    if not pages:
        if broken == num_pages:
            raise LoadError("corrupt PDF: no page could be parsed")
        if why:
            raise LoadError(f"no text layer in {num_pages} page(s) (scanned or image-only "
                            f"PDF): {why}")
        if skipped:  # every OCR attempt failed
            raise LoadError(f"no text layer in {num_pages} page(s); OCR failed: {skipped[0]}")
        raise LoadError(f"no text layer in {num_pages} page(s) (scanned or image-only PDF), "
                        "and OCR found no text on them")
    return Document(pages, skipped)


def _open(data: bytes):
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    if not data.lstrip()[:5] == b"%PDF-":
        raise LoadError("corrupt PDF: no %PDF header (not a PDF, or a damaged one)")
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            # A PDF with only an owner password opens with the empty user password.
            try:
                opened = reader.decrypt("")
            except (NotImplementedError, PdfReadError) as exc:
                raise LoadError(f"encrypted PDF that cannot be opened: {exc}") from None
            if not opened:
                raise LoadError("encrypted PDF (password protected): decrypt it first")
        num_pages = len(reader.pages)
    except LoadError:
        raise
    except Exception as exc:  # pypdf raises many kinds on damaged input; all mean the same here
        raise LoadError(f"corrupt or truncated PDF: {exc}") from None
    if num_pages == 0:
        raise LoadError("corrupt PDF: it has no pages")
    return reader


def _pages(numbers: list[int]) -> str:
    listed = ", ".join(map(str, numbers[:10])) + (", ..." if len(numbers) > 10 else "")
    return f"page {listed}" if len(numbers) == 1 else f"pages {listed}"


def _streams(page) -> list:
    contents = page.get("/Contents")
    if contents is None:
        return []
    contents = contents.get_object()
    return [s.get_object() for s in contents] if isinstance(contents, list) else [contents]


def _draws_lines(page) -> bool:
    """Whether the page's own content stream draws straight lines or rectangles."""
    try:
        return any(_RULING_RE.search(s.get_data()) for s in _streams(page))
    except Exception:  # an unreadable stream: no tables from it either
        return False


def _has_image(page) -> bool:
    try:
        xobjects = page["/Resources"].get_object().get("/XObject")
        if xobjects is None:
            return False
        return any(x.get_object().get("/Subtype") == "/Image"
                   for x in xobjects.get_object().values())
    except Exception:
        return False


class _Plumber:
    """pdfplumber over the same bytes, opened the first time a page needs it."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._pdf = None

    def page_with_tables(self, number: int, furniture: set[str]) -> str | None:
        """The page's text with its ruled tables as Markdown rows, in reading order, without
        the `furniture` lines; None when pdfplumber finds no table there (or cannot read the
        page)."""
        try:
            if self._pdf is None:
                import pdfplumber

                self._pdf = pdfplumber.open(io.BytesIO(self.data))
            return _text_with_tables(self._pdf.pages[number - 1], furniture)
        except Exception:  # pdfplumber is the better reading, not the only one
            return None

    def close(self) -> None:
        if self._pdf is not None:
            self._pdf.close()


def _text_with_tables(page, furniture: set[str]) -> str | None:
    tables = page.find_tables()
    if not tables:
        return None
    boxes = [t.bbox for t in tables]

    def outside(obj) -> bool:
        x = (obj["x0"] + obj["x1"]) / 2
        y = (obj["top"] + obj["bottom"]) / 2
        return not any(x0 <= x <= x1 and top <= y <= bottom for x0, top, x1, bottom in boxes)

    # (top, is_table, text): lines outside the tables, and each table where it starts.
    blocks = [(line["top"], False, line["text"])
              for line in page.filter(outside).extract_text_lines()
              if " ".join(line["text"].split()) not in furniture]
    blocks += [(t.bbox[1], True, markdown_table(t.extract())) for t in tables]
    blocks.sort(key=lambda b: (b[0], b[1]))
    parts: list[str] = []
    lines: list[str] = []
    for _, is_table, text in blocks:
        if not is_table:
            lines.append(text)
            continue
        if lines:
            parts.append(clean_text("\n".join(lines), rejoin_lines=True))
            lines = []
        parts.append(text)
    if lines:
        parts.append(clean_text("\n".join(lines), rejoin_lines=True))
    return "\n\n".join(p for p in parts if p)


def _ocr_pages(data: bytes, numbers: list[int], tesseract: Tesseract
               ) -> tuple[dict[int, str], list[str]]:
    """The OCR lines of the pages `numbers` (`Tesseract.read`; empty for a blank page), and
    the pages that failed, with why."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(data)
    except Exception as exc:
        return {}, [f"{_pages(numbers)}: the scan could not be rendered for OCR ({exc})"]

    def render():  # runs in this thread: pdfium is not thread-safe
        for number in numbers:
            page = pdf[number - 1]
            try:
                dpi = _scan_dpi(page)
                yield page.render(scale=dpi / 72, grayscale=True).to_pil(), dpi
            finally:
                page.close()

    texts: dict[int, str] = {}
    failed: list[str] = []
    try:
        for number, result in zip(numbers, tesseract.read_all(render()), strict=True):
            if isinstance(result, LoadError):
                failed.append(f"page {number}: {result.reason}")
            else:
                texts[number] = result
    finally:
        pdf.close()
    return texts, failed


def _scan_dpi(page) -> int:
    """The resolution of the largest image on the page (the scan), within OCR_DPI_RANGE."""
    import pypdfium2.raw as pdfium_c

    best_area, dpi = 0, OCR_DPI
    try:
        for image in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=1):
            meta = image.get_metadata()
            if meta.width * meta.height > best_area and meta.horizontal_dpi > 0:
                best_area, dpi = meta.width * meta.height, round(meta.horizontal_dpi)
    except Exception:  # no metadata: the default resolution
        return OCR_DPI
    low, high = OCR_DPI_RANGE
    return min(max(dpi, low), high)
