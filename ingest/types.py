"""Plain values passed between ingestion and the stages after it."""

from __future__ import annotations

from dataclasses import dataclass, field

from ingest.errors import RagqaError


@dataclass(frozen=True)
class PageText:
    """The cleaned text of one page of a PDF, or of a whole text/Markdown/HTML file."""

    source: str  # resolved absolute path of the file
    page: int | None  # 1-based page number for PDFs, None for files without pages
    text: str


@dataclass(frozen=True)
class Chunk:
    """A piece of a document, the unit that is embedded, indexed and retrieved."""

    chunk_id: str  # stable: derived from the file's content hash, page and offset
    text: str
    source: str
    page: int | None
    start_char: int  # offset of the chunk in its page's cleaned text


@dataclass(frozen=True)
class FileFailure:
    """A file that could not be ingested, and why, in words a user can act on."""

    source: str
    reason: str


@dataclass
class IngestReport:
    """What one `ragqa ingest` run did."""

    ingested: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[FileFailure] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # files dropped by --sync or replaced
    chunks_added: int = 0
    chunks_removed: int = 0
    seconds: float = 0.0


class IngestError(RagqaError):
    """An expected failure that stops an ingestion run (the CLI prints it as one line)."""


class IndexOpenError(RagqaError):
    """The index directory cannot be opened: missing, corrupt, or built with another embedder."""
