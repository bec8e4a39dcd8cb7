"""The index directory: chunks, vectors and BM25, written as immutable generations.

    >>> index = open_index(Path("indexes/kb"))
    >>> index.manifest.num_chunks, index.manifest.embedding_model
    (412, 'builtin:minilm')
    >>> scores, rows = index.vectors.search(query_vecs, 5)      # faiss, inner product
    >>> index.get_chunks(rows[0].tolist())[0].source

Layout (nothing is pickled; every file is JSON, SQLite, .npy or a faiss index):

    DIR/manifest.json          the commit point: names the live generation, counts, settings
    DIR/gen-000007/chunks.sqlite   files + chunks (text, source, page, offset, BM25 tokens)
    DIR/gen-000007/vectors.npy     float32 (num_chunks, dimension), unit rows
    DIR/gen-000007/vectors.faiss   IndexFlatIP or IndexHNSWFlat (inner product) over the same rows
    DIR/gen-000007/lexical/        `ingest.lexical.LexicalIndex`
    DIR/.lock                      held by a running `ragqa ingest`

A writer builds a whole new generation beside the live one and commits it by replacing
manifest.json with `os.replace` (atomic on POSIX) after fsync; a crash before that leaves the
previous generation live, and the next writer deletes the half-built one.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from ingest.lexical import LexicalIndex
from ingest.types import Chunk, IndexOpenError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CHUNKS_DB = "chunks.sqlite"
VECTORS_NPY = "vectors.npy"
VECTORS_FAISS = "vectors.faiss"
LEXICAL_DIR = "lexical"
GEN_PREFIX = "gen-"
INDEX_TYPES = ("flat", "hnsw")
HNSW_M = 32
HNSW_EF_SEARCH = 64

SCHEMA = """
CREATE TABLE files (
    file_id INTEGER PRIMARY KEY,
    source TEXT NOT NULL UNIQUE,      -- resolved absolute path: same names in two folders differ
    sha256 TEXT NOT NULL,
    num_chunks INTEGER NOT NULL,
    first_row INTEGER NOT NULL,       -- its chunks: rows first_row .. first_row+num_chunks-1
    ingested_at TEXT NOT NULL
);
CREATE TABLE chunks (
    row INTEGER PRIMARY KEY,          -- row i <-> vector i <-> BM25 document i
    chunk_id TEXT NOT NULL,
    file_id INTEGER NOT NULL REFERENCES files(file_id),
    source TEXT NOT NULL,
    page INTEGER,
    start_char INTEGER NOT NULL,
    text TEXT NOT NULL,
    tokens TEXT NOT NULL              -- BM25 terms, space-joined: rebuilt without re-tokenizing
);
CREATE INDEX chunks_chunk_id ON chunks(chunk_id);
"""


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

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict, where: Path) -> Manifest:
        names = {f.name for f in fields(cls)}
        missing = sorted(names - data.keys())
        if missing:
            raise IndexOpenError(f"{where}: manifest lacks {', '.join(missing)}")
        return cls(**{k: data[k] for k in names})


@dataclass(frozen=True)
class FileRecord:
    """One ingested file."""

    source: str
    sha256: str
    num_chunks: int
    ingested_at: str
    first_row: int = 0


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
    if data.get("format_version") != FORMAT_VERSION:
        raise IndexOpenError(f"{directory}: index format {data.get('format_version')!r} is not "
                             f"{FORMAT_VERSION}; re-ingest into a new index directory")
    return Manifest.from_json(data, path)


def check_embedder(manifest: Manifest, model: str, dimension: int, where: Path) -> None:
    """Vectors from two different models are not comparable: refuse instead of returning noise."""
    if model != manifest.embedding_model or dimension != manifest.dimension:
        raise IndexOpenError(
            f"index {where} was built with embedding model {manifest.embedding_model!r} "
            f"({manifest.dimension}-d) but {model!r} ({dimension}-d) was given; use "
            f"--embedding {manifest.embedding_model} or ingest into a new --index directory"
        )


class IndexReader:
    """A read-only view of one committed generation, loaded at open.

    Everything is opened eagerly so that a writer that commits a newer generation and deletes
    this one afterwards does not pull files from under a running reader (POSIX keeps open and
    mapped files alive).
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
        try:
            # immutable=1: a committed generation never changes, so SQLite needs no lock files
            # (and the index may sit on a read-only disk).
            self._db = sqlite3.connect(f"file:{gen / CHUNKS_DB}?mode=ro&immutable=1", uri=True,
                                       check_same_thread=False)
            self._db_lock = threading.Lock()
            self._embeddings = np.load(gen / VECTORS_NPY, mmap_mode="r", allow_pickle=False)
            import faiss

            self.vectors = faiss.read_index(str(gen / VECTORS_FAISS))
            if self.manifest.index_type == "hnsw":
                faiss.downcast_index(self.vectors).hnsw.efSearch = HNSW_EF_SEARCH
            self.lexical = LexicalIndex.load(gen / LEXICAL_DIR)
            (db_rows,) = self._db.execute("SELECT COUNT(*) FROM chunks").fetchone()
        except (OSError, ValueError, RuntimeError, sqlite3.Error) as exc:
            raise IndexOpenError(f"index {self.directory} is corrupt: {exc}") from exc
        n = self.manifest.num_chunks
        counts = {"chunk store": db_rows, "vectors.npy": self._embeddings.shape[0],
                  "faiss": self.vectors.ntotal, "BM25": self.lexical.num_docs}
        bad = {k: v for k, v in counts.items() if v != n}
        if bad or self._embeddings.shape[1:] != (self.manifest.dimension,):
            raise IndexOpenError(f"index {self.directory} is inconsistent: manifest says {n} "
                                 f"chunks, found {counts}; re-ingest into a new index")

    @property
    def num_chunks(self) -> int:
        return self.manifest.num_chunks

    def check_embedder(self, embedder) -> None:
        """Raises IndexOpenError unless `embedder` (.name, .dimension) built this index."""
        check_embedder(self.manifest, embedder.name, embedder.dimension, self.directory)

    def get_chunks(self, rows: Sequence[int]) -> list[Chunk]:
        """The chunks at `rows`, in the order given (faiss's -1 padding is not a row)."""
        wanted = [int(r) for r in rows]
        bad = [r for r in wanted if not 0 <= r < self.num_chunks]
        if bad:
            raise IndexError(f"rows {bad} are outside 0..{self.num_chunks - 1}")
        found: dict[int, Chunk] = {}
        with self._db_lock:
            for start in range(0, len(wanted), 500):  # SQLite caps the number of parameters
                part = wanted[start:start + 500]
                marks = ",".join("?" * len(part))
                for rec in self._db.execute(
                    "SELECT row, chunk_id, text, source, page, start_char FROM chunks "
                    f"WHERE row IN ({marks})", part,
                ):
                    found[rec[0]] = Chunk(*rec[1:])
        return [found[r] for r in wanted]

    def iter_chunks(self) -> Iterator[Chunk]:
        """Every chunk in row order, read in pages so a big index is never all in memory."""
        last = -1
        while True:
            with self._db_lock:
                page = self._db.execute(
                    "SELECT row, chunk_id, text, source, page, start_char FROM chunks "
                    "WHERE row > ? ORDER BY row LIMIT 1000", (last,),
                ).fetchall()
            if not page:
                return
            for rec in page:
                yield Chunk(*rec[1:])
            last = page[-1][0]

    def files(self) -> list[FileRecord]:
        with self._db_lock:
            recs = self._db.execute(
                "SELECT source, sha256, num_chunks, ingested_at, first_row FROM files "
                "ORDER BY source").fetchall()
        return [FileRecord(*r) for r in recs]

    def vector(self, row: int) -> np.ndarray:
        """The stored (unit-length) embedding of chunk `row`."""
        if not 0 <= row < self.num_chunks:
            raise IndexError(f"row {row} is outside 0..{self.num_chunks - 1}")
        return np.array(self._embeddings[row], dtype=np.float32)

    def vectors_block(self, start: int, stop: int) -> np.ndarray:
        """Rows start..stop-1 of the stored embeddings (a read-only memory map slice)."""
        return self._embeddings[start:stop]

    def close(self) -> None:
        with self._db_lock:
            self._db.close()


def open_index(directory: Path, embedder=None) -> IndexReader:
    """Opens the live generation of the index at `directory`.

    Args:
        directory: the index directory (the one holding manifest.json).
        embedder: optional; when given, an index built with another model is an IndexOpenError.
    """
    reader = IndexReader(Path(directory))
    if embedder is not None:
        reader.check_embedder(embedder)
    return reader


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class GenerationWriter:
    """Builds one new generation directory, row by row, then commits it.

        >>> w = GenerationWriter(Path("idx"), "gen-000002", dimension=384)
        >>> w.copy_file(old_reader, old_record)                 # unchanged file: no re-embedding
        >>> w.add_file(source, sha, chunks, vectors, token_lists)
        >>> w.commit(manifest_fields)                            # atomic swap of manifest.json

    Vectors stream to a raw file as they arrive, so memory holds one batch, not the corpus.
    """

    def __init__(self, index_dir: Path, generation: str, dimension: int,
                 index_type: str = "flat") -> None:
        if index_type not in INDEX_TYPES:
            raise ValueError(f"index_type must be one of {INDEX_TYPES}, not {index_type!r}")
        self.index_dir = Path(index_dir)
        self.generation = generation
        self.dir = self.index_dir / generation
        self.dimension = dimension
        self.index_type = index_type
        self.dir.mkdir(parents=True)
        self._db = sqlite3.connect(self.dir / CHUNKS_DB)
        # No journal, no syncs: a failed generation is thrown away, and commit() fsyncs once.
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.executescript(SCHEMA)
        self._raw_path = self.dir / "vectors.f32"
        self._raw = open(self._raw_path, "wb")  # noqa: SIM115 - closed in _finish_vectors
        self.num_rows = 0
        self.num_files = 0

    def _append_vectors(self, vectors: np.ndarray) -> None:
        if vectors.ndim != 2 or vectors.shape[1] != self.dimension:
            raise ValueError(f"vectors of shape {vectors.shape}, expected (n, {self.dimension})")
        self._raw.write(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())

    def add_file(self, source: str, sha256: str, ingested_at: str, chunks: Sequence[Chunk],
                 vectors: np.ndarray, tokens: Sequence[Sequence[str]]) -> None:
        if not len(chunks) == len(vectors) == len(tokens):
            raise ValueError("chunks, vectors and tokens must have the same length")
        first = self.num_rows
        cur = self._db.execute(
            "INSERT INTO files (source, sha256, num_chunks, first_row, ingested_at) "
            "VALUES (?, ?, ?, ?, ?)", (source, sha256, len(chunks), first, ingested_at))
        file_id = cur.lastrowid
        self._db.executemany(
            "INSERT INTO chunks (row, chunk_id, file_id, source, page, start_char, text, tokens) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            ((first + i, c.chunk_id, file_id, c.source, c.page, c.start_char, c.text, " ".join(t))
             for i, (c, t) in enumerate(zip(chunks, tokens, strict=True))),
        )
        self._append_vectors(vectors)
        self.num_rows += len(chunks)
        self.num_files += 1

    def copy_file(self, old: IndexReader, record: FileRecord) -> None:
        """Carries an unchanged file's chunks and vectors over from the live generation."""
        first = self.num_rows
        cur = self._db.execute(
            "INSERT INTO files (source, sha256, num_chunks, first_row, ingested_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (record.source, record.sha256, record.num_chunks, first, record.ingested_at))
        with old._db_lock:
            recs = old._db.execute(
                "SELECT row, chunk_id, source, page, start_char, text, tokens FROM chunks "
                "WHERE row >= ? AND row < ? ORDER BY row",
                (record.first_row, record.first_row + record.num_chunks)).fetchall()
        shift = first - record.first_row
        self._db.executemany(
            "INSERT INTO chunks (row, chunk_id, file_id, source, page, start_char, text, tokens) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            ((r[0] + shift, r[1], cur.lastrowid, *r[2:]) for r in recs))
        stop = record.first_row + record.num_chunks
        for start in range(record.first_row, stop, 4096):
            self._append_vectors(old.vectors_block(start, min(start + 4096, stop)))
        self.num_rows += record.num_chunks
        self.num_files += 1

    def _finish_vectors(self) -> None:
        """Raw float32 rows -> vectors.npy and a faiss index, a block at a time.

        Plain reads and writes rather than memory maps: mapped pages would count toward the
        process's resident memory for the whole corpus."""
        import faiss

        self._raw.close()
        n, d = self.num_rows, self.dimension
        if self.index_type == "hnsw":
            index = faiss.IndexHNSWFlat(d, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 80
            index.hnsw.efSearch = HNSW_EF_SEARCH
        else:
            index = faiss.IndexFlatIP(d)
        header = {"descr": "<f4", "fortran_order": False, "shape": (n, d)}
        with open(self._raw_path, "rb") as src, open(self.dir / VECTORS_NPY, "wb") as dst:
            np.lib.format.write_array_header_1_0(dst, header)
            while block := src.read(65536 * d * 4):
                dst.write(block)
                index.add(np.frombuffer(block, dtype=np.float32).reshape(-1, d))
        self._raw_path.unlink()
        faiss.write_index(index, str(self.dir / VECTORS_FAISS))

    def _finish_lexical(self) -> None:
        """BM25 over every row; tokens come back from SQLite as ids, not as Python strings."""
        vocab: dict[str, int] = {}
        docs: list[np.ndarray] = []
        for (joined,) in self._db.execute("SELECT tokens FROM chunks ORDER BY row"):
            # Small int32 arrays: a list of str lists for 200 MB of text would need gigabytes.
            docs.append(np.fromiter((vocab.setdefault(t, len(vocab)) for t in joined.split()),
                                    dtype=np.int32))
        lexical_from_ids(docs, vocab).save(self.dir / LEXICAL_DIR)

    def commit(self, manifest: Manifest) -> None:
        """Makes this generation live: everything fsynced, then manifest.json replaced."""
        if manifest.num_chunks != self.num_rows or manifest.generation != self.generation:
            raise ValueError("manifest does not describe this generation")
        self._db.commit()
        self._finish_lexical()
        self._db.close()
        self._finish_vectors()
        for path in sorted(self.dir.rglob("*")):
            if path.is_file():
                _fsync_path(path)
        for path in [self.dir / LEXICAL_DIR, self.dir]:
            _fsync_path(path)
        tmp = self.index_dir / (MANIFEST + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(manifest.to_json(), fh, indent=2, ensure_ascii=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.index_dir / MANIFEST)
        _fsync_path(self.index_dir)

    def abort(self) -> None:
        try:
            self._raw.close()
            self._db.close()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def lexical_from_ids(docs: list[np.ndarray], vocab: dict[str, int], k1: float = 1.5,
                     b: float = 0.75) -> LexicalIndex:
    """`LexicalIndex.build`, from token ids: the same BM25 index, a fraction of the memory."""
    import bm25s

    bm25 = bm25s.BM25(k1=k1, b=b)
    if docs:
        # As in LexicalIndex.build: bm25s needs a term in every document.
        empty = np.array([vocab.setdefault("", len(vocab))], dtype=np.int32)
        docs = [d if len(d) else empty for d in docs]
        bm25.index((docs, vocab), show_progress=False)
    return LexicalIndex(bm25, len(docs), k1, b)


def generation_dirs(index_dir: Path) -> list[Path]:
    if not index_dir.is_dir():
        return []
    return sorted(p for p in index_dir.iterdir() if p.is_dir() and p.name.startswith(GEN_PREFIX))


def next_generation(index_dir: Path) -> str:
    numbers = [int(p.name[len(GEN_PREFIX):]) for p in generation_dirs(index_dir)
               if p.name[len(GEN_PREFIX):].isdigit()]
    return f"{GEN_PREFIX}{max(numbers, default=0) + 1:06d}"


def remove_stale_generations(index_dir: Path, keep: str | None) -> None:
    """Deletes every generation but `keep` (half-built ones from a crash, superseded ones)."""
    for path in generation_dirs(index_dir):
        if path.name != keep:
            shutil.rmtree(path, ignore_errors=True)
