"""The index directory as a write target: its lock, its live generation, its write sessions.

    target = LocalTarget(Path("indexes/kb"))
    with target.lock():
        session = target.begin(target.open_live(), template, strict=False)
        session.keep(unchanged_records)            # rows copied, not re-embedded
        session.write_batch(entries)               # generation + resume journal
        session.finish(template, removed=[])       # manifest.json replaced atomically
    with target.lock():
        target.remove(["/docs/old.pdf"])           # a deletion record, no rewrite

A session builds one new generation (`ingest.store.local.writer.GenerationWriter`) and
commits it at the end. Every batch also goes to the resume journal (`ingest.store.local.journal`),
so a run killed an hour in loses at most its last batch: the next run takes the journalled
files instead of embedding them again. The layout is in `ingest.store.local.reader`.

`remove` reads only the manifest and the files table: it writes the next deletion record of
the live generation (`ingest.store.local.tombstones`) and a manifest naming it, in
milliseconds at any size. Once removed rows pass `COMPACT_SHARE` of the generation it
rewrites the live files into a new generation instead (`rewrite_without`), as any ingest that
changes a file does.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import asdict, replace
from pathlib import Path

from ingest.core.clock import utc_now
from ingest.core.fileio import atomic_write_json
from ingest.core.types import FileEntry, IndexOpenError, IngestError
from ingest.store.base import (
    FORMAT_VERSION,
    DocumentNotFoundError,
    FailedFile,
    FileRecord,
    IndexLockedError,
    Manifest,
    records_named,
)
from ingest.store.local.journal import JOURNAL, ResumeJournal
from ingest.store.local.reader import (
    FAILURES,
    GEN_PREFIX,
    MANIFEST,
    IndexReader,
    has_index,
    open_chunks_db,
    read_failures,
    read_file_records,
    read_manifest,
)
from ingest.store.local.tombstones import (
    COMPACT_SHARE,
    Tombstones,
    next_tombstones_name,
    read_dead,
    write_tombstones,
)
from ingest.store.local.writer import (
    GenerationWriter,
    mark_superseded,
    next_generation,
    remove_stale_generations,
    remove_stale_tombstones,
)

LOCK_FILE = ".lock"
log = logging.getLogger(__name__)


class IndexLock:
    """A non-blocking exclusive lock on DIR/.lock (filelock: an OS lock, so it is released
    when the process dies, even by kill -9). The holder writes its pid into the file for the
    message a second writer prints."""

    def __init__(self, index_dir: Path) -> None:
        from filelock import FileLock

        self.path = Path(index_dir) / LOCK_FILE
        self._lock = FileLock(self.path, blocking=False)

    def __enter__(self) -> IndexLock:
        from filelock import Timeout

        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except Timeout:
            try:
                holder = self.path.read_text(encoding="utf-8").strip() or "unknown"
            except OSError:
                holder = "unknown"
            raise IndexLockedError(
                f"index {self.path.parent} is being written by another ragqa ingest "
                f"(pid {holder}); wait for it to finish, then run again") from None
        self.path.write_text(str(os.getpid()), encoding="utf-8")
        return self

    @classmethod
    def check_free(cls, index_dir: Path) -> None:
        """Raises IndexLockedError now if a writer holds the lock."""
        if (Path(index_dir) / LOCK_FILE).exists():
            with cls(index_dir):
                pass

    def __exit__(self, *exc) -> None:
        self._lock.release()


def refuse_foreign_folder(index_dir: Path) -> None:
    """Ingesting into a folder of documents would bury them under index files: refuse."""
    if not index_dir.is_dir() or (index_dir / MANIFEST).exists():
        return
    # A crash can leave a generation being built, the manifest's temporary file or the
    # resume journal behind.
    ours = (GEN_PREFIX, f".{MANIFEST}.", LOCK_FILE, JOURNAL, FAILURES, f".{FAILURES}.")
    strangers = sorted(p.name for p in index_dir.iterdir() if not p.name.startswith(ours))
    if strangers:
        raise IngestError(f"{index_dir} is not a ragqa index and not empty (it holds "
                          f"{strangers[0]!r}); choose a new or empty --index directory")


def journal_stamp(template: Manifest) -> dict:
    """What journalled entries depend on: the embedder and the chunking."""
    return {"embedding_model": template.embedding_model, "dimension": template.dimension,
            "chunk_size": template.chunk_size, "chunk_overlap": template.chunk_overlap}


class LocalWriteSession:
    """One run's new generation plus its resume journal (see the module docstring).

    A strict run journals nothing (it writes all or nothing), but may use a journal left by
    an earlier run."""

    def __init__(self, index_dir: Path, live: IndexReader | None, template: Manifest,
                 strict: bool = False) -> None:
        self.index_dir = Path(index_dir)
        self.live = live
        self.strict = strict
        self._stamp = journal_stamp(template)
        self.journal: ResumeJournal | None = None
        if (self.index_dir / JOURNAL).exists():
            self.journal = ResumeJournal(self.index_dir / JOURNAL, self._stamp)
        self.writer = GenerationWriter(self.index_dir, next_generation(self.index_dir),
                                       template.dimension, template.index_type)

    def keep(self, records: Sequence[FileRecord]) -> None:
        for record in records:
            self.writer.copy_file(self.live, record)

    def resumed(self, source: str, sha256: str) -> FileEntry | None:
        return self.journal.get(source, sha256) if self.journal else None

    def write_batch(self, entries: Sequence[FileEntry]) -> None:
        for e in entries:
            self.writer.add_file(e.source, e.sha256, e.ingested_at, e.chunks, e.vectors,
                                 e.tokens, e.skipped, e.metadata)
        if self.strict:
            return
        if self.journal is None:
            self.journal = ResumeJournal(self.index_dir / JOURNAL, self._stamp)
        self.journal.add(entries)

    def finish(self, manifest: Manifest, removed: Sequence[str]) -> None:
        """`removed` files were simply not carried over; the manifest gets the counts.

        Replacing manifest.json is the commit point: nothing after it can undo the commit.
        The clean-up after it (the journal, superseded generations) that fails is logged
        and done again by the next run."""
        self.writer.commit(replace(manifest, num_files=self.writer.num_files,
                                   num_chunks=self.writer.num_rows,
                                   generation=self.writer.generation, dead_rows=0,
                                   tombstones=None))
        try:
            mark_superseded(self.index_dir, self.live.manifest.generation if self.live else None)
            if self.journal is not None:
                self.journal.discard()
            remove_stale_generations(self.index_dir, keep=self.writer.generation)
        except Exception as exc:  # the commit stands; the next run cleans up
            log.warning("%s: committed, but cleaning up failed (the next run retries): %s",
                        self.index_dir, exc)

    def committed(self) -> bool:
        """Whether manifest.json names this session's generation (it is live)."""
        try:
            return read_manifest(self.index_dir).generation == self.writer.generation
        except Exception:
            return False

    def abort(self) -> None:
        """Throws the generation away, unless it is already live (an interrupt after the
        commit point); the journal stays for the next run."""
        try:
            if not self.committed():
                self.writer.abort()
        finally:
            if self.journal is not None:
                self.journal.close()


class LocalTarget:
    """An index directory to write (created if missing; refused if it holds other files)."""

    def __init__(self, index_dir: Path) -> None:
        self.location = Path(index_dir)

    def check_writable(self) -> None:
        refuse_foreign_folder(self.location)
        IndexLock.check_free(self.location)

    def lock(self) -> IndexLock:
        refuse_foreign_folder(self.location)  # before a lock file lands in someone's folder
        return IndexLock(self.location)

    def open_live(self) -> IndexReader | None:
        if (self.location / MANIFEST).exists():
            live = IndexReader(self.location)
            remove_stale(self.location, live.manifest)
            return live
        refuse_foreign_folder(self.location)
        remove_stale_generations(self.location, None)
        return None

    def begin(self, live: IndexReader | None, template: Manifest,
              strict: bool) -> LocalWriteSession:
        return LocalWriteSession(self.location, live, template, strict)

    def remove(self, sources: Sequence[str]) -> list[FileRecord]:
        """Drops `sources` (under the lock): a deletion record, or past `COMPACT_SHARE` of
        dead rows a rewrite. Opens neither FAISS nor BM25 for the former."""
        if not has_index(self.location):
            raise DocumentNotFoundError(f"{self.location}: no index here yet")
        manifest = read_manifest(self.location)
        dead = read_dead(self.location, manifest)
        named = live_records(self.location, manifest, dead, sources)
        removed = records_named(named, sources, str(self.location))
        if not removed:
            return []
        dead = dead.plus(removed)
        if dead.num_rows > COMPACT_SHARE * dead.total_rows:
            rewrite_without(self.location, [r.source for r in removed])
        else:
            commit_tombstones(self.location, manifest, dead, manifest.num_files - len(removed))
        return removed

    def exclude(self) -> Path:
        return self.location

    def failures(self) -> dict[str, FailedFile]:
        return {f.source: f for f in read_failures(self.location)}

    def record_failures(self, failures: Mapping[str, FailedFile]) -> None:
        path = self.location / FAILURES
        if not failures and not path.exists():
            return
        atomic_write_json(path, [asdict(f) for f in sorted(failures.values(),
                                                            key=lambda f: f.source)])


def remove_stale(index_dir: Path, manifest: Manifest) -> None:
    """What a crash or a superseding commit left: generations and deletion records."""
    remove_stale_generations(index_dir, manifest.generation)
    remove_stale_tombstones(index_dir / manifest.generation, manifest.tombstones)


def live_records(index_dir: Path, manifest: Manifest, dead: Tombstones,
                 sources: Sequence[str]) -> list[FileRecord]:
    """Those of `sources` that are live files of the manifest's generation, from its files
    table alone."""
    try:
        db = open_chunks_db(index_dir / manifest.generation)
        try:
            records = read_file_records(db, manifest.format_version, sources)
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise IndexOpenError(f"index {index_dir} is corrupt or incomplete: "
                             f"{index_dir / manifest.generation} ({exc}); re-run `ragqa "
                             "ingest` to rebuild it") from None
    gone = dead.first_rows()
    return [r for r in records if r.first_row not in gone]


def commit_tombstones(index_dir: Path, manifest: Manifest, dead: Tombstones,
                      num_files: int) -> None:
    """The incremental removal: a new deletion record holding every dead file of the
    generation, durable, then the manifest naming it (the commit point; after it, only
    clean-up, which the next run redoes if it fails)."""
    generation = index_dir / manifest.generation
    name = next_tombstones_name(generation)
    write_tombstones(generation / name, dead)
    if manifest.tombstones:
        # The record this commit supersedes: its grace period starts now. Before the commit,
        # so a crash right after it cannot leave the record looking old; a live one's stamp
        # means nothing.
        with suppress(FileNotFoundError):
            os.utime(generation / manifest.tombstones)
    committed = replace(manifest, num_files=num_files,
                        num_chunks=dead.total_rows - dead.num_rows, dead_rows=dead.num_rows,
                        tombstones=name, updated_at=utc_now())
    atomic_write_json(index_dir / MANIFEST, committed.to_json())
    try:
        remove_stale(index_dir, committed)
    except Exception as exc:  # the commit stands; the next run cleans up
        log.warning("%s: committed, but cleaning up failed (the next run retries): %s",
                    index_dir, exc)


def rewrite_without(index_dir: Path, sources: Sequence[str]) -> None:
    """Compaction: the live files but `sources` copied into a new generation (FAISS and BM25
    rebuilt, no deletion record), committed; under the lock. What every removal did before
    deletion records, and what an ingest that changes a file still does."""
    live = IndexReader(index_dir)
    try:
        gone = set(sources)
        # A new generation is written in the current format, whatever the live one's.
        template = replace(live.manifest, format_version=FORMAT_VERSION, updated_at=utc_now(),
                           num_files=0, num_chunks=0, generation="", dead_rows=0,
                           tombstones=None)
        session = LocalWriteSession(index_dir, live, template, strict=True)
        try:
            session.keep([r for r in live.files() if r.source not in gone])
            session.finish(template, list(sources))
        except BaseException:
            session.abort()
            raise
    finally:
        live.close()
