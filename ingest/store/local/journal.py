"""The resume journal of an index directory: what an unfinished ingest already embedded.

    journal = ResumeJournal(Path("idx/.resume.sqlite"), stamp)
    journal.add(entries)                      # one batch, durable when it returns
    journal.get("/docs/a.pdf", sha256)        # a FileEntry, or None
    journal.discard()                         # after the new generation is committed

A run builds its new generation beside the live one and commits it at the end; a kill -9
before that throws the half-built generation away. So each batch of new files is also
committed here (SQLite, WAL, synchronous=FULL: on disk when `add` returns), and the next run
takes a file from the journal instead of loading and embedding it again when its content hash
matches. Readers never look at the journal: they see the last committed generation only.

The stamp (embedding model, dimension, chunking) says what the entries were made with; a
journal with another stamp is emptied, since its vectors or chunks would be wrong now.
Vectors are raw little-endian float32 bytes: nothing is pickled.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ingest.core.types import Chunk, FileEntry

JOURNAL = ".resume.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    source TEXT PRIMARY KEY, sha256 TEXT NOT NULL, ingested_at TEXT NOT NULL, skipped TEXT,
    metadata TEXT);
CREATE TABLE IF NOT EXISTS chunks (
    source TEXT NOT NULL REFERENCES files(source) ON DELETE CASCADE, seq INTEGER NOT NULL,
    chunk_id TEXT NOT NULL, text TEXT NOT NULL, page INTEGER, start_char INTEGER NOT NULL,
    locator TEXT, ocr INTEGER NOT NULL, tokens TEXT NOT NULL, vector BLOB NOT NULL,
    PRIMARY KEY (source, seq));
"""


class ResumeJournal:
    """Args:
        path: the journal file (`DIR/.resume.sqlite`).
        stamp: what entries must have been made with (model, dimension, chunk settings).
    """

    def __init__(self, path: Path, stamp: dict) -> None:
        self.path = Path(path)
        self._db = sqlite3.connect(self.path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(files)")}
        if "metadata" not in columns:  # a journal left by a ragqa before metadata
            self._db.execute("ALTER TABLE files ADD COLUMN metadata TEXT")
        wanted = json.dumps(stamp, sort_keys=True)
        row = self._db.execute("SELECT value FROM meta WHERE key = 'stamp'").fetchone()
        if row is None or row[0] != wanted:
            with self._db:
                self._db.execute("DELETE FROM files")
                self._db.execute("INSERT OR REPLACE INTO meta VALUES ('stamp', ?)", (wanted,))

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM files").fetchone()[0]

    def get(self, source: str, sha256: str) -> FileEntry | None:
        """The journalled file, if its bytes were the same (`sha256`)."""
        head = self._db.execute("SELECT ingested_at, skipped, metadata FROM files WHERE "
                                "source = ? AND sha256 = ?", (source, sha256)).fetchone()
        if head is None:
            return None
        rows = self._db.execute(
            "SELECT chunk_id, text, page, start_char, locator, ocr, tokens, vector FROM chunks "
            "WHERE source = ? ORDER BY seq", (source,)).fetchall()
        chunks = [Chunk(r[0], r[1], source, r[2], r[3], locator=r[4], ocr=bool(r[5]))
                  for r in rows]
        vectors = np.stack([np.frombuffer(r[7], dtype="<f4") for r in rows]).astype(np.float32)
        return FileEntry(source, sha256, head[0], chunks, vectors,
                         [r[6].split() for r in rows], head[1], json.loads(head[2] or "{}"))

    def add(self, entries: Sequence[FileEntry]) -> None:
        """Journals whole files in one transaction (a file journalled before is replaced)."""
        with self._db:
            for e in entries:
                self._db.execute("DELETE FROM files WHERE source = ?", (e.source,))
                self._db.execute("INSERT INTO files VALUES (?, ?, ?, ?, ?)",
                                 (e.source, e.sha256, e.ingested_at, e.skipped,
                                  json.dumps(e.metadata, ensure_ascii=False)))
                self._db.executemany(
                    "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    ((e.source, i, c.chunk_id, c.text, c.page, c.start_char, c.locator,
                      int(c.ocr), " ".join(t), np.asarray(v, dtype="<f4").tobytes())
                     for i, (c, t, v) in enumerate(zip(e.chunks, e.tokens, e.vectors,
                                                       strict=True))))

    def close(self) -> None:
        self._db.close()

    def discard(self) -> None:
        """Closes and deletes the journal (its work is in a committed generation now)."""
        self.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
