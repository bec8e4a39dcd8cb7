"""The tables of a PostgreSQL index, created and versioned by ragqa, and its connections.

    ragqa_manifest  one row: store version, ragqa's index format, embedder, dimension,
                    chunking, index type, counts (files, chunks, BM25 tokens), timestamps,
                    and a generation number that each committed batch increments
    ragqa_files     file_id, source (resolved path), sha256, num_chunks, ingested_at, skipped,
                    metadata (JSONB {key: [text, ...]}, `ingest.core.metadata`)
    ragqa_chunks    row_id, file_id, chunk_id, source, page, start_char, text, locator, ocr,
                    num_tokens, embedding vector(d) with an HNSW index (cosine)
    ragqa_postings  term, row_id, file_id, tf, dl: the BM25 inverted index of ragqa's own
                    tokens (`ingest.core.text.tokenize`), so Chinese needs no server extension

The postings key carries tf and dl (INCLUDE), so a BM25 query reads its terms' postings from
the index alone: a term's rows lie scattered over the heap, and fetching them there made BM25
3-4x slower at 100k chunks (`bench/retrieval.py`), for no smaller index (the two integers fit
in the key's alignment padding). Index-only scans need the visibility map, hence the writer's
VACUUM after each run.

Only pgvector is needed (`CREATE EXTENSION vector`, which every managed PostgreSQL offers).
"""

from __future__ import annotations

from dataclasses import fields

from ingest.core.types import IndexOpenError
from ingest.store.base import HNSW_M, READABLE_FORMATS, Manifest, redact

STORE_VERSION = 1  # of these tables; another one is refused
HNSW_EF_CONSTRUCTION = 80  # as ingest.store.local.writer builds FAISS's HNSW
# The manifest's columns: every field but the folder store's tombstones (PostgreSQL deletes
# rows outright, so it has none and they keep their defaults).
MANIFEST_FIELDS = [f.name for f in fields(Manifest) if f.name not in ("dead_rows", "tombstones")]

TABLES = """
CREATE TABLE IF NOT EXISTS ragqa_manifest (
    id integer PRIMARY KEY CHECK (id = 1),
    store_version integer NOT NULL,
    format_version integer NOT NULL,
    embedding_model text NOT NULL,
    dimension integer NOT NULL,
    chunk_size integer NOT NULL,
    chunk_overlap integer NOT NULL,
    index_type text NOT NULL,
    num_files bigint NOT NULL,
    num_chunks bigint NOT NULL,
    total_tokens bigint NOT NULL,
    created_at text NOT NULL,
    updated_at text NOT NULL,
    generation bigint NOT NULL
);
-- A manifest made before the reading version was recorded: 0, its files are read again.
ALTER TABLE ragqa_manifest ADD COLUMN IF NOT EXISTS reading_version integer NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS ragqa_files (
    file_id bigint PRIMARY KEY,
    source text NOT NULL UNIQUE,
    sha256 text NOT NULL,
    num_chunks integer NOT NULL,
    ingested_at text NOT NULL,
    skipped text,
    metadata jsonb
);
-- Tables made before metadata existed get the column (NULL: read as path, kind and date).
ALTER TABLE ragqa_files ADD COLUMN IF NOT EXISTS metadata jsonb;
CREATE TABLE IF NOT EXISTS ragqa_chunks (
    row_id bigint PRIMARY KEY,
    file_id bigint NOT NULL REFERENCES ragqa_files (file_id),
    chunk_id text NOT NULL,
    source text NOT NULL,
    page integer,
    start_char integer NOT NULL,
    text text NOT NULL,
    locator text,
    ocr boolean NOT NULL,
    num_tokens integer NOT NULL,
    embedding vector({dimension}) NOT NULL
);
CREATE INDEX IF NOT EXISTS ragqa_chunks_file ON ragqa_chunks (file_id);
{hnsw};
CREATE TABLE IF NOT EXISTS ragqa_postings (
    term text NOT NULL,
    row_id bigint NOT NULL,
    file_id bigint NOT NULL,
    tf integer NOT NULL,
    dl integer NOT NULL,
    PRIMARY KEY (term, row_id) INCLUDE (tf, dl)
);
CREATE INDEX IF NOT EXISTS ragqa_postings_file ON ragqa_postings (file_id);
"""
HNSW_INDEX = (f"CREATE INDEX IF NOT EXISTS ragqa_chunks_embedding ON ragqa_chunks USING hnsw "
              f"(embedding vector_cosine_ops) WITH (m = {HNSW_M}, "
              f"ef_construction = {HNSW_EF_CONSTRUCTION})")
# A file's metadata for filters (alias f of ragqa_files): NULL in rows written before the
# column existed reads as `ingest.core.metadata.legacy_metadata` does (path, kind, date).
FILE_METADATA = ("coalesce(f.metadata, jsonb_build_object("
                 "'path', jsonb_build_array(f.source), "
                 "'kind', jsonb_build_array(coalesce(lower(substring(f.source from "
                 "'\\.([^./]+)$')), 'none')), "
                 "'ingested', jsonb_build_array(left(f.ingested_at, 10))))")
TABLE_NAMES = ("ragqa_manifest", "ragqa_files", "ragqa_chunks", "ragqa_postings")


def connect(url: str, autocommit: bool = True):
    """A psycopg connection with pgvector's types; IndexOpenError in one line if it fails."""
    import psycopg

    try:
        conn = psycopg.connect(url, autocommit=autocommit, connect_timeout=10)
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise IndexOpenError(f"cannot connect to PostgreSQL at {redact(url)}: {reason} "
                             "(a password comes from PGPASSWORD or ~/.pgpass)") from None
    return conn


def register_vector(conn, url: str) -> None:
    from pgvector.psycopg import register_vector as register

    try:
        register(conn)
    except Exception as exc:  # psycopg.ProgrammingError: the extension is not installed
        raise IndexOpenError(f"{redact(url)}: the pgvector extension is missing ({exc}); "
                             "run CREATE EXTENSION vector as a database owner") from None


def create_tables(conn, url: str, dimension: int) -> None:
    """Creates the extension and tables if missing (idempotent), in one transaction."""
    import psycopg

    try:
        with conn.transaction():
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            conn.execute(TABLES.format(dimension=int(dimension), hnsw=HNSW_INDEX))
    except psycopg.Error as exc:
        raise IndexOpenError(f"{redact(url)}: cannot create ragqa's tables: "
                             f"{str(exc).strip().splitlines()[0]}") from None


def lock_key(conn) -> int:
    """The advisory-lock key of the index in the connection's schema."""
    return conn.execute(
        "SELECT hashtextextended('ragqa index ' || current_schema(), 0)").fetchone()[0]


def table_columns(conn, table: str) -> set[str]:
    """The columns `table` has in the connection's schema: tables no ingest of this ragqa has
    written to yet lack the newer ones (a reader never alters the tables)."""
    return {name for (name,) in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = "
        "current_schema() AND table_name = %s", (table,))}


def has_metadata_column(conn) -> bool:
    """Whether ragqa_files has its metadata column (added by any ingest of this ragqa)."""
    return "metadata" in table_columns(conn, "ragqa_files")


def has_tables(conn) -> bool:
    return conn.execute("SELECT to_regclass('ragqa_manifest') IS NOT NULL").fetchone()[0]


def read_manifest_row(conn, url: str) -> tuple[Manifest, int] | None:
    """(manifest, total BM25 tokens), or None for a database without a ragqa index yet."""
    if not has_tables(conn):
        return None
    # A column the manifest table lacks yet (`table_columns`) reads as its field's default.
    present = table_columns(conn, "ragqa_manifest")
    names = [f for f in MANIFEST_FIELDS if f in present]
    row = conn.execute("SELECT store_version, total_tokens, " + ", ".join(names)
                       + " FROM ragqa_manifest WHERE id = 1").fetchone()
    if row is None:
        return None
    if row[0] != STORE_VERSION:
        raise IndexOpenError(f"{redact(url)}: ragqa's PostgreSQL tables are version {row[0]}, "
                             f"this ragqa reads {STORE_VERSION}; migrate with the ragqa that "
                             "wrote them, or ingest into another schema")
    values = dict(zip(names, row[2:], strict=True))
    if values["format_version"] not in READABLE_FORMATS:
        raise IndexOpenError(f"{redact(url)}: index format {values['format_version']} is not "
                             "one this ragqa reads; re-ingest into another schema")
    values["generation"] = f"pg-{values['generation']:06d}"
    return Manifest(**values), int(row[1])
