"""What both kinds of store share: where an index lives, its manifest, the interface.

    index = open_store(parse_location("indexes/kb"))   # `ingest.store`: an IndexStore
    rows, scores = index.search_vectors(query_vector, depth=10)
    index.get_chunks(rows.tolist())[0].source

Two stores implement it: the index directory (`ingest.store.local`, FAISS + SQLite + bm25s,
the embedded default) and PostgreSQL with pgvector (`ingest.store.postgres`). Retrieval,
`ragqa info`, the UI and the API read through `IndexStore`; `Ingestor` writes through an
`IndexTarget`, which hands out one `WriteSession` per run under the store's writer lock.
Both write the same `Manifest` and list their files as `FileRecord`s.

A PostgreSQL location is a libpq URL, the Unix-socket form included
(`postgresql://postgres@/postgres?host=/run/pg`). The password never goes in it, where it
would sit in shell history and process lists: libpq reads PGPASSWORD or ~/.pgpass.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Generic, Protocol, TypeVar
from urllib.parse import parse_qs, urlsplit

import numpy as np

from ingest.core.errors import RagqaError
from ingest.core.types import Chunk, FileEntry, IndexOpenError, IngestError

PG_SCHEMES = ("postgresql://", "postgres://")
Location = Path | str  # a directory, or a postgresql:// URL (see parse_location)
FORMAT_VERSION = 3
# Format 1 lacks the columns chunks.locator, chunks.ocr and files.skipped; it reads as if they
# were NULL, 0 and NULL, so an index built before them needs no re-ingest. Format 2 lacks
# files.metadata: its files read with the metadata their path and date tell
# (`ingest.core.metadata.legacy_metadata`: no language, no author keys) until re-ingested.
READABLE_FORMATS = (1, 2, 3)
HNSW_M = 32  # the HNSW graph's degree, in FAISS and in pgvector alike


class IndexLocationError(RagqaError):
    """`--index` names no usable place for an index (a bad URL, a password in it)."""


class IndexLockedError(IngestError):
    """Another `ragqa ingest` is writing the same index."""


class DocumentNotFoundError(IngestError):
    """A document named for removal is not in the index."""


def is_postgres_url(location: Location) -> bool:
    return isinstance(location, str) and location.startswith(PG_SCHEMES)


def parse_location(value: Location) -> Location:
    """A checked `postgresql://` URL (str) or a directory (Path).

    Raises IndexLocationError for a URL that carries a password or cannot be parsed."""
    text = str(value)
    if isinstance(value, Path) or not text.startswith(PG_SCHEMES):
        return Path(text).expanduser()
    try:
        parts = urlsplit(text)
        query = parse_qs(parts.query, keep_blank_values=True)
        _ = parts.port  # raises ValueError for a port that is not a number
    except ValueError as exc:
        raise IndexLocationError(f"--index {redact(text)} is not a valid PostgreSQL URL: "
                                 f"{exc}") from None
    if parts.password or "password" in query:
        raise IndexLocationError(
            f"--index {redact(text)}: a password in the URL would show in shell history and "
            "process lists; remove it and set PGPASSWORD or a ~/.pgpass entry instead")
    return text


def redact(url: str) -> str:
    """The URL with any password replaced by ***, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


@dataclass(frozen=True)
class Manifest:
    """manifest.json: what a person (or `ragqa info`) needs to know about an index."""

    format_version: int
    embedding_model: str
    dimension: int
    chunk_size: int
    chunk_overlap: int
    index_type: str
    num_files: int
    num_chunks: int
    created_at: str
    updated_at: str
    generation: str
    # The folder store's deletions since its generation was written: the rows of removed
    # files, still in the generation until it is rewritten, and the file inside the generation
    # that names them (`ingest.store.local.tombstones`). num_files and num_chunks count live
    # files and rows only. PostgreSQL deletes rows outright and leaves these at their defaults;
    # a manifest written before them reads as having none.
    dead_rows: int = 0
    tombstones: str | None = None
    # `ingest.loaders.READING_VERSION` of the ragqa that read the files (0: written before
    # it was recorded); another one has the next ingest read every file again.
    reading_version: int = 0

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict, where: Path) -> Manifest:
        names = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls) if f.default is MISSING}
        missing = sorted(required - data.keys())
        if missing:
            raise IndexOpenError(f"{where}: manifest lacks {', '.join(missing)}")
        return cls(**{k: data[k] for k in names if k in data})


@dataclass(frozen=True)
class FileRecord:
    """One ingested file."""

    source: str
    sha256: str
    num_chunks: int
    ingested_at: str
    first_row: int = 0
    skipped: str | None = None  # parts of the file left out last time, and why
    # `ingest.core.metadata`: path, kind, language, ingested date, the author's own keys
    metadata: dict[str, list[str]] = field(default_factory=dict)


K = TypeVar("K")
V = TypeVar("V")


class AdmittedCache(Generic[K, V]):
    """What a reader keeps per filter (the rows it admits): thread-safe, at most `size`
    entries, emptied when full (filters repeat within a session; a full cache means they do
    not). One rule for both stores.

    >>> cache = AdmittedCache(size=2)
    >>> cache.get("a", lambda: [1, 2]), cache.get("a", lambda: [9])
    ([1, 2], [1, 2])
    """

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._items: dict[K, V] = {}
        self._lock = threading.Lock()

    def get(self, key: K, make: Callable[[], V]) -> V:
        found = self._items.get(key)
        if found is None:
            found = make()
            with self._lock:
                if len(self._items) >= self.size:
                    self._items.clear()
                self._items[key] = found
        return found


def merge_ranges(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """(start, stop) row spans in ascending order, with adjacent ones joined: the rows a
    metadata filter admits, as few slices as the files' consecutive rows allow."""
    merged: list[tuple[int, int]] = []
    for start, stop in spans:
        if merged and merged[-1][1] == start:
            merged[-1] = (merged[-1][0], stop)
        else:
            merged.append((start, stop))
    return merged


def records_named(records: Iterable[FileRecord], sources: Sequence[str],
                  location: str) -> list[FileRecord]:
    """The records of `sources` (each once, in the order named), for a removal; raises
    DocumentNotFoundError for a source that is not among `records`."""
    by_source = {r.source: r for r in records}
    unknown = [s for s in sources if s not in by_source]
    if unknown:
        raise DocumentNotFoundError(f"{unknown[0]} is not in the index {location}; "
                                    "`ragqa docs list` shows what is")
    return [by_source[s] for s in dict.fromkeys(sources)]


def check_embedder(manifest: Manifest, where: Path, model: str,
                   dimension: int | None = None) -> None:
    """Vectors from two different models are not comparable: refuse instead of returning noise.

    `dimension` None checks the name alone (before the model is loaded, which takes seconds).
    """
    if model != manifest.embedding_model or dimension not in (None, manifest.dimension):
        given = model if dimension is None else f"{model!r} ({dimension}-d)"
        raise IndexOpenError(
            f"index {where} was built with embedding model {manifest.embedding_model!r} "
            f"({manifest.dimension}-d), not {given}; use --embedding "
            f"{manifest.embedding_model} or ingest into a new --index directory"
        )


class IndexStore(Protocol):
    """A read-only view of one index; a row is a chunk's key in that store."""

    @property
    def manifest(self) -> Manifest: ...

    @property
    def num_chunks(self) -> int: ...

    @property
    def location(self) -> str: ...

    def check_embedder(self, embedder) -> None: ...

    def snapshot(self) -> AbstractContextManager: ...

    def search_vectors(self, query_vector: np.ndarray, depth: int,
                       ef_search: int | None = None) -> tuple[np.ndarray, np.ndarray]: ...

    def search_lexical(self, tokens: Sequence[str],
                       depth: int) -> tuple[np.ndarray, np.ndarray]: ...

    def get_chunks(self, rows: Sequence[int]) -> list[Chunk]: ...

    def vectors_for(self, rows: Sequence[int]) -> np.ndarray: ...

    def files(self) -> list[FileRecord]: ...

    def read_file(self, record: FileRecord) -> FileEntry: ...

    def size_bytes(self) -> int: ...

    def close(self) -> None: ...


class WriteSession(Protocol):
    """One ingest run's writes, from `IndexTarget.begin` to `finish` or `abort`."""

    def keep(self, records: Sequence[FileRecord]) -> None:
        """These indexed files are unchanged and stay as they are."""

    def resumed(self, source: str, sha256: str) -> FileEntry | None:
        """The file as an interrupted earlier run already embedded it, if it did."""

    def write_batch(self, entries: Sequence[FileEntry]) -> None:
        """Adds (or replaces, by source) whole files; durable when this returns."""

    def finish(self, manifest: Manifest, removed: Sequence[str]) -> None:
        """Drops `removed` and makes everything written the index's committed state."""

    def abort(self) -> None: ...


@dataclass(frozen=True)
class FailedFile:
    """A file the last run that met it could not ingest, and why (the next run retries it)."""

    source: str
    reason: str
    failed_at: str


def updated_failures(old: Mapping[str, FailedFile], failed: Mapping[str, str],
                     cleared: Iterable[str], at: str) -> dict[str, FailedFile]:
    """The failure records after a run: `cleared` sources (ingested, unchanged, removed)
    and files that no longer exist drop out; `failed` ones (source -> reason) are added.

    >>> old = {"/kb/a.pdf": FailedFile("/kb/a.pdf", "encrypted", "2026-12-01")}
    >>> new = updated_failures(old, {"/kb/b.txt": "no text"}, ["/kb/a.pdf"], "2026-12-06")
    >>> sorted(new), new["/kb/b.txt"].reason
    (['/kb/b.txt'], 'no text')
    """
    gone = set(cleared)
    out = {s: f for s, f in old.items() if s not in gone and Path(s).exists()}
    out.update({s: FailedFile(s, reason, at) for s, reason in failed.items()})
    return out


class IndexTarget(Protocol):
    """The write side of a store: its lock, its live state, its write sessions."""

    location: Location

    def failures(self) -> dict[str, FailedFile]:
        """The files that failed to ingest, by source (held under the lock)."""

    def record_failures(self, failures: Mapping[str, FailedFile]) -> None:
        """Replaces the failure records, atomically (under the lock)."""

    def check_writable(self) -> None:
        """Raises now (before a slow model load) when a run could not write here."""

    def lock(self) -> AbstractContextManager: ...

    def open_live(self) -> IndexStore | None: ...

    def begin(self, live: IndexStore | None, template: Manifest,
              strict: bool) -> WriteSession:
        """`template`: the manifest to write (its counts and generation are the session's);
        `strict`: nothing becomes visible unless the whole run finishes."""

    def remove(self, sources: Sequence[str]) -> list[FileRecord]:
        """Drops these indexed files in one commit (under the lock), without copying or
        re-indexing the others, and returns their records. Raises DocumentNotFoundError,
        changing nothing, when one of them is not in the index (or there is no index)."""

    def exclude(self) -> Path | None:
        """A folder that ingest must not read documents from (the index itself)."""
