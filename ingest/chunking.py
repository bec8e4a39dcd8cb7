"""Split page texts into overlapping chunks on Chinese and English sentence boundaries.

    >>> chunker = Chunker(chunk_size=800, chunk_overlap=120)
    >>> chunks = chunker.split(PageText("/docs/a.pdf", 3, text), file_sha256="9f2c…")
    >>> chunks[0].page, chunks[0].start_char, chunks[0].chunk_id
    (3, 0, '5d41402abc4b2a76')

LangChain's RecursiveCharacterTextSplitter does the splitting: paragraphs first, then lines,
then sentences (。！？；… and . ! ?), then clauses, then words. Sentence punctuation stays at
the end of its sentence (keep_separator="end"), so a chunk never starts with a stray "。".
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from langchain_text_splitters import RecursiveCharacterTextSplitter

from ingest.types import Chunk, PageText

# Coarse to fine. English sentence marks carry their space so that "3.14" and "e.g." hold.
SEPARATORS = [
    "\n\n", "\n",
    "。", "！", "？", "；", "…",
    ". ", "! ", "? ", "; ",
    "，", "、", ", ", " ",
    "",
]


def chunk_id(file_sha256: str, page: int | None, start_char: int) -> str:
    """Stable across runs: the same bytes give the same ids wherever the file lies."""
    key = f"{file_sha256}:{page or 0}:{start_char}".encode()
    return hashlib.sha256(key).hexdigest()[:16]


class Chunker:
    """Splits `PageText`s into `Chunk`s of at most `chunk_size` characters.

    Args:
        chunk_size: the most characters in one chunk (> 0).
        chunk_overlap: characters neighbouring chunks may share (0 <= overlap < chunk_size).
    """

    def __init__(self, chunk_size: int = 800, chunk_overlap: int = 120) -> None:
        if chunk_size <= 0:
            raise ValueError(f"chunk_size must be greater than 0, not {chunk_size}")
        if not 0 <= chunk_overlap < chunk_size:
            raise ValueError(f"chunk_overlap must be at least 0 and less than chunk_size "
                             f"({chunk_size}), not {chunk_overlap}")
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self._splitter = RecursiveCharacterTextSplitter(
            separators=SEPARATORS, keep_separator="end", chunk_size=chunk_size,
            chunk_overlap=chunk_overlap, strip_whitespace=True,
        )

    def split(self, page: PageText, file_sha256: str) -> list[Chunk]:
        """The chunks of one page, in order, each with its offset in `page.text`."""
        text = page.text
        chunks: list[Chunk] = []
        prev_start, prev_len = 0, 0
        for piece in self._splitter.split_text(text):
            # A chunk starts at most `chunk_overlap` characters before the previous one ended.
            start = text.find(piece, max(0, prev_start + prev_len - self.chunk_overlap))
            if start < 0:  # repeated text can defeat the shortcut; search from the last start
                start = text.find(piece, prev_start)
            start = max(start, 0)
            chunks.append(Chunk(chunk_id=chunk_id(file_sha256, page.page, start), text=piece,
                                source=page.source, page=page.page, start_char=start))
            prev_start, prev_len = start, len(piece)
        return chunks

    def split_pages(self, pages: Iterable[PageText], file_sha256: str) -> list[Chunk]:
        return [c for page in pages for c in self.split(page, file_sha256)]

