"""Documents as first-class objects of an index, on the folder store and PostgreSQL alike:
list, show, remove, re-ingest (`ragqa docs`, the API's `/v1/indexes/{name}/documents`, the
UI's file list).

    docs = list_documents(Path("indexes/sample"))
    docs[0].id, docs[0].kind, docs[0].chunks          # ('3f2a…', 'pdf', 4)
    remove_documents(settings, Path("indexes/sample"), [docs[0].id])

A document's id is the first 16 hex digits of the SHA-256 of its source path: stable while the
file stays where it is, and the same in every store. Removing and re-ingesting go through the
ingest pipeline's one writer lock and one commit (`ingest.pipeline.Ingestor.remove`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ingest.core.metadata import kind_of
from ingest.core.types import IngestReport
from ingest.pipeline import DocumentNotFoundError, Ingestor
from ingest.settings import IngestSettings
from ingest.store import Location, open_store


@dataclass(frozen=True)
class DocumentInfo:
    id: str
    source: str
    kind: str  # the file's suffix: pdf, md, docx, ...
    pages: int  # distinct pages (PDF) or 1
    chunks: int
    sha256: str
    ingested_at: str
    ocr: bool  # some of its text was read by OCR
    skipped: str | None  # parts left out at ingest, and why
    metadata: dict[str, list[str]]  # `ingest.core.metadata`: what filters match on

    def to_json(self) -> dict:
        return asdict(self)


def document_id(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]


def list_documents(location: Location, details: bool = True) -> list[DocumentInfo]:
    """Every document of the index; `details` reads each one's chunks for pages and OCR."""
    store = open_store(location)
    try:
        with store.snapshot():
            out = []
            for record in store.files():
                pages, ocr = 1, False
                if details:
                    chunks = store.read_file(record).chunks
                    pages = len({c.page for c in chunks}) or 1
                    ocr = any(c.ocr for c in chunks)
                out.append(DocumentInfo(
                    id=document_id(record.source), source=record.source,
                    kind=kind_of(record.source), pages=pages, chunks=record.num_chunks,
                    sha256=record.sha256, ingested_at=record.ingested_at, ocr=ocr,
                    skipped=record.skipped, metadata=record.metadata))
            return out
    finally:
        store.close()


def find_document(documents: Sequence[DocumentInfo], ref: str) -> DocumentInfo:
    """The document `ref` names: its id, its source path, or a file name only it has."""
    resolved = str(Path(ref).expanduser().resolve()) if ref else ref
    for doc in documents:
        if ref in (doc.id, doc.source) or resolved == doc.source:
            return doc
    named = [d for d in documents if Path(d.source).name == ref]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise DocumentNotFoundError(f"{len(named)} documents are called {ref!r}; name one by "
                                    "its id or path (`ragqa docs list`)")
    raise DocumentNotFoundError(f"no document {ref!r} in this index; `ragqa docs list` shows "
                                "what is there")


def remover(location: Location, settings: IngestSettings) -> Ingestor:
    """An Ingestor that can only remove: no embedding model is loaded for it."""
    return Ingestor(location, None, settings)


def remove_documents(ingestor, refs: Sequence[str]) -> IngestReport:
    """Removes the documents `refs` name (ids, paths or unique file names) in one commit."""
    docs = list_documents(ingestor.target.location, details=False)
    return ingestor.remove([find_document(docs, ref).source for ref in refs])


def reingest_document(ingestor, ref: str) -> IngestReport:
    """Loads, chunks and embeds one document again from its file (which must still exist)."""
    doc = find_document(list_documents(ingestor.target.location, details=False), ref)
    if not Path(doc.source).is_file():
        raise DocumentNotFoundError(f"{doc.source} no longer exists; `ragqa docs rm "
                                    f"{doc.id}` removes it from the index")
    return ingestor.ingest([Path(doc.source)], force=True)
