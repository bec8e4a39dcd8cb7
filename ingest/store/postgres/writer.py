"""Writing an index in PostgreSQL: one writer at a time, one transaction per batch of files.

    target = PgTarget("postgresql://ragqa@/ragqa?host=/run/postgresql")
    with target.lock():                       # pg_try_advisory_lock, or IndexLockedError
        session = target.begin(target.open_live(), template, strict=False)
        session.write_batch(entries)          # committed: readers see these files whole
        session.finish(template, removed=["/docs/old.pdf"])

A batch replaces each of its files (by source) in one transaction: old chunks, postings and
file row out, new ones in (COPY, binary vectors), the manifest's counts updated. A run killed
midway leaves every committed batch in place, and the next run skips those files by hash.
The chunking and index type in the manifest change only in `finish`, so a killed run that
re-chunks everything is redone by the next one rather than half-trusted. With `strict`,
nothing is committed before `finish`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import contextmanager, suppress

import psycopg
from psycopg.types.json import Jsonb

from ingest.core.clock import utc_now
from ingest.core.metadata import language_of
from ingest.core.types import FileEntry, IndexOpenError
from ingest.store.base import (
    DocumentNotFoundError,
    FailedFile,
    FileRecord,
    IndexLockedError,
    Manifest,
    records_named,
    redact,
)
from ingest.store.postgres.lexical import document_terms, postings
from ingest.store.postgres.reader import (
    FAILURES_TABLE,
    PgIndexReader,
    file_records,
    read_failures,
)
from ingest.store.postgres.schema import (
    STORE_VERSION,
    connect,
    create_tables,
    has_metadata_column,
    lock_key,
    read_manifest_row,
    register_vector,
)


class PgWriteSession:
    """The writes of one run on the lock holder's connection (see the module docstring)."""

    def __init__(self, conn, template: Manifest, strict: bool) -> None:
        self.conn = conn
        self.strict = strict
        if strict:
            conn.execute("BEGIN")
        self._ensure_manifest(template)
        self.next_row, self.next_file = conn.execute(
            "SELECT (SELECT coalesce(max(row_id), 0) FROM ragqa_chunks) + 1, "
            "(SELECT coalesce(max(file_id), 0) FROM ragqa_files) + 1").fetchone()

    def _ensure_manifest(self, t: Manifest) -> None:
        """A new index gets its manifest row at once: an empty index until a batch commits."""
        self.conn.execute(
            "INSERT INTO ragqa_manifest (id, store_version, format_version, embedding_model, "
            "dimension, chunk_size, chunk_overlap, index_type, num_files, num_chunks, "
            "total_tokens, created_at, updated_at, generation, reading_version) "
            "VALUES (1, %s, %s, %s, %s, %s, %s, %s, 0, 0, 0, %s, %s, 0, %s)"
            " ON CONFLICT (id) DO NOTHING",
            (STORE_VERSION, t.format_version, t.embedding_model, t.dimension, t.chunk_size,
             t.chunk_overlap, t.index_type, t.created_at, t.updated_at, t.reading_version))

    @contextmanager
    def _transaction(self):
        """One transaction per call, or the run's single one when strict."""
        if self.strict:
            yield
        else:
            with self.conn.transaction():
                yield

    def keep(self, records: Sequence[FileRecord]) -> None:
        """Unchanged files are simply left in their rows; one written before the metadata
        column gets its metadata now (the language its text is in)."""
        legacy = [r for r in records if "language" not in r.metadata]
        for record in legacy:
            texts = [t for (t,) in self.conn.execute(
                "SELECT c.text FROM ragqa_chunks c JOIN ragqa_files f USING (file_id) "
                "WHERE f.source = %s ORDER BY c.row_id", (record.source,))]
            metadata = record.metadata | {"language": [language_of(texts)]}
            with self._transaction():
                self.conn.execute("UPDATE ragqa_files SET metadata = %s WHERE source = %s",
                                  (Jsonb(metadata), record.source))

    def resumed(self, source: str, sha256: str) -> FileEntry | None:
        return None  # a killed run's batches are committed: their files count as unchanged

    def write_batch(self, entries: Sequence[FileEntry]) -> None:
        if not entries:
            return
        with self._transaction():
            self._delete([e.source for e in entries])
            chunk_rows, posting_rows, files, tokens = [], [], [], 0
            for e in entries:
                file_id = self.next_file
                self.next_file += 1
                files.append((file_id, e.source, e.sha256, len(e.chunks), e.ingested_at,
                              e.skipped, Jsonb(e.metadata)))
                for c, toks, vec in zip(e.chunks, e.tokens, e.vectors, strict=True):
                    row_id = self.next_row
                    self.next_row += 1
                    dl = document_terms(toks)[1]
                    tokens += dl
                    chunk_rows.append((row_id, file_id, c.chunk_id, c.source, c.page,
                                       c.start_char, c.text, c.locator, c.ocr, dl, vec))
                    posting_rows.extend(postings(row_id, file_id, toks))
            with self.conn.cursor() as cur:
                cur.executemany("INSERT INTO ragqa_files (file_id, source, sha256, num_chunks, "
                                "ingested_at, skipped, metadata) VALUES (%s, %s, %s, %s, %s, "
                                "%s, %s)", files)
                with cur.copy("COPY ragqa_chunks (row_id, file_id, chunk_id, source, page, "
                              "start_char, text, locator, ocr, num_tokens, embedding) "
                              "FROM STDIN WITH (FORMAT BINARY)") as copy:
                    copy.set_types(["int8", "int8", "text", "text", "int4", "int4", "text",
                                    "text", "bool", "int4", "vector"])
                    for row in chunk_rows:
                        copy.write_row(row)
                with cur.copy("COPY ragqa_postings (term, row_id, file_id, tf, dl) FROM STDIN"
                              ) as copy:
                    for row in posting_rows:
                        copy.write_row(row)
            self._count(len(files), len(chunk_rows), tokens)

    def _delete(self, sources: Sequence[str]) -> None:
        """Removes these files' rows (those indexed), and their share of the counts."""
        ids = [r[0] for r in self.conn.execute(
            "SELECT file_id FROM ragqa_files WHERE source = ANY(%s)", (list(sources),))]
        if not ids:
            return
        chunks, tokens = self.conn.execute(
            "SELECT count(*), coalesce(sum(num_tokens), 0) FROM ragqa_chunks "
            "WHERE file_id = ANY(%s)", (ids,)).fetchone()
        for table in ("ragqa_postings", "ragqa_chunks", "ragqa_files"):
            self.conn.execute(f"DELETE FROM {table} WHERE file_id = ANY(%s)", (ids,))
        self._count(-len(ids), -chunks, -tokens)

    def remove(self, sources: Sequence[str]) -> None:
        """Drops these files whole, in one transaction (`PgTarget.remove`)."""
        with self._transaction():
            self._delete(sources)

    def _count(self, files: int, chunks: int, tokens: int) -> None:
        self.conn.execute(
            "UPDATE ragqa_manifest SET num_files = num_files + %s, num_chunks = num_chunks + %s,"
            " total_tokens = total_tokens + %s, generation = generation + 1, updated_at = %s "
            "WHERE id = 1", (files, chunks, tokens, utc_now()))

    def finish(self, manifest: Manifest, removed: Sequence[str]) -> None:
        with self._transaction():
            self._delete(removed)
            self.conn.execute(
                "UPDATE ragqa_manifest SET format_version = %s, embedding_model = %s, "
                "dimension = %s, chunk_size = %s, chunk_overlap = %s, index_type = %s, "
                "reading_version = %s, updated_at = %s, generation = generation + 1 "
                "WHERE id = 1",
                (manifest.format_version, manifest.embedding_model, manifest.dimension,
                 manifest.chunk_size, manifest.chunk_overlap, manifest.index_type,
                 manifest.reading_version, utc_now()))
        if self.strict:
            self.conn.execute("COMMIT")
        # Marks the new postings all-visible (BM25's index-only scans, see schema.py; only
        # pages this run changed are visited) and refreshes the planner's statistics. The
        # chunks table is only analyzed: vacuuming it would also vacuum its HNSW index, slow
        # at scale, which autovacuum does in the background.
        self.conn.execute("VACUUM (ANALYZE) ragqa_postings")
        self.conn.execute("ANALYZE ragqa_chunks")

    def abort(self) -> None:
        """Uncommitted work is rolled back; committed batches stay (they are whole files)."""
        if self.strict and not self.conn.closed:
            self.conn.execute("ROLLBACK")



class PgTarget:
    """The write side of a PostgreSQL index."""

    def __init__(self, url: str) -> None:
        self.location = url
        self._conn = None

    def check_writable(self) -> None:
        """Connects and fails now if another writer holds the lock."""
        with self.lock():
            pass

    @contextmanager
    def lock(self):
        """The index's advisory lock, held on this target's connection for the run; the
        server drops it when the connection ends, a killed process's included."""
        conn = connect(self.location)
        locked = False
        try:
            key = lock_key(conn)
            locked = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]
            if not locked:
                holder = conn.execute(
                    "SELECT string_agg(pid::text, ', ') FROM pg_locks WHERE locktype = "
                    "'advisory' AND granted AND ((classid::bigint << 32) | objid::bigint) = %s",
                    (key,)).fetchone()[0]
                raise IndexLockedError(
                    f"index {redact(self.location)} is being written by another ragqa ingest "
                    f"(server pid {holder or 'unknown'}); wait for it to finish, then run again")
            self._conn = conn
            yield self
        finally:
            self._conn = None
            if locked and not conn.closed:
                # Released now, not when the server gets round to ending the backend: a
                # writer that starts right after this one must find the lock free.
                with suppress(psycopg.Error):  # closing drops it anyway
                    conn.rollback()
                    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
            conn.close()

    def open_live(self) -> PgIndexReader | None:
        if read_manifest_row(self._conn, self.location) is None:
            return None
        return PgIndexReader(self.location)

    def begin(self, live: PgIndexReader | None, template: Manifest,
              strict: bool) -> PgWriteSession:
        create_tables(self._conn, self.location, template.dimension)
        register_vector(self._conn, self.location)
        return PgWriteSession(self._conn, template, strict)

    def remove(self, sources: Sequence[str]) -> list[FileRecord]:
        """Deletes these files' rows in one transaction, by file_id through the indexes on
        it: the work is the document's, whatever the index's size. No VACUUM or ANALYZE
        (they grow with the tables, 0.3-0.5 s at 5k-20k chunks): one document moves no
        statistic, its postings' pages only lose index-only scans until the next ingest's
        VACUUM or autovacuum."""
        found = read_manifest_row(self._conn, self.location)
        if found is None:
            raise DocumentNotFoundError(f"{redact(self.location)}: no index here yet")
        if not has_metadata_column(self._conn):
            raise IndexOpenError(f"{redact(self.location)} was written by an older ragqa: run "
                                 "`ragqa ingest` on it once to add the documents' metadata "
                                 "column")
        removed = records_named(file_records(self._conn, sources), sources,
                                redact(self.location))
        PgWriteSession(self._conn, found[0], strict=False).remove([r.source for r in removed])
        return removed

    def exclude(self) -> None:
        return None

    def failures(self) -> dict[str, FailedFile]:
        return {f.source: f for f in read_failures(self._conn)}

    def record_failures(self, failures: Mapping[str, FailedFile]) -> None:
        conn = self._conn
        with conn.transaction():
            conn.execute(FAILURES_TABLE)
            conn.execute("DELETE FROM ragqa_failures")
            for f in failures.values():
                conn.execute("INSERT INTO ragqa_failures (source, reason, failed_at) "
                             "VALUES (%s, %s, %s)", (f.source, f.reason, f.failed_at))
