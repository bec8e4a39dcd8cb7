"""Split page texts into overlapping chunks on Chinese and English sentence boundaries.

    >>> chunker = Chunker(chunk_size=800, chunk_overlap=120)
    >>> chunks = chunker.split(PageText("/docs/a.pdf", 3, "塔高330米。It opened in 1889."),
    ...                        file_sha256="9f2c")
    >>> chunks[0].page, chunks[0].start_char, chunks[0].text
    (3, 0, '塔高330米。It opened in 1889.')

LangChain's RecursiveCharacterTextSplitter does the splitting: paragraphs first, then lines,
then sentences (。！？；… and . ! ?), then clauses, then words. Sentence punctuation stays at
the end of its sentence (keep_separator="end"), so a chunk never starts with a stray "。".

Structure is kept where the loader marks it (`ingest.core.types.PageText`): a record's `header` (a
Word section's heading path, a slide's title) starts every chunk of that record, within the
chunk size; a table record (`rows`) is cut between rows only, never inside a row that fits,
and each chunk names its rows ("sheet Revenue, rows 2-14"). A slide is one record, so a slide
that fits is one chunk.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from langchain_text_splitters import RecursiveCharacterTextSplitter

from ingest.core.types import Chunk, PageText

# Coarse to fine. English sentence marks carry their space so that "3.14" and "e.g." hold.
SEPARATORS = [
    "\n\n", "\n",
    "。", "！", "？", "；", "…",
    ". ", "! ", "? ", "; ",
    "，", "、", ", ", " ",
    "",
]


def chunk_id(file_sha256: str, page: int | None, start_char: int,
             where: str | None = None) -> str:
    """Stable across runs: the same bytes give the same ids wherever the file lies.

    `where` tells apart records that share a page (sections, sheets' row blocks); records
    without a locator (PDF pages, text files) leave it out, so their ids never changed."""
    key = f"{file_sha256}:{page or 0}:{start_char}"
    if where:
        key += f":{where}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


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
        self._splitters: dict[int, RecursiveCharacterTextSplitter] = {}

    def _splitter_for(self, size: int) -> RecursiveCharacterTextSplitter:
        """The splitter for pieces of at most `size` characters (less than the chunk size when
        a header takes its share)."""
        if size not in self._splitters:
            overlap = self.chunk_overlap if size == self.chunk_size else min(self.chunk_overlap,
                                                                             size // 2)
            self._splitters[size] = RecursiveCharacterTextSplitter(
                separators=SEPARATORS, keep_separator="end", chunk_size=size,
                chunk_overlap=overlap, strip_whitespace=True,
            )
        return self._splitters[size]

    def split(self, page: PageText, file_sha256: str, ordinal: int = 0) -> list[Chunk]:
        """The chunks of one record, in order, each with its offset in `page.text`.
        `ordinal` is the record's place in its file (it keeps chunk ids of records apart)."""
        header = _fit_header(page.header, self.chunk_size)
        if page.rows:
            return self._split_rows(page, header, file_sha256, ordinal)
        size = self.chunk_size - len(header) - 1 if header else self.chunk_size
        text = page.text
        chunks: list[Chunk] = []
        prev_start, prev_len = 0, 0
        for piece in self._splitter_for(size).split_text(text):
            # A chunk starts at most `chunk_overlap` characters before the previous one ended.
            start = text.find(piece, max(0, prev_start + prev_len - self.chunk_overlap))
            if start < 0:  # repeated text can defeat the shortcut; search from the last start
                start = text.find(piece, prev_start)
            start = max(start, 0)
            chunks.append(_chunk(page, header, piece, start, page.locator, file_sha256,
                                 ordinal))
            prev_start, prev_len = start, len(piece)
        return chunks

    def _split_rows(self, page: PageText, header: str, file_sha256: str,
                    ordinal: int) -> list[Chunk]:
        """Whole rows packed into chunks; a row longer than a chunk is split on its own."""
        lines = page.text.split("\n")
        if len(lines) != len(page.rows):
            raise ValueError(f"{page.source}: {len(lines)} lines of text but "
                             f"{len(page.rows)} row numbers")
        budget = self.chunk_size - len(header) - 1 if header else self.chunk_size
        chunks: list[Chunk] = []
        group: list[int] = []  # indexes into lines
        starts: list[int] = []
        offset = 0
        for line in lines:
            starts.append(offset)
            offset += len(line) + 1

        def flush() -> None:
            if group:
                first, last = group[0], group[-1]
                body = page.text[starts[first]:starts[last] + len(lines[last])]
                where = _rows_locator(page.locator, page.rows[first], page.rows[last])
                chunks.append(_chunk(page, header, body, starts[first], where, file_sha256,
                                     ordinal))
                group.clear()

        size = 0
        for i, line in enumerate(lines):
            if len(line) > budget:
                flush()
                where = _rows_locator(page.locator, page.rows[i], page.rows[i])
                pos = 0
                for piece in self._splitter_for(budget).split_text(line):
                    pos = max(line.find(piece, pos), pos)
                    chunks.append(_chunk(page, header, piece, starts[i] + pos, where,
                                         file_sha256, ordinal))
                continue
            if group and size + 1 + len(line) > budget:
                flush()
            size = size + 1 + len(line) if group else len(line)
            group.append(i)
        flush()
        return chunks

    def split_pages(self, pages: Iterable[PageText], file_sha256: str) -> list[Chunk]:
        return [c for i, page in enumerate(pages) for c in self.split(page, file_sha256, i)]


def _fit_header(header: str, chunk_size: int) -> str:
    """A header takes at most half a chunk; a longer one is cut."""
    return header[: chunk_size // 2].rstrip() if header else ""


def _rows_locator(locator: str | None, first: int, last: int) -> str:
    rows = f"row {first}" if first == last else f"rows {first}-{last}"
    return f"{locator}, {rows}" if locator else rows


def _chunk(page: PageText, header: str, body: str, start: int, locator: str | None,
           file_sha256: str, ordinal: int) -> Chunk:
    where = f"{ordinal}:{locator}" if locator else None
    return Chunk(chunk_id=chunk_id(file_sha256, page.page, start, where),
                 text=f"{header}\n{body}" if header else body, source=page.source,
                 page=page.page, start_char=start, locator=locator, ocr=page.ocr)

