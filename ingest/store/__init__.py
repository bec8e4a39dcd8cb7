"""Where an index lives: `open_store` and `index_target` pick the store a location names.

    >>> location = parse_location("indexes/kb")                   # Path: the local directory
    >>> location = parse_location("postgresql://ragqa@db/ragqa")  # str: PostgreSQL + pgvector

Two stores give the interface of `ingest.store.base` (`IndexStore` to read, `IndexTarget` and
its `WriteSession` to write): the index directory (`ingest.store.local`, FAISS + SQLite +
bm25s, the embedded default) and PostgreSQL with pgvector (`ingest.store.postgres`). Nothing
outside this package knows either store's layout; everything else goes through these names.
"""

from __future__ import annotations

from pathlib import Path

from ingest.store.base import (
    FORMAT_VERSION,
    DocumentNotFoundError,
    FailedFile,
    FileRecord,
    IndexLocationError,
    IndexLockedError,
    IndexStore,
    IndexTarget,
    Location,
    Manifest,
    WriteSession,
    check_embedder,
    is_postgres_url,
    parse_location,
    redact,
    updated_failures,
)
from ingest.store.local.reader import IndexReader, commit_stamp, has_index, read_manifest
from ingest.store.local.reader import read_failures as read_local_failures
from ingest.store.local.target import LocalTarget
from ingest.store.postgres.reader import PgIndexReader, has_manifest, read_pg_manifest
from ingest.store.postgres.reader import read_failures as read_pg_failures
from ingest.store.postgres.schema import connect
from ingest.store.postgres.writer import PgTarget

__all__ = [
    "FORMAT_VERSION",
    "DocumentNotFoundError",
    "FailedFile",
    "FileRecord",
    "IndexLocationError",
    "IndexLockedError",
    "IndexStore",
    "IndexTarget",
    "Location",
    "Manifest",
    "WriteSession",
    "check_embedder",
    "commit_stamp",
    "failed_files",
    "index_exists",
    "index_target",
    "is_postgres_url",
    "open_store",
    "parse_location",
    "read_store_manifest",
    "redact",
    "updated_failures",
]


def open_store(location: Location, embedder=None) -> IndexStore:
    """The committed index at `location`; with `embedder`, one built with another model is
    refused (IndexOpenError)."""
    location = parse_location(location)
    if is_postgres_url(location):
        store: IndexStore = PgIndexReader(location)
    else:
        store = IndexReader(location)
    if embedder is not None:
        store.check_embedder(embedder)
    return store


def failed_files(location: Location) -> list[FailedFile]:
    """The files the runs into `location` could not ingest, with their reasons."""
    location = parse_location(location)
    if is_postgres_url(location):
        conn = connect(location)
        try:
            return read_pg_failures(conn)
        finally:
            conn.close()
    return read_local_failures(location)


def index_target(location: Location) -> IndexTarget:
    location = parse_location(location)
    if is_postgres_url(location):
        return PgTarget(location)
    return LocalTarget(location)


def index_exists(location: Location) -> bool:
    """Whether `location` holds a committed index (cheap: opens no vectors)."""
    location = parse_location(location)
    if is_postgres_url(location):
        return has_manifest(location)
    return has_index(Path(location))


def read_store_manifest(location: Location) -> Manifest:
    """The manifest alone (checks before a model load); IndexOpenError when there is none."""
    location = parse_location(location)
    if is_postgres_url(location):
        return read_pg_manifest(location)
    return read_manifest(Path(location))
