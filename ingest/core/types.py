"""Plain values passed between ingestion and the stages after it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ingest.core.errors import RagqaError

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class PageText:
    """The cleaned text of one record of a file: a PDF page, a slide, a Word section, a block
    of spreadsheet rows, or a whole text/Markdown/HTML file."""

    source: str  # resolved absolute path of the file
    page: int | None  # 1-based page (PDF) or slide (PowerPoint) number; None for other kinds
    text: str
    # Where in the file, for citations, when a page number does not say it: "slide 3", a Word
    # heading path "Setup > Install", a sheet "sheet Revenue" (the chunker adds the rows).
    locator: str | None = None
    # Repeated at the start of every chunk of this record, so that a section's heading path
    # or a slide's title travels with each piece of it.
    header: str = ""
    # A table: the source row number of each line of `text`; chunks then hold whole rows.
    rows: tuple[int, ...] = ()
    ocr: bool = False  # the text was read from an image by OCR


@dataclass(frozen=True)
class Document:
    """What a loader made of one file: its records, and the parts it had to leave out."""

    pages: list[PageText]
    skipped: list[str] = field(default_factory=list)  # "pages 2, 3: ..." in a user's words
    # What the file says about itself (Markdown front matter), `ingest.core.metadata` form.
    metadata: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Chunk:
    """A piece of a document, the unit that is embedded, indexed and retrieved."""

    chunk_id: str  # stable: derived from the file's content hash, page and offset
    text: str
    source: str
    page: int | None
    start_char: int  # offset of the chunk's text in its record's text (after any header)
    locator: str | None = None  # "sheet Revenue, rows 2-14", "slide 3", "Setup > Install"
    ocr: bool = False  # the text was read from an image by OCR


@dataclass
class FileEntry:
    """One file as a store holds it: its chunks with their vectors and BM25 tokens."""

    source: str
    sha256: str
    ingested_at: str
    chunks: list[Chunk]
    vectors: np.ndarray  # float32 (len(chunks), dimension), unit rows
    tokens: list[list[str]]  # `ingest.core.text.tokenize` of each chunk's text
    skipped: str | None = None  # parts of the file left out, and why
    metadata: dict[str, list[str]] = field(default_factory=dict)  # `ingest.core.metadata`


@dataclass(frozen=True)
class FileFailure:
    """A file (or part of one) that could not be ingested, and why, in words a user can act on."""

    source: str
    reason: str


@dataclass
class IngestReport:
    """What one `ragqa ingest` run did."""

    ingested: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    # Of the files loaded: indexed ones read again with the same bytes, because the index was
    # read by another ragqa (`ingest.loaders.READING_VERSION`).
    reread: list[str] = field(default_factory=list)
    failed: list[FileFailure] = field(default_factory=list)
    # Files that went in with parts left out (scanned pages without Tesseract, say), and why.
    partial: list[FileFailure] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # files dropped by --sync or replaced
    chunks_added: int = 0
    chunks_removed: int = 0
    # Of the chunks added: embedded by this run, and taken from an interrupted run's journal.
    chunks_embedded: int = 0
    chunks_resumed: int = 0
    seconds: float = 0.0


class IngestError(RagqaError):
    """An expected failure that stops an ingestion run (the CLI prints it as one line)."""


class IndexOpenError(RagqaError):
    """The index directory cannot be opened: missing, corrupt, or built with another embedder."""
