"""Plain text and Markdown: the encoding detected, the text cleaned, one record per file.

    >>> decode_text("知识库".encode("gbk"))
    '知识库'
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from ingest.cleaning import clean_text, rejoin_wrapped_lines
from ingest.core.metadata import MetadataError, split_front_matter
from ingest.core.text import is_cjk
from ingest.core.types import Document, PageText
from ingest.furniture import drop_furniture
from ingest.loaders.common import LoadError
from ingest.loaders.rst import as_markdown

TEXT_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".text"})
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})

_BOMS = (  # longest first: the UTF-32 LE BOM starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# C0 controls other than tab, newline, form feed and carriage return never occur in text.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def load_text(data: bytes, source: str) -> Document:
    """One record; a Markdown file's front matter becomes its metadata, not text."""
    text, metadata = decode_text(data), {}
    if Path(source).suffix.lower() in MARKDOWN_SUFFIXES:
        try:
            metadata, text = split_front_matter(text, Path(source).name)
        except MetadataError as exc:
            raise LoadError(str(exc)) from None
    text = rejoin_wrapped_lines(drop_furniture(clean_text(as_markdown(text),
                                                           rejoin_lines=False)))
    if not text:
        raise LoadError("no text in the file")
    return Document([PageText(source=source, page=None, text=text)], metadata=metadata)


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
