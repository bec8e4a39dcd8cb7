"""Building a new index generation beside the live one, and committing it atomically.

    writer = GenerationWriter(Path("idx"), next_generation(Path("idx")), dimension=384)
    writer.copy_file(live_reader, record)      # an unchanged file: no re-embedding
    writer.add_file(source, sha256, now, chunks, vectors, token_lists)
    writer.commit(manifest)                    # fsync everything, then os.replace(manifest)

A generation is always written in the current format (`ingest.store.FORMAT_VERSION`); files
copied from an older generation get its missing columns as NULL.

The layout and the reader are in `ingest.store.local.reader`.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ingest.core.fileio import atomic_write_json, fsync_path
from ingest.core.metadata import language_of
from ingest.core.types import Chunk
from ingest.settings import INDEX_TYPES
from ingest.store.base import HNSW_M, FileRecord, Manifest
from ingest.store.lexical import BM25_B, BM25_K1, EMPTY_DOC, LexicalIndex
from ingest.store.local.reader import (
    CHUNKS_DB,
    GEN_PREFIX,
    HNSW_EF_SEARCH,
    LEXICAL_DIR,
    MANIFEST,
    SCHEMA,
    VECTORS_FAISS,
    VECTORS_NPY,
    IndexReader,
)
from ingest.store.local.tombstones import TOMBSTONES_PREFIX, tombstones_number


class GenerationWriter:
    """Builds one new generation directory, row by row, then commits it.

        w = GenerationWriter(Path("idx"), "gen-000002", dimension=384)
        w.copy_file(old_reader, old_record)                 # unchanged file: no re-embedding
        w.add_file(source, sha, chunks, vectors, token_lists)
        w.commit(manifest_fields)                            # atomic swap of manifest.json

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
                 vectors: np.ndarray, tokens: Sequence[Sequence[str]],
                 skipped: str | None = None, metadata: dict | None = None) -> None:
        """`skipped`: the parts of the file left out, and why (the next run retries it);
        `metadata`: `ingest.core.metadata` form."""
        if not len(chunks) == len(vectors) == len(tokens):
            raise ValueError("chunks, vectors and tokens must have the same length")
        first = self.num_rows
        cur = self._db.execute(
            "INSERT INTO files (source, sha256, num_chunks, first_row, ingested_at, skipped, "
            "metadata) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (source, sha256, len(chunks), first, ingested_at, skipped,
             json.dumps(metadata or {}, ensure_ascii=False)))
        file_id = cur.lastrowid
        self._db.executemany(
            "INSERT INTO chunks (row, chunk_id, file_id, source, page, start_char, text, tokens, "
            "locator, ocr) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ((first + i, c.chunk_id, file_id, c.source, c.page, c.start_char, c.text, " ".join(t),
              c.locator, int(c.ocr))
             for i, (c, t) in enumerate(zip(chunks, tokens, strict=True))),
        )
        self._append_vectors(vectors)
        self.num_rows += len(chunks)
        self.num_files += 1

    def copy_file(self, old: IndexReader, record: FileRecord) -> None:
        """Carries an unchanged file's chunks and vectors over from the live generation (and
        gives a file from an index before format 3 the language its text is in)."""
        first = self.num_rows
        with old._db_lock:
            recs = old._db.execute(
                "SELECT row, chunk_id, source, page, start_char, text, tokens, "
                f"{old.chunk_columns} FROM chunks WHERE row >= ? AND row < ? ORDER BY row",
                (record.first_row, record.first_row + record.num_chunks)).fetchall()
        metadata = record.metadata
        if "language" not in metadata:
            metadata = metadata | {"language": [language_of([r[5] for r in recs])]}
        cur = self._db.execute(
            "INSERT INTO files (source, sha256, num_chunks, first_row, ingested_at, skipped, "
            "metadata) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (record.source, record.sha256, record.num_chunks, first, record.ingested_at,
             record.skipped, json.dumps(metadata, ensure_ascii=False)))
        shift = first - record.first_row
        self._db.executemany(
            "INSERT INTO chunks (row, chunk_id, file_id, source, page, start_char, text, tokens, "
            "locator, ocr) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                fsync_path(path)
        for path in [self.dir / LEXICAL_DIR, self.dir]:
            fsync_path(path)
        atomic_write_json(self.index_dir / MANIFEST, manifest.to_json())

    def abort(self) -> None:
        try:
            self._raw.close()
            self._db.close()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def lexical_from_ids(docs: list[np.ndarray], vocab: dict[str, int], k1: float = BM25_K1,
                     b: float = BM25_B) -> LexicalIndex:
    """`LexicalIndex.build`, from token ids: the same BM25 index, a fraction of the memory."""
    import bm25s

    bm25 = bm25s.BM25(k1=k1, b=b)
    if docs:
        # As in LexicalIndex.build: bm25s needs a term in every document.
        empty = np.array([vocab.setdefault(t, len(vocab)) for t in EMPTY_DOC], dtype=np.int32)
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


# A superseded generation stays this long after the commit that replaced it: a reader that
# read the old manifest a moment before may still be opening its files.
STALE_GRACE_SECONDS = 120.0


def _number(path: Path) -> int:
    tail = path.name[len(GEN_PREFIX):]
    return int(tail) if tail.isdigit() else -1


def mark_superseded(index_dir: Path, generation: str | None) -> None:
    """Stamps the generation a commit replaced: its grace period starts now."""
    if generation and (index_dir / generation).is_dir():
        os.utime(index_dir / generation)


def remove_stale_generations(index_dir: Path, keep: str | None,
                             grace: float = STALE_GRACE_SECONDS) -> None:
    """Deletes every generation but `keep`: at once the half-built ones a crash left (newer
    than `keep`, or any when nothing is live), superseded ones once `grace` seconds have
    passed since they were replaced (`mark_superseded`). A failure is left for the next run."""
    live = _number(index_dir / keep) if keep else None
    now = time.time()
    for path in generation_dirs(index_dir):
        if path.name == keep:
            continue
        superseded = live is not None and 0 <= _number(path) < live
        try:
            if superseded and now - path.stat().st_mtime < grace:
                continue
        except OSError:
            continue
        shutil.rmtree(path, ignore_errors=True)


def remove_stale_tombstones(generation_dir: Path, keep: str | None,
                            grace: float = STALE_GRACE_SECONDS) -> None:
    """Deletes the deletion records of a generation but `keep` (the live manifest's), by the
    rule of `remove_stale_generations`: at once those no commit named (newer than `keep`,
    any when it is None, temporary files of a crashed write), superseded ones `grace` seconds
    after the commit that replaced them (stamped by the remove that wrote the next)."""
    if not generation_dir.is_dir():
        return
    live = tombstones_number(keep) if keep else None
    now = time.time()
    for path in generation_dir.iterdir():
        if path.name == keep or not path.name.startswith(
                (TOMBSTONES_PREFIX, f".{TOMBSTONES_PREFIX}")):
            continue
        superseded = live is not None and 0 <= tombstones_number(path.name) < live
        try:
            if superseded and now - path.stat().st_mtime < grace:
                continue
            path.unlink()
        except OSError:
            continue  # gone already, or the disk refuses: the next run tries again
