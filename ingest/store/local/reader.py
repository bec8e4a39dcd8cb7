"""The index directory: chunks, vectors and BM25, written as immutable generations.

    index = open_index(Path("indexes/kb"))
    index.manifest.num_chunks, index.manifest.embedding_model
    # (412, 'builtin:minilm')
    scores, rows = index.vectors.search(query_vecs, 5)      # faiss, inner product
    index.get_chunks(rows[0].tolist())[0].source

Layout (nothing is pickled; every file is JSON, SQLite, .npy or a faiss index):

    DIR/manifest.json          the commit point: names the live generation, counts, settings
    DIR/gen-000007/chunks.sqlite   files + chunks (text, source, page, locator, OCR flag, offset,
                                   BM25 tokens)
    DIR/gen-000007/vectors.npy     float32 (num_chunks, dimension), unit rows
    DIR/gen-000007/vectors.faiss   IndexFlatIP or IndexHNSWFlat (inner product) over the same rows
    DIR/gen-000007/lexical/        `ingest.store.lexical.LexicalIndex`
    DIR/gen-000007/deleted-000003.json   the files removed since the generation was written
                                   (`ingest.store.local.tombstones`), when the manifest names it
    DIR/.lock                      held by a running `ragqa ingest`

`ingest.store.local.writer.GenerationWriter` builds a whole new generation beside the live one and
commits it by replacing manifest.json with `os.replace` (atomic on POSIX) after fsync; a crash
before that leaves the previous generation live, and the next writer deletes the half-built one.
A removal commits a manifest naming the same generation and a new deletion record: the reader
never returns a dead row (FAISS searches through an ID selector, BM25 drops their scores, a
filter's rows leave them out) and lists only live files.

Format 2 added the nullable columns chunks.locator, chunks.ocr and files.skipped, format 3
files.metadata. An older index still opens (those read as NULL, 0, NULL, and the metadata its
paths and dates tell); the next ingest that changes it writes format 3.

A metadata filter (`ingest.store.filters`) is pushed down: the files it admits are found in
memory (a generation never changes, so they are read once), and only their rows are searched,
exactly (their vectors are contiguous slices of vectors.npy) or through BM25's score array.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ingest.core.metadata import legacy_metadata
from ingest.core.types import Chunk, FileEntry, IndexOpenError
from ingest.store.base import (
    READABLE_FORMATS,
    AdmittedCache,
    FailedFile,
    FileRecord,
    Manifest,
    check_embedder,
    merge_ranges,
)
from ingest.store.filters import MetadataFilter
from ingest.store.lexical import LexicalIndex
from ingest.store.local.tombstones import read_dead

MANIFEST = "manifest.json"
FAILURES = "failures.json"  # files that failed to ingest, beside the manifest
CHUNKS_DB = "chunks.sqlite"
VECTORS_NPY = "vectors.npy"
VECTORS_FAISS = "vectors.faiss"
LEXICAL_DIR = "lexical"
GEN_PREFIX = "gen-"
HNSW_EF_SEARCH = 64

SCHEMA = """
CREATE TABLE files (
    file_id INTEGER PRIMARY KEY,
    source TEXT NOT NULL UNIQUE,      -- resolved absolute path: same names in two folders differ
    sha256 TEXT NOT NULL,
    num_chunks INTEGER NOT NULL,
    first_row INTEGER NOT NULL,       -- its chunks: rows first_row .. first_row+num_chunks-1
    ingested_at TEXT NOT NULL,
    skipped TEXT,                     -- parts left out (scans without OCR): retried next run
    metadata TEXT                     -- JSON {key: [values]} (ingest.core.metadata)
);
CREATE TABLE chunks (
    row INTEGER PRIMARY KEY,          -- row i <-> vector i <-> BM25 document i
    chunk_id TEXT NOT NULL,
    file_id INTEGER NOT NULL REFERENCES files(file_id),
    source TEXT NOT NULL,
    page INTEGER,
    start_char INTEGER NOT NULL,
    text TEXT NOT NULL,
    tokens TEXT NOT NULL,             -- BM25 terms, space-joined: rebuilt without re-tokenizing
    locator TEXT,                     -- where beyond the page: "slide 3", "sheet X, rows 2-9"
    ocr INTEGER NOT NULL DEFAULT 0    -- 1: the text was read from an image by OCR
);
CREATE INDEX chunks_chunk_id ON chunks(chunk_id);
"""


@dataclass(frozen=True)
class Admitted:
    """The rows a metadata filter admits: as (start, stop) slices and as one array."""

    ranges: tuple[tuple[int, int], ...]
    rows: np.ndarray


def has_index(directory: Path) -> bool:
    """Whether `directory` holds a committed index (its manifest.json)."""
    return (Path(directory) / MANIFEST).is_file()


def commit_stamp(directory: Path) -> int:
    """Changes whenever an ingest commits a new generation (it replaces manifest.json)."""
    try:
        return (Path(directory) / MANIFEST).stat().st_mtime_ns
    except OSError:
        return 0


def read_failures(directory: Path) -> list[FailedFile]:
    """The files the index's last runs could not ingest (`failures.json`; none if absent)."""
    path = Path(directory) / FAILURES
    try:
        rows = json.loads(path.read_text("utf-8")) if path.is_file() else []
        return [FailedFile(**row) for row in rows]
    except (OSError, ValueError, TypeError) as exc:
        raise IndexOpenError(f"{path} is damaged ({exc}); delete it: the next ingest "
                             "records the failures again") from None


def read_manifest(directory: Path) -> Manifest:
    path = Path(directory) / MANIFEST
    if not path.is_file():
        if not Path(directory).exists():
            raise IndexOpenError(f"no index at {directory}: the directory does not exist "
                                 "(create it with `ragqa ingest PATH --index DIR`)")
        raise IndexOpenError(f"{directory} is not a ragqa index: no {MANIFEST}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexOpenError(f"{path} is unreadable or not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise IndexOpenError(f"{path} is not a JSON object")
    if data.get("format_version") not in READABLE_FORMATS:
        raise IndexOpenError(f"{directory}: index format {data.get('format_version')!r} is not "
                             f"one this ragqa reads ({', '.join(map(str, READABLE_FORMATS))}); "
                             "re-ingest into a new index directory")
    return Manifest.from_json(data, path)


def open_chunks_db(generation_dir: Path) -> sqlite3.Connection:
    """The generation's chunks.sqlite, read-only. immutable=1: a committed generation never
    changes, so SQLite needs no lock files (and the index may sit on a read-only disk)."""
    return sqlite3.connect(f"file:{generation_dir / CHUNKS_DB}?mode=ro&immutable=1", uri=True,
                           check_same_thread=False)


def read_file_records(db: sqlite3.Connection, format_version: int,
                      sources: Sequence[str] | None = None) -> list[FileRecord]:
    """The files of a generation's files table, removed ones included, by source; `sources`:
    only those (through the unique index on source: a removal reads its own rows only)."""
    skipped = "skipped" if format_version >= 2 else "NULL"
    metadata = "metadata" if format_version >= 3 else "NULL"
    select = (f"SELECT source, sha256, num_chunks, ingested_at, first_row, {skipped}, "
              f"{metadata} FROM files")
    if sources is None:
        recs = db.execute(f"{select} ORDER BY source").fetchall()
    else:
        wanted = list(dict.fromkeys(sources))
        recs = sorted(r for start in range(0, len(wanted), 500)  # SQLite's parameter cap
                      for r in db.execute(f"{select} WHERE source IN "
                                          f"({','.join('?' * len(wanted[start:start + 500]))})",
                                          wanted[start:start + 500]))
    return [FileRecord(*r[:6], metadata=json.loads(r[6]) if r[6] is not None
                       else legacy_metadata(r[0], r[3])) for r in recs]


class IndexReader:
    """A read-only view of one committed generation, less its removed files, loaded at open.

    Everything is opened eagerly so that a writer that commits a newer generation (or a newer
    deletion record) and deletes this one afterwards does not pull files from under a running
    reader (POSIX keeps open and mapped files alive).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.manifest = read_manifest(self.directory)
        gen = self.directory / self.manifest.generation
        self.generation_dir = gen
        for name in (CHUNKS_DB, VECTORS_NPY, VECTORS_FAISS, LEXICAL_DIR):
            if not (gen / name).exists():
                raise IndexOpenError(f"index {self.directory} is incomplete: {gen / name} is "
                                     "missing; re-run `ragqa ingest` to rebuild it")
        # First: the deletion record is the file a later commit supersedes soonest.
        self.dead = read_dead(self.directory, self.manifest)
        self._dead_rows = self.dead.rows()
        try:
            self._db = open_chunks_db(gen)
            self._db_lock = threading.Lock()
            self._admitted: AdmittedCache[MetadataFilter, Admitted] = AdmittedCache()
            self._embeddings = np.load(gen / VECTORS_NPY, mmap_mode="r", allow_pickle=False)
            import faiss

            self.vectors = faiss.read_index(str(gen / VECTORS_FAISS))
            if self.manifest.index_type == "hnsw":
                faiss.downcast_index(self.vectors).hnsw.efSearch = HNSW_EF_SEARCH
            self.lexical = LexicalIndex.load(gen / LEXICAL_DIR)
            (db_rows,) = self._db.execute("SELECT COUNT(*) FROM chunks").fetchone()
        except (OSError, ValueError, RuntimeError, sqlite3.Error) as exc:
            raise IndexOpenError(f"index {self.directory} is corrupt: {exc}") from exc
        n = self.dead.total_rows
        counts = {"chunk store": db_rows, "vectors.npy": self._embeddings.shape[0],
                  "faiss": self.vectors.ntotal, "BM25": self.lexical.num_docs}
        bad = {k: v for k, v in counts.items() if v != n}
        if bad or self._embeddings.shape[1:] != (self.manifest.dimension,):
            raise IndexOpenError(f"index {self.directory} is inconsistent: manifest says {n} "
                                 f"rows ({self.manifest.num_chunks} chunks and "
                                 f"{self.manifest.dead_rows} removed), found {counts}; "
                                 "re-ingest into a new index")
        self._selector = self._live_selector() if len(self._dead_rows) else None

    def _live_selector(self):
        """A FAISS ID selector admitting the live rows: a bitmap, one bit per row, kept on
        the reader (FAISS holds only a pointer to it)."""
        import faiss

        live = np.ones(self.num_rows, dtype=bool)
        live[self._dead_rows] = False
        self._live_bits = np.packbits(live, bitorder="little")  # row i is bit i % 8 of byte i // 8
        return faiss.IDSelectorBitmap(self.num_rows, faiss.swig_ptr(self._live_bits))

    @property
    def num_chunks(self) -> int:
        """The live chunks (the manifest's count)."""
        return self.manifest.num_chunks

    @property
    def num_rows(self) -> int:
        """Rows in the generation, removed files' included: a row is below this."""
        return self.dead.total_rows

    @property
    def location(self) -> str:
        return str(self.directory)

    def snapshot(self) -> nullcontext:
        """A generation never changes: the reader is one snapshot from open to close."""
        return nullcontext()

    def search_vectors(self, query_vector: np.ndarray, depth: int,
                       ef_search: int | None = None,
                       where: MetadataFilter | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the `depth` chunks nearest to the (unit) query, best first, and their
        cosines. `ef_search`: the HNSW beam width (an HNSW index only; never below depth);
        `where`: only chunks of the documents it admits, searched exactly."""
        if where:
            return self._search_vectors_in(self.admitted(where), query_vector, depth)
        depth = min(depth, self.num_chunks)
        if depth <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        import faiss

        q = np.ascontiguousarray(query_vector, dtype=np.float32).reshape(1, -1)
        hnsw = faiss.downcast_index(self.vectors)
        # Parameters per call, so threads share no state; the selector skips removed rows
        # (HNSW still walks through them, it only never returns them).
        if isinstance(hnsw, faiss.IndexHNSW):
            ef = max(ef_search or HNSW_EF_SEARCH, depth)  # never a beam narrower than depth
            params = faiss.SearchParametersHNSW(efSearch=ef)
        else:
            params = faiss.SearchParameters()
        if self._selector is not None:
            params.sel = self._selector
        scores, rows = hnsw.search(q, depth, params=params)
        keep = rows[0] >= 0  # FAISS pads with -1 when it finds fewer than asked
        return rows[0][keep].astype(np.int64), scores[0][keep].astype(np.float32)

    def _search_vectors_in(self, admitted: Admitted, query_vector: np.ndarray,
                           depth: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact inner products over the admitted rows, best `depth` first."""
        if not len(admitted.rows) or depth <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        q = np.asarray(query_vector, dtype=np.float32).reshape(-1)
        scores = np.concatenate([self._embeddings[a:b] @ q for a, b in admitted.ranges])
        return _top(admitted.rows, scores.astype(np.float32), depth)

    def search_lexical(self, tokens: Sequence[str], depth: int,
                       where: MetadataFilter | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Rows of the `depth` best BM25 chunks for the query's tokens (score > 0), best first;
        `where`: only chunks of the documents it admits."""
        if not where:
            return self.lexical.search(tokens, depth, dead=self._dead_rows)
        return self.lexical.search(tokens, depth, rows=self.admitted(where).rows)

    @functools.cached_property
    def _file_rows(self) -> list[tuple[int, int, dict]]:
        """(first row, stop row, metadata) of every file, by first row: read once."""
        return sorted((r.first_row, r.first_row + r.num_chunks, r.metadata)
                      for r in self.files())

    def admitted(self, where: MetadataFilter) -> Admitted:
        """The rows of the files `where` admits: worked out once per filter (a generation
        never changes), so a question pays only for searching them."""
        def make() -> Admitted:
            ranges = merge_ranges((start, stop) for start, stop, metadata in self._file_rows
                                  if stop > start and where.matches(metadata))
            rows = (np.concatenate([np.arange(a, b, dtype=np.int64) for a, b in ranges])
                    if ranges else np.zeros(0, dtype=np.int64))
            return Admitted(tuple(ranges), rows)

        return self._admitted.get(where, make)

    def check_embedder(self, embedder) -> None:
        """Raises IndexOpenError unless `embedder` (.name, .dimension) built this index."""
        check_embedder(self.manifest, self.directory, embedder.name, embedder.dimension)

    @property
    def chunk_columns(self) -> str:
        """The SELECT list of a chunk's locator and OCR flag (constants in a format-1 index)."""
        return "locator, ocr" if self.manifest.format_version >= 2 else "NULL, 0"

    def get_chunks(self, rows: Sequence[int]) -> list[Chunk]:
        """The chunks at `rows`, in the order given (faiss's -1 padding is not a row)."""
        wanted = [int(r) for r in rows]
        bad = [r for r in wanted if not 0 <= r < self.num_rows]
        if bad:
            raise IndexError(f"rows {bad} are outside 0..{self.num_rows - 1}")
        found: dict[int, Chunk] = {}
        with self._db_lock:
            for start in range(0, len(wanted), 500):  # SQLite caps the number of parameters
                part = wanted[start:start + 500]
                marks = ",".join("?" * len(part))
                for rec in self._db.execute(
                    "SELECT row, chunk_id, text, source, page, start_char, "
                    f"{self.chunk_columns} FROM chunks WHERE row IN ({marks})", part,
                ):
                    found[rec[0]] = Chunk(*rec[1:7], ocr=bool(rec[7]))
        return [found[r] for r in wanted]

    def files(self) -> list[FileRecord]:
        """The live files, by source (removed ones are left out)."""
        with self._db_lock:
            records = read_file_records(self._db, self.manifest.format_version)
        dead = self.dead.first_rows()
        return [r for r in records if r.first_row not in dead]

    def vector(self, row: int) -> np.ndarray:
        """The stored (unit-length) embedding of chunk `row`."""
        if not 0 <= row < self.num_rows:
            raise IndexError(f"row {row} is outside 0..{self.num_rows - 1}")
        return np.array(self._embeddings[row], dtype=np.float32)

    def vectors_for(self, rows: Sequence[int]) -> np.ndarray:
        """The stored embeddings of `rows`, in that order, as one (len(rows), d) array."""
        if not len(rows):
            return np.zeros((0, self.manifest.dimension), dtype=np.float32)
        return np.stack([self.vector(int(r)) for r in rows])

    def read_file(self, record: FileRecord) -> FileEntry:
        """One file's chunks, vectors and BM25 tokens (for copying it to another store)."""
        start, stop = record.first_row, record.first_row + record.num_chunks
        with self._db_lock:
            recs = self._db.execute(
                "SELECT chunk_id, text, source, page, start_char, "
                f"{self.chunk_columns}, tokens FROM chunks WHERE row >= ? AND row < ? "
                "ORDER BY row", (start, stop)).fetchall()
        return FileEntry(
            source=record.source, sha256=record.sha256, ingested_at=record.ingested_at,
            chunks=[Chunk(*r[:6], ocr=bool(r[6])) for r in recs],
            vectors=np.array(self._embeddings[start:stop], dtype=np.float32),
            tokens=[r[7].split() for r in recs], skipped=record.skipped,
            metadata=record.metadata)

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.generation_dir.rglob("*") if p.is_file())

    def vectors_block(self, start: int, stop: int) -> np.ndarray:
        """Rows start..stop-1 of the stored embeddings (a read-only memory map slice)."""
        return self._embeddings[start:stop]

    def close(self) -> None:
        with self._db_lock:
            self._db.close()


def _top(rows: np.ndarray, scores: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """The `depth` highest scores and their rows, best first (ties: the lower row)."""
    depth = min(depth, len(scores))
    if depth <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    top = np.argpartition(-scores, depth - 1)[:depth]
    top = top[np.lexsort((rows[top], -scores[top]))]
    return rows[top], scores[top]


def open_index(directory: Path, embedder=None) -> IndexReader:
    """The live generation of the index at `directory` (the folder of manifest.json); with
    `embedder`, an index built with another model is an IndexOpenError."""
    reader = IndexReader(Path(directory))
    if embedder is not None:
        reader.check_embedder(embedder)
    return reader
