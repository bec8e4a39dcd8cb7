"""`Ingestor`: files in, a new index generation out — incremental, atomic, one writer at a time.

    >>> ingestor = Ingestor(Path("indexes/kb"), Embedder(), IngestSettings(chunk_size=600))
    >>> report = ingestor.ingest([Path("data/kb")], sync=True)
    >>> len(report.ingested), len(report.unchanged), report.failed
    (12, 0, [FileFailure(source='/…/scan.pdf', reason='no text layer … needs OCR')])

A run: take the index lock, hash every file, then, only if something changed, build a new
generation: unchanged files' chunks and vectors are copied over (no re-embedding), new and
changed files are loaded, chunked and embedded in length-sorted batches a buffer at a time,
and the generation is committed atomically (see `ingest.index`).

`progress(stage, done, total)` is called with the stages "scan" (files hashed), "files" (files
processed), "embed" (chunks embedded; the total grows as files are chunked) and "commit".
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ingest.chunking import Chunker
from ingest.index import (
    FORMAT_VERSION,
    GEN_PREFIX,
    MANIFEST,
    IndexReader,
    Manifest,
)
from ingest.loaders import LoadError, Tesseract, load_document, read_bytes
from ingest.settings import IngestSettings
from ingest.text import tokenize
from ingest.types import Chunk, FileFailure, IngestError, IngestReport
from ingest.writer import GenerationWriter, next_generation, remove_stale_generations

Progress = Callable[[str, int, int], None]
LOCK_FILE = ".lock"


class IndexLockedError(IngestError):
    """Another `ragqa ingest` is writing the same index."""


class StrictIngestError(IngestError):
    """A file failed in a strict run; nothing was written. `.report` lists what happened."""

    def __init__(self, message: str, report: IngestReport) -> None:
        super().__init__(message)
        self.report = report


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


def check_index_dir(index_dir: Path) -> None:
    """The checks `Ingestor.ingest` makes first, for callers to run before a slow model load:
    the folder is an index (or new, or empty) and no other writer holds its lock."""
    refuse_foreign_folder(Path(index_dir))
    IndexLock.check_free(Path(index_dir))


def refuse_foreign_folder(index_dir: Path) -> None:
    """Ingesting into a folder of documents would bury them under index files: refuse."""
    if not index_dir.is_dir() or (index_dir / MANIFEST).exists():
        return
    # A crash can leave a generation being built or the manifest's temporary file behind.
    ours = (GEN_PREFIX, f".{MANIFEST}.", LOCK_FILE)
    strangers = sorted(p.name for p in index_dir.iterdir() if not p.name.startswith(ours))
    if strangers:
        raise IngestError(f"{index_dir} is not a ragqa index and not empty (it holds "
                          f"{strangers[0]!r}); choose a new or empty --index directory")


def discover(paths: Iterable[Path], exclude: Path | None = None
             ) -> tuple[list[Path], list[FileFailure]]:
    """Files named or found (recursively, hidden ones skipped) under `paths`, resolved, deduped."""
    found: dict[Path, None] = {}
    missing: list[FileFailure] = []
    exclude = exclude.resolve() if exclude else None
    for given in paths:
        path = Path(given).expanduser().resolve()
        if path.is_file():
            found[path] = None
        elif path.is_dir():
            for f in sorted(path.rglob("*")):
                rel = f.relative_to(path).parts
                if any(part.startswith(".") for part in rel) or not f.is_file():
                    continue
                if exclude and f.is_relative_to(exclude):
                    continue  # never ingest the index into itself
                found[f.resolve()] = None
        elif path.exists():
            missing.append(FileFailure(str(path), "unreadable: not a regular file"))
        else:
            missing.append(FileFailure(str(path), "unreadable: the file does not exist"))
    return list(found), missing


def sha256_file(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError as exc:
        raise LoadError(f"unreadable: {exc.strerror or exc}") from None


@dataclass
class _Loaded:
    """A new or changed file, chunked, waiting in the buffer for its embeddings."""

    source: str
    sha256: str
    chunks: list[Chunk]
    tokens: list[list[str]] = field(default_factory=list)
    skipped: str | None = None  # parts left out (scanned pages without OCR), and why


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Ingestor:
    """Ingests files into the index at `index_dir`.

    Args:
        index_dir: the index directory (created if missing; refused if it holds other files).
        embedder: an `ingest.embedder.Embedder` (anything with .name, .dimension, .embed).
        settings: chunking (`chunk_size`, `chunk_overlap`, see `ingest.chunking.Chunker`), the
            `index_type` ("flat" exact, "hnsw" approximate for large corpora), `ocr` (auto, off,
            force: see `ingest.loaders`) and `buffer_chunks` (chunks held for embedding at once).
        tesseract: the OCR engine for scans (default: `Tesseract()`, the `tesseract` binary).

    A file that went in with parts left out (scanned pages while Tesseract was missing) is
    loaded again by the next run, unless OCR is off, so installing Tesseract completes it.
    """

    def __init__(self, index_dir: Path, embedder, settings: IngestSettings | None = None,
                 tesseract: Tesseract | None = None) -> None:
        settings = settings or IngestSettings()
        self.index_dir = Path(index_dir)
        self.embedder = embedder
        self.settings = settings
        self.chunker = Chunker(settings.chunk_size, settings.chunk_overlap)
        self.index_type = settings.index_type
        self.buffer_chunks = settings.buffer_chunks
        self.tesseract = tesseract or Tesseract()
        self.batch_size = int(getattr(embedder, "batch_size", 64))

    def ingest(self, paths: Sequence[Path], sync: bool = False, strict: bool = False,
               progress: Progress | None = None) -> IngestReport:
        """Adds new files, replaces changed ones, skips unchanged ones; `sync` also drops
        indexed files not found under `paths`. `strict`: stop at the first failing file and
        write nothing (raises StrictIngestError). Returns what happened."""
        started = time.perf_counter()
        report = IngestReport()
        tick = progress or (lambda stage, done, total: None)
        refuse_foreign_folder(self.index_dir)  # before a lock file lands in someone's folder
        with IndexLock(self.index_dir):
            old = self._open_live()
            try:
                self._run(old, paths, sync, strict, report, tick)
            finally:
                if old is not None:
                    old.close()
        report.seconds = time.perf_counter() - started
        return report

    def _run(self, old: IndexReader | None, paths: Sequence[Path], sync: bool, strict: bool,
             report: IngestReport, tick: Progress) -> None:
        remove_stale_generations(self.index_dir, old.manifest.generation if old else None)
        files, report.failed = discover(paths, exclude=self.index_dir)
        if strict and report.failed:
            raise StrictIngestError(self._strict_message(report.failed[0]), report)
        old_files = {r.source: r for r in old.files()} if old else {}
        rechunk = old is not None and (
            (old.manifest.chunk_size, old.manifest.chunk_overlap)
            != (self.chunker.chunk_size, self.chunker.chunk_overlap))
        if rechunk:  # old chunks were cut differently: every indexed file is redone
            known = set(files)
            files += [Path(s) for s in old_files if Path(s) not in known and Path(s).exists()]

        hashes: dict[str, str] = {}
        for i, path in enumerate(files, 1):
            try:
                hashes[str(path)] = sha256_file(path)
            except LoadError as exc:
                report.failed.append(FileFailure(str(path), exc.reason))
                if strict:
                    raise StrictIngestError(self._strict_message(report.failed[-1]),
                                            report) from None
            tick("scan", i, len(files))
        retry = self.settings.ocr != "off"  # files with scans left out: try to read them now
        keep = [r for s, r in old_files.items()
                if not rechunk and hashes.get(s) == r.sha256 and not (retry and r.skipped)]
        unchanged = {r.source for r in keep}
        report.unchanged = sorted(unchanged)
        todo = [s for s in hashes if s not in unchanged]
        given = set(hashes) | {f.source for f in report.failed}
        for s, r in old_files.items():
            if s in hashes or rechunk or (sync and s not in given):
                continue
            keep.append(r)  # not among the paths (or unreadable now): kept as it is
        kept = {r.source for r in keep}
        gone = [r for s, r in old_files.items() if s not in kept and s not in hashes]

        if old and not todo and not gone and old.manifest.index_type == self.index_type:
            return  # nothing changed: no new generation, nothing re-embedded
        if not old and not todo:
            return
        committed = self._write(old, keep, todo, old_files, report, strict, tick)
        if committed:
            report.removed = sorted(set(report.removed) | {r.source for r in gone})
            report.chunks_removed += sum(r.num_chunks for r in gone)

    def _open_live(self) -> IndexReader | None:
        """The live generation, or None for a new index; refuses a folder that is not one."""
        if (self.index_dir / MANIFEST).exists():
            old = IndexReader(self.index_dir)
            old.check_embedder(self.embedder)
            return old
        refuse_foreign_folder(self.index_dir)
        return None

    def _write(self, old: IndexReader | None, keep: list, todo: list[str], old_files: dict,
               report: IngestReport, strict: bool, tick: Progress) -> bool:
        """Builds and commits a new generation; False when it turned out not to be needed."""
        generation = next_generation(self.index_dir)
        writer = GenerationWriter(self.index_dir, generation, self.embedder.dimension,
                                  self.index_type)
        try:
            for record in keep:
                writer.copy_file(old, record)
            total_files = len(todo) + len(report.unchanged)
            done_files = len(report.unchanged)
            tick("files", done_files, total_files)
            buffer: list[_Loaded] = []
            counts = {"chunked": 0, "embedded": 0}
            for source in todo:
                loaded = self._load(source, report)
                if loaded is None and strict:
                    raise StrictIngestError(self._strict_message(report.failed[-1]), report)
                if loaded is not None:
                    buffer.append(loaded)
                    counts["chunked"] += len(loaded.chunks)
                    prior = old_files.get(source)
                    if prior is not None:
                        report.removed.append(source)
                        report.chunks_removed += prior.num_chunks
                elif source in old_files:  # it changed and no longer loads: its text is stale
                    report.removed.append(source)
                    report.chunks_removed += old_files[source].num_chunks
                done_files += 1
                if sum(len(b.chunks) for b in buffer) >= self.buffer_chunks:
                    self._flush(buffer, writer, report, counts, tick)
                tick("files", done_files, total_files)
            self._flush(buffer, writer, report, counts, tick)
            if (old and not report.ingested and not report.removed and len(keep) == len(old_files)
                    and old.manifest.index_type == self.index_type):
                writer.abort()  # every changed file failed: the live generation is still right
                return False
            now = _now()
            created = old.manifest.created_at if old else now
            writer.commit(Manifest(
                format_version=FORMAT_VERSION, embedding_model=self.embedder.name,
                dimension=self.embedder.dimension, chunk_size=self.chunker.chunk_size,
                chunk_overlap=self.chunker.chunk_overlap, index_type=self.index_type,
                num_files=writer.num_files, num_chunks=writer.num_rows, created_at=created,
                updated_at=now, generation=generation))
        except BaseException:
            writer.abort()
            raise
        tick("commit", 1, 1)
        remove_stale_generations(self.index_dir, keep=generation)
        return True

    def _load(self, source: str, report: IngestReport) -> _Loaded | None:
        """Reads, parses and chunks one file; a failure is recorded in `report`, not raised."""
        try:
            data = read_bytes(Path(source))
            sha = hashlib.sha256(data).hexdigest()  # the bytes parsed, even if it just changed
            document = load_document(data, source, self.settings.ocr, self.tesseract)
            chunks = self.chunker.split_pages(document.pages, sha)
            if not chunks:
                raise LoadError("no text in the file")
        except LoadError as exc:
            report.failed.append(FileFailure(source, exc.reason))
            return None
        skipped = "; ".join(document.skipped) or None
        if skipped:
            report.partial.append(FileFailure(source, skipped))
        return _Loaded(source, sha, chunks, [tokenize(c.text) for c in chunks], skipped)

    def _flush(self, buffer: list[_Loaded], writer: GenerationWriter, report: IngestReport,
               counts: dict[str, int], tick: Progress) -> None:
        """Embeds the buffered files' chunks longest first (batches of similar length pad
        little; a text repeated in the buffer, like a page footer, is embedded once), then
        writes each file with its vectors, and empties the buffer."""
        if not buffer:
            return
        unique: dict[str, int] = {}
        slots = np.array([unique.setdefault(c.text, len(unique))
                          for item in buffer for c in item.chunks], dtype=np.int64)
        texts = list(unique)
        counts["repeats"] = counts.get("repeats", 0) + len(slots) - len(texts)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        embedded = np.empty((len(texts), self.embedder.dimension), dtype=np.float32)
        step = self.batch_size * 4
        for start in range(0, len(order), step):
            rows = order[start:start + step]
            embedded[rows] = self.embedder.embed([texts[i] for i in rows])
            counts["embedded"] += len(rows)
            tick("embed", counts["embedded"], counts["chunked"] - counts["repeats"])
        vectors = embedded[slots] if len(texts) < len(slots) else embedded
        offset = 0
        ingested_at = _now()
        for item in buffer:
            n = len(item.chunks)
            writer.add_file(item.source, item.sha256, ingested_at, item.chunks,
                            vectors[offset:offset + n], item.tokens, item.skipped)
            offset += n
            report.ingested.append(item.source)
            report.chunks_added += n
        buffer.clear()

    @staticmethod
    def _strict_message(failure: FileFailure) -> str:
        return (f"{failure.source}: {failure.reason} (--strict: nothing was written to the "
                "index)")
