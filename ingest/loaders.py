"""Turn a file's bytes into cleaned page texts, or a `LoadError` that says why not.

    >>> pages = load_bytes(read_bytes(path), str(path))   # one PageText per PDF page with text
    >>> pages[0].page, pages[0].text[:40]
    (1, 'Retrieval-augmented generation combines')
    >>> load_bytes(b"", "/docs/empty.txt")
    Traceback (most recent call last):
    ingest.loaders.LoadError: empty file

pypdf and BeautifulSoup are used directly rather than through LangChain's PyPDFLoader and
BSHTMLLoader: those take a path and raise library-specific errors, and ragqa must hash the very
bytes it parses and tell a user *why* a file failed (encrypted, needs OCR, truncated, ...).
"""

from __future__ import annotations

import codecs
import io
import re
from pathlib import Path

from ingest.cleaning import clean_text
from ingest.text import is_cjk
from ingest.types import IngestError, PageText

PDF_SUFFIXES = frozenset({".pdf"})
TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".text"})
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})
SUPPORTED_SUFFIXES = PDF_SUFFIXES | TEXT_SUFFIXES | HTML_SUFFIXES

_BOMS = (  # longest first: the UTF-32 LE BOM starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# C0 controls other than tab, newline, form feed and carriage return never occur in text.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_HIDDEN_TAGS = ("script", "style", "noscript", "template", "svg", "canvas", "iframe", "object")
_BLOCK_TAGS = ("p", "div", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6",
               "tr", "table", "section", "article", "header", "footer", "nav", "aside", "main",
               "blockquote", "pre", "figure", "figcaption", "hr", "br", "td", "th")


class LoadError(IngestError):
    """One file could not be read; `reason` is what the run's summary lists for it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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


def load_bytes(data: bytes, source: str) -> list[PageText]:
    """Parses the bytes of the file `source` by its suffix into cleaned, non-empty page texts.

    Raises LoadError with a reason a user can act on; never anything else for bad input.
    """
    suffix = Path(source).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        kinds = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise LoadError(f"unsupported file type {suffix or '(no suffix)'!r} (supported: {kinds})")
    if not data.strip():
        raise LoadError("empty file")
    if suffix in PDF_SUFFIXES:
        return load_pdf(data, source)
    text = decode_text(data)
    if suffix in HTML_SUFFIXES:
        text = html_visible_text(text)
    text = clean_text(text, rejoin_lines=False)
    if not text:
        raise LoadError("no text in the file")
    return [PageText(source=source, page=None, text=text)]


def load_pdf(data: bytes, source: str) -> list[PageText]:
    """One PageText per page that has text, numbered from 1 as a PDF viewer shows them."""
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
    pages: list[PageText] = []
    broken = 0
    for number, page in enumerate(reader.pages, start=1):
        try:
            raw = page.extract_text() or ""  # None for pages with no content stream
        except Exception:  # one damaged page should not lose the rest of the document
            broken += 1
            continue
        text = clean_text(raw, rejoin_lines=True)
        if text:
            pages.append(PageText(source=source, page=number, text=text))
    if not pages:
        if broken == num_pages:
            raise LoadError("corrupt PDF: no page could be parsed")
        raise LoadError(f"no text layer in {num_pages} page(s) (scanned or image-only PDF): "
                        "needs OCR")
    return pages


def decode_text(data: bytes) -> str:
    """Bytes of a text file -> str: BOM, else UTF-8, else GB18030 (a superset of GBK), else a guess.

    Raises LoadError for binary data, which decodes "successfully" in many legacy encodings.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return _check_text(data[len(bom):].decode(encoding))
            except UnicodeDecodeError:
                raise LoadError(f"not valid {encoding} despite its byte-order mark") from None
    if b"\x00" in data:
        raise LoadError("binary data, not text (contains NUL bytes)")
    try:
        return _check_text(data.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError:
        text = None
    # Most 8-bit data also decodes as GB18030; accept it only when it reads as Chinese.
    if text is not None and _looks_chinese(text):
        return _check_text(text)
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise LoadError("binary data, not text (no text encoding fits)")
    return _check_text(str(best))


def _looks_chinese(text: str) -> bool:
    non_ascii = [ch for ch in text if ord(ch) > 127]
    cjk = sum(1 for ch in non_ascii if is_cjk(ch))
    return bool(non_ascii) and cjk / len(non_ascii) >= 0.95


def _check_text(text: str) -> str:
    if len(_CONTROL_RE.findall(text[:100_000])) > max(2, len(text[:100_000]) // 200):
        raise LoadError("binary data, not text (control characters)")
    return text


def html_visible_text(html: str) -> str:
    """What a browser shows: no scripts, styles, comments or hidden elements; blocks as lines."""
    from bs4 import BeautifulSoup, Comment

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(_HIDDEN_TAGS):
        tag.decompose()
    for tag in soup.find_all(attrs={"hidden": True}):
        tag.decompose()
    for tag in soup.find_all(style=re.compile(r"display\s*:\s*none", re.I)):
        tag.decompose()
    for comment in soup.find_all(string=lambda s: isinstance(s, Comment)):
        comment.extract()
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    if soup.head:
        soup.head.decompose()
    # Line breaks only between blocks: "<p>a <b>bold</b> word</p>" stays one line.
    for tag in soup.find_all(_BLOCK_TAGS):
        tag.insert_before("\n")
        tag.insert_after("\n")
    body = soup.get_text("")
    return f"{title}\n\n{body}" if title else body
