"""`PgIndexReader`: the `IndexStore` of an index in PostgreSQL (see `ingest.store.postgres.schema`).

    index = PgIndexReader("postgresql://ragqa@/ragqa?host=/run/postgresql")
    with index.snapshot():                      # one consistent view for several reads
        rows, cos = index.search_vectors(qvec, 10)
        chunks = index.get_chunks(rows.tolist())

Reads always see committed data only, and a writer commits whole files, so a reader never
sees half a file; inside `snapshot()` (REPEATABLE READ) every read sees the same commit.
Each thread gets its own connection, so API worker threads do not queue on one socket.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ingest.core.metadata import legacy_metadata
from ingest.core.types import Chunk, FileEntry, IndexOpenError
from ingest.store.base import (
    AdmittedCache,
    FailedFile,
    FileRecord,
    Manifest,
    check_embedder,
    merge_ranges,
    redact,
)
from ingest.store.filters import MetadataFilter
from ingest.store.postgres.lexical import search_bm25
from ingest.store.postgres.schema import (
    FILE_METADATA,
    TABLE_NAMES,
    connect,
    has_metadata_column,
    read_manifest_row,
    register_vector,
)

MAX_EF_SEARCH = 1000  # pgvector's upper bound for hnsw.ef_search
CHUNK_COLUMNS = "row_id, chunk_id, text, source, page, start_char, locator, ocr"


@dataclass(frozen=True)
class PgAdmitted:
    """What a metadata filter admits: file ids, and their rows as an int8multirange literal."""

    files: list[int]
    rows: str


def as_array(value) -> np.ndarray:
    """A vector column as float32: pgvector >= 0.4 loads a `Vector`, older ones an array."""
    if hasattr(value, "to_numpy"):
        value = value.to_numpy()
    return np.asarray(value, dtype=np.float32)


def read_pg_manifest(url: str) -> Manifest:
    with connect(url) as conn:
        found = read_manifest_row(conn, url)
    if found is None:
        raise IndexOpenError(f"no ragqa index at {redact(url)} yet (create it with `ragqa "
                             "ingest PATH --index URL`)")
    return found[0]


def has_manifest(url: str) -> bool:
    with connect(url) as conn:
        return read_manifest_row(conn, url) is not None


class PgIndexReader:
    """Args:
        url: a libpq URL without a password (`ingest.store.parse_location` checks it).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._local = threading.local()
        self._all: list = []
        self._lock = threading.Lock()
        self._admitted: AdmittedCache[tuple[MetadataFilter, int], PgAdmitted] = AdmittedCache()
        self.manifest  # noqa: B018 - fails now, with its reason, if there is no index here
        if not has_metadata_column(self._conn()):
            raise IndexOpenError(f"{self.location} was written by an older ragqa: run `ragqa "
                                 "ingest` on it once to add the documents' metadata column")

    @property
    def location(self) -> str:
        return redact(self.url)

    def _conn(self):
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            from psycopg import IsolationLevel

            conn = connect(self.url)
            register_vector(conn, self.url)
            conn.isolation_level = IsolationLevel.REPEATABLE_READ
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def snapshot(self):
        """Every read of this thread inside sees one committed state (nested: the same)."""
        with self._conn().transaction():
            yield

    @property
    def manifest(self) -> Manifest:
        found = read_manifest_row(self._conn(), self.url)
        if found is None:
            raise IndexOpenError(f"no ragqa index at {self.location} yet (create it with "
                                 "`ragqa ingest PATH --index URL`)")
        return found[0]

    @property
    def num_chunks(self) -> int:
        return self.manifest.num_chunks

    def check_embedder(self, embedder) -> None:
        check_embedder(self.manifest, self.location, embedder.name, embedder.dimension)

    def search_vectors(self, query_vector: np.ndarray, depth: int,
                       ef_search: int | None = None,
                       where: MetadataFilter | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Rows and cosines of the nearest chunks: exact for index type "flat", through the
        HNSW index (beam `ef_search`, at least `depth`) for "hnsw".

        `where`: only chunks of the files it admits, searched exactly over those files' rows
        (found through the file_id index). An HNSW scan would filter its `ef_search`
        candidates afterwards and return too few rows for a selective filter (pgvector < 0.8
        has no iterative scan)."""
        if depth <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        conn = self._conn()
        q = np.asarray(query_vector, dtype=np.float32).reshape(-1)
        clause, params = "", {}
        if where:
            clause = "WHERE file_id = ANY(%(files)s) "
            params = {"files": self.admitted(where).files}
        with conn.transaction():
            if self.manifest.index_type == "hnsw" and not where:
                ef = min(max(ef_search or 40, depth), MAX_EF_SEARCH)
                conn.execute(f"SET LOCAL hnsw.ef_search = {int(ef)}")
            else:  # exact, as FAISS's flat index: no approximate index scan
                conn.execute("SET LOCAL enable_indexscan = off")
            found = conn.execute(
                f"SELECT row_id, 1 - (embedding <=> %(q)s) FROM ragqa_chunks {clause}"
                "ORDER BY embedding <=> %(q)s LIMIT %(depth)s",
                {"q": q, "depth": depth, **params}).fetchall()
        return (np.array([r[0] for r in found], dtype=np.int64),
                np.array([r[1] for r in found], dtype=np.float32))

    def search_lexical(self, tokens: Sequence[str], depth: int,
                       where: MetadataFilter | None = None) -> tuple[np.ndarray, np.ndarray]:
        return search_bm25(self._conn(), tokens, depth,
                           None if not where else self.admitted(where).rows)

    def admitted(self, where: MetadataFilter) -> PgAdmitted:
        """The files `where` admits (`MetadataFilter.sql` over ragqa_files) and their rows,
        kept per filter until the index's generation changes: the dense and the BM25 side of
        a question, and later questions, pay for it once."""
        conn = self._conn()
        (generation,) = conn.execute(
            "SELECT generation FROM ragqa_manifest WHERE id = 1").fetchone()
        def make() -> PgAdmitted:
            test, params = where.sql(FILE_METADATA)
            files = [r[0] for r in conn.execute(
                f"SELECT f.file_id FROM ragqa_files f WHERE {test}", params)]
            ranges = merge_ranges((row, row + 1) for (row,) in conn.execute(
                "SELECT row_id FROM ragqa_chunks WHERE file_id = ANY(%s) ORDER BY row_id",
                (files,)))
            return PgAdmitted(files, "{" + ",".join(f"[{a},{b})" for a, b in ranges) + "}")

        return self._admitted.get((where, generation), make)

    def get_chunks(self, rows: Sequence[int]) -> list[Chunk]:
        wanted = [int(r) for r in rows]
        found = {r[0]: Chunk(*r[1:7], ocr=bool(r[7])) for r in self._conn().execute(
            f"SELECT {CHUNK_COLUMNS} FROM ragqa_chunks WHERE row_id = ANY(%s)", (wanted,))}
        missing = [r for r in wanted if r not in found]
        if missing:
            raise IndexError(f"rows {missing} are not in {self.location}")
        return [found[r] for r in wanted]

    def vectors_for(self, rows: Sequence[int]) -> np.ndarray:
        wanted = [int(r) for r in rows]
        if not wanted:
            return np.zeros((0, self.manifest.dimension), dtype=np.float32)
        found = dict(self._conn().execute(
            "SELECT row_id, embedding FROM ragqa_chunks WHERE row_id = ANY(%s)", (wanted,)))
        return np.stack([as_array(found[r]) for r in wanted])

    def vector(self, row: int) -> np.ndarray:
        return self.vectors_for([row])[0]

    def files(self) -> list[FileRecord]:
        return file_records(self._conn())

    def read_file(self, record: FileRecord) -> FileEntry:
        """One file's chunks, vectors and BM25 tokens (for copying it to another store)."""
        conn = self._conn()
        with conn.transaction():
            recs = conn.execute(
                f"SELECT {CHUNK_COLUMNS}, embedding FROM ragqa_chunks WHERE source = %s "
                "ORDER BY row_id", (record.source,)).fetchall()
            terms: dict[int, list[str]] = {}
            for row_id, term, tf in conn.execute(
                    "SELECT p.row_id, p.term, p.tf FROM ragqa_postings p JOIN ragqa_files f "
                    "USING (file_id) WHERE f.source = %s ORDER BY p.row_id, p.term",
                    (record.source,)):
                terms.setdefault(row_id, []).extend([term] * tf)
        return FileEntry(
            source=record.source, sha256=record.sha256, ingested_at=record.ingested_at,
            chunks=[Chunk(*r[1:7], ocr=bool(r[7])) for r in recs],
            vectors=np.stack([as_array(r[8]) for r in recs]),
            tokens=[[t for t in terms.get(r[0], []) if t] for r in recs],
            skipped=record.skipped, metadata=record.metadata)

    def size_bytes(self) -> int:
        return int(self._conn().execute(
            "SELECT sum(pg_total_relation_size(t::regclass)) FROM unnest(%s::text[]) t",
            (list(TABLE_NAMES),)).fetchone()[0] or 0)

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()


# Files that failed to ingest: outside the index's generations (a failure changes no chunk).
FAILURES_TABLE = """CREATE TABLE IF NOT EXISTS ragqa_failures (
    source text PRIMARY KEY, reason text NOT NULL, failed_at text NOT NULL)"""


def file_records(conn, sources: Sequence[str] | None = None) -> list[FileRecord]:
    """The index's files, by source; `sources`: only those of them (found through the unique
    index on source, so a removal reads its own rows, not the whole table)."""
    where, params = ("", ()) if sources is None else ("WHERE source = ANY(%s) ",
                                                      (list(sources),))
    recs = conn.execute("SELECT source, sha256, num_chunks, ingested_at, 0, skipped, metadata "
                        f"FROM ragqa_files {where}ORDER BY source", params).fetchall()
    return [FileRecord(*r[:6], metadata=r[6] if r[6] is not None
                       else legacy_metadata(r[0], r[3])) for r in recs]


def read_failures(conn) -> list[FailedFile]:
    """The failure records on `conn`'s database (none before the first is written)."""
    (exists,) = conn.execute("SELECT to_regclass('ragqa_failures') IS NOT NULL").fetchone()
    if not exists:
        return []
    rows = conn.execute("SELECT source, reason, failed_at FROM ragqa_failures "
                        "ORDER BY source").fetchall()
    return [FailedFile(*row) for row in rows]
