"""`Ingestor`: files in, a new index generation out — incremental, atomic, one writer at a time.

    ingestor = Ingestor(Path("indexes/kb"), Embedder(), IngestSettings(chunk_size=600))
    report = ingestor.ingest([Path("data/kb")], sync=True)
    len(report.ingested), len(report.unchanged), report.failed
    # (12, 0, [FileFailure(source='/…/scan.pdf', reason='no text layer … needs OCR')])

A run: take the index's writer lock, hash every file, then, only if something changed, open a
write session on the store (`ingest.store`): unchanged files stay (an index directory copies
their rows, no re-embedding), new and changed files are loaded, chunked and embedded in
length-sorted batches, each batch written whole and made durable (a file journalled or
committed every `commit_files` files or `commit_seconds` seconds), and the session finishes
by committing atomically (a new generation in a directory, see `ingest.store.local.target`; the last
transaction in PostgreSQL, see `ingest.store.postgres`). A run killed midway loses at most its last
batch: the next one takes what was journalled or committed and goes on.

`progress(stage, done, total)` is called with the stages "scan" (files hashed), "files" (files
processed), "embed" (chunks embedded; the total grows as files are chunked) and "commit".
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ingest.chunking import Chunker
from ingest.core.clock import utc_now
from ingest.core.metadata import (
    MetadataError,
    document_metadata,
    is_sidecar,
    read_sidecar,
    sidecar_path,
)
from ingest.core.text import tokenize
from ingest.core.types import Chunk, FileEntry, FileFailure, IngestError, IngestReport
from ingest.loaders import READING_VERSION, LoadError, Tesseract, load_document, read_bytes
from ingest.plan import IngestPlan, plan_ingest
from ingest.settings import IngestSettings
from ingest.store import (
    FORMAT_VERSION,
    FileRecord,
    IndexStore,
    IndexTarget,
    Location,
    Manifest,
    WriteSession,
    index_target,
    updated_failures,
)
from ingest.store import (
    DocumentNotFoundError as DocumentNotFoundError,  # raised by `remove`; callers catch it here
)

Progress = Callable[[str, int, int], None]


class StrictIngestError(IngestError):
    """A file failed in a strict run; nothing was written. `.report` lists what happened."""

    def __init__(self, message: str, report: IngestReport) -> None:
        super().__init__(message)
        self.report = report


def check_index_dir(location: Location) -> None:
    """The checks `Ingestor.ingest` makes first, for callers to run before a slow model load:
    the place can hold an index (a folder new, empty or an index) and no writer holds it."""
    index_target(location).check_writable()


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
                if is_sidecar(f):
                    continue  # a document's metadata, read with the document
                found[f.resolve()] = None
        elif path.exists():
            missing.append(FileFailure(str(path), "unreadable: not a regular file"))
        else:
            missing.append(FileFailure(str(path), "unreadable: the file does not exist"))
    return list(found), missing


def sha256_file(path: Path) -> str:
    """The file's fingerprint (`fingerprint`), reading it in blocks."""
    try:
        with open(path, "rb") as fh:
            digest = hashlib.file_digest(fh, "sha256")
    except OSError as exc:
        raise LoadError(f"unreadable: {exc.strerror or exc}") from None
    return _with_sidecar(digest, path)


def fingerprint(data: bytes, path: Path) -> str:
    """SHA-256 of the file's bytes, and of its sidecar NAME.meta.json's when it has one, so that
    editing the sidecar re-ingests the file (its metadata changed)."""
    return _with_sidecar(hashlib.sha256(data), path)


def _with_sidecar(digest, path: Path) -> str:
    try:
        side = sidecar_path(Path(path)).read_bytes()
    except OSError:  # none (or unreadable: reported when the file loads)
        return digest.hexdigest()
    digest.update(b"\0ragqa sidecar\0" + side)
    return digest.hexdigest()


@dataclass
class _Loaded:
    """A new or changed file, chunked, waiting in the buffer for its embeddings."""

    source: str
    sha256: str
    chunks: list[Chunk]
    tokens: list[list[str]] = field(default_factory=list)
    skipped: str | None = None  # parts left out (scanned pages without OCR), and why
    custom: dict[str, list[str]] = field(default_factory=dict)  # front matter, sidecar


@dataclass
class _Batch:
    """Files waiting to be written together: loaded ones (to embed) and resumed ones."""

    loaded: list[_Loaded] = field(default_factory=list)
    resumed: list[FileEntry] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def __len__(self) -> int:
        return len(self.loaded) + len(self.resumed)


def sync_roots(paths: Sequence[Path]) -> list[str]:
    """The roots under which `sync` may drop files: those given that exist now, resolved."""
    return [str(Path(p).resolve()) for p in paths if Path(p).exists()]



class Ingestor:
    """Ingests files into the index at `index` (a directory or a `postgresql://` URL).

    Args:
        index: where the index lives (`ingest.store.parse_location`), or an `IndexTarget`.
            A directory is created if missing and refused if it holds other files.
        embedder: an `ingest.embedder.Embedder` (anything with .name, .dimension, .embed).
        settings: chunking (`chunk_size`, `chunk_overlap`, see `ingest.chunking.Chunker`), the
            `index_type` ("flat" exact, "hnsw" approximate for large corpora), `ocr` (auto, off,
            force: see `ingest.loaders`), `buffer_chunks` (chunks held for embedding at once)
            and `commit_files` / `commit_seconds` (how often progress is made durable).
        tesseract: the OCR engine for scans (default: `Tesseract()`, the `tesseract` binary).

    A file that went in with parts left out (scanned pages while Tesseract was missing) is
    loaded again by the next run, unless OCR is off, so installing Tesseract completes it.
    """

    def __init__(self, index: Location | IndexTarget, embedder,
                 settings: IngestSettings | None = None,
                 tesseract: Tesseract | None = None) -> None:
        settings = settings or IngestSettings()
        self.target = index_target(index) if isinstance(index, Path | str) else index
        self.embedder = embedder
        self.settings = settings
        self.chunker = Chunker(settings.chunk_size, settings.chunk_overlap)
        self.tesseract = tesseract or Tesseract()
        self.batch_size = int(getattr(embedder, "batch_size", 64))

    def ingest(self, paths: Sequence[Path], sync: bool = False, strict: bool = False,
               progress: Progress | None = None, force: bool = False) -> IngestReport:
        """Adds new files, replaces changed ones, skips unchanged ones; `sync` also drops
        indexed files not found under `paths`. `strict`: stop at the first failing file and
        write nothing (raises StrictIngestError). `force`: load the files under `paths` again
        even when unchanged. Returns what happened."""
        started = time.perf_counter()
        report = IngestReport()
        tick = progress or (lambda stage, done, total: None)
        with self.target.lock():
            old = self.target.open_live()
            try:
                if old is not None:
                    old.check_embedder(self.embedder)
                self._run(old, paths, sync, strict, report, tick, force)
            finally:
                if old is not None:
                    old.close()
            # What failed stays on record (docs list shows it) until a run ingests it.
            self.target.record_failures(updated_failures(
                self.target.failures(), {f.source: f.reason for f in report.failed},
                [*report.ingested, *report.unchanged, *report.removed], utc_now()))
        report.seconds = time.perf_counter() - started
        return report

    def remove(self, sources: Sequence[str]) -> IngestReport:
        """Drops indexed files (their chunks, vectors and postings) in one commit: a reader
        sees the index with them or without them, never half. Raises DocumentNotFoundError
        (nothing changed) when one of `sources` is not in the index.

        Needs no embedder (it may be None) and keeps the index's chunking and index type;
        the store removes the files in place (a deletion record in a folder, rows deleted in
        PostgreSQL) without copying or re-indexing the others."""
        started = time.perf_counter()
        report = IngestReport()
        with self.target.lock():
            removed = self.target.remove(sources)
        report.removed = sorted(r.source for r in removed)
        report.chunks_removed = sum(r.num_chunks for r in removed)
        report.seconds = time.perf_counter() - started
        return report

    def _run(self, old: IndexStore | None, paths: Sequence[Path], sync: bool, strict: bool,
             report: IngestReport, tick: Progress, force: bool = False) -> None:
        files, report.failed = discover(paths, exclude=self.target.exclude())
        if strict and report.failed:
            raise StrictIngestError(self._strict_message(report.failed[0]), report)
        old_files = {r.source: r for r in old.files()} if old else {}
        rechunk = old is not None and (
            (old.manifest.chunk_size, old.manifest.chunk_overlap)
            != (self.settings.chunk_size, self.settings.chunk_overlap))
        # Files read by another ragqa than this one (an upgrade): each is read again, wherever
        # it lies, so that the index's text is this ragqa's reading of every file.
        reread = old is not None and old.manifest.reading_version != READING_VERSION
        if rechunk or reread:  # every indexed file that still exists is redone
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
        plan = plan_ingest(old_files, hashes, [f.source for f in report.failed],
                           rechunk=rechunk, sync=sync, roots=sync_roots(paths),
                           retry=self.settings.ocr != "off",  # scans left out: read them now
                           force=set(hashes) if force or reread else ())
        report.unchanged = sorted(r.source for r in plan.unchanged)
        if reread:
            report.reread = sorted(s for s in plan.todo if s in old_files)
        if not plan.todo and (old is None or (not plan.gone and self._current(old))):
            return  # nothing changed: nothing written, nothing re-embedded
        if not plan.todo and not rechunk and self._current(old):
            # Files only dropped (a sync after deletions): removed in place, as by `remove`.
            # A run that also adds or changes one writes a new generation, without them.
            removed = self.target.remove([r.source for r in plan.gone])
            report.removed = sorted(r.source for r in removed)
            report.chunks_removed = sum(r.num_chunks for r in removed)
            return
        committed = self._write(old, plan, hashes, old_files, report, strict, tick)
        if committed:
            report.removed = sorted(set(report.removed) | {r.source for r in plan.gone})
            report.chunks_removed += sum(r.num_chunks for r in plan.gone)

    def _current(self, old: IndexStore) -> bool:
        """The live index needs no rewrite of its unchanged files: same index type, and the
        current format (an older one is upgraded: its files get their metadata)."""
        return (old.manifest.index_type == self.settings.index_type
                and old.manifest.format_version == FORMAT_VERSION)

    def _template(self, old: IndexStore | None) -> Manifest:
        """The manifest this run writes; the session fills in counts and generation."""
        now, s = utc_now(), self.settings
        return Manifest(
            format_version=FORMAT_VERSION, embedding_model=self.embedder.name,
            dimension=self.embedder.dimension, chunk_size=s.chunk_size,
            chunk_overlap=s.chunk_overlap, index_type=s.index_type, num_files=0, num_chunks=0,
            created_at=old.manifest.created_at if old else now, updated_at=now, generation="",
            reading_version=READING_VERSION)

    def _write(self, old: IndexStore | None, plan: IngestPlan, hashes: dict[str, str],
               old_files: dict[str, FileRecord], report: IngestReport, strict: bool,
               tick: Progress) -> bool:
        """Writes the run through one session; False when nothing needed committing."""
        template = self._template(old)
        session = self.target.begin(old, template, strict)
        try:
            session.keep(plan.keep)
            total_files = len(plan.todo) + len(report.unchanged)
            done_files = len(report.unchanged)
            tick("files", done_files, total_files)
            batch = _Batch()
            counts = {"chunked": 0, "embedded": 0}
            for source in plan.todo:
                entry = session.resumed(source, hashes[source])
                loaded = None if entry else self._load(source, report)
                if entry is None and loaded is None and strict:
                    raise StrictIngestError(self._strict_message(report.failed[-1]), report)
                indexed = old_files.get(source)
                if entry is not None:
                    batch.resumed.append(entry)
                elif loaded is not None:
                    batch.loaded.append(loaded)
                    counts["chunked"] += len(loaded.chunks)
                elif indexed is not None and indexed.sha256 == hashes[source]:
                    # The same bytes, read again (an upgrade, a re-ingest) and failing now:
                    # the text they gave before stays, the failure is reported.
                    session.keep([indexed])
                    indexed = None
                if indexed is not None:  # replaced, or changed and no longer loads: stale
                    report.removed.append(source)
                    report.chunks_removed += indexed.num_chunks
                done_files += 1
                if self._batch_full(batch):
                    self._flush(batch, session, report, counts, tick)
                    batch = _Batch()
                tick("files", done_files, total_files)
            self._flush(batch, session, report, counts, tick)
            if (old and not report.ingested and not report.removed and not plan.gone
                    and self._current(old)):
                session.abort()  # every changed file failed: the live state is still right
                return False
            session.finish(template, [r.source for r in plan.gone])
        except BaseException:
            session.abort()
            raise
        tick("commit", 1, 1)
        return True

    def _batch_full(self, batch: _Batch) -> bool:
        chunks = sum(len(b.chunks) for b in batch.loaded)
        return (chunks >= self.settings.buffer_chunks or len(batch) >= self.settings.commit_files
                or time.monotonic() - batch.started >= self.settings.commit_seconds)

    def _load(self, source: str, report: IngestReport) -> _Loaded | None:
        """Reads, parses and chunks one file; a failure is recorded in `report`, not raised."""
        try:
            data = read_bytes(Path(source))
            sha = fingerprint(data, Path(source))  # the bytes parsed, even if it just changed
            document = load_document(data, source, self.settings.ocr, self.tesseract)
            custom = document.metadata | read_sidecar(Path(source))  # the sidecar has the say
            chunks = self.chunker.split_pages(document.pages, sha)
            if not chunks:
                raise LoadError("no text in the file")
        except LoadError as exc:
            report.failed.append(FileFailure(source, exc.reason))
            return None
        except MetadataError as exc:
            report.failed.append(FileFailure(source, str(exc)))
            return None
        skipped = "; ".join(document.skipped) or None
        if skipped:
            report.partial.append(FileFailure(source, skipped))
        return _Loaded(source, sha, chunks, [tokenize(c.text) for c in chunks], skipped, custom)

    def _flush(self, batch: _Batch, session: WriteSession, report: IngestReport,
               counts: dict[str, int], tick: Progress) -> None:
        """Embeds the batch's loaded chunks longest first (batches of similar length pad
        little; a text repeated in the batch, like a page footer, is embedded once), then
        writes every file of the batch, durably, in one go."""
        if not batch:
            return
        unique: dict[str, int] = {}
        slots = np.array([unique.setdefault(c.text, len(unique))
                          for item in batch.loaded for c in item.chunks], dtype=np.int64)
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
        report.chunks_embedded += len(texts)
        vectors = embedded[slots] if len(texts) < len(slots) else embedded
        entries, offset, ingested_at = [], 0, utc_now()
        for item in batch.loaded:
            n = len(item.chunks)
            metadata = document_metadata(item.source, ingested_at,
                                         [c.text for c in item.chunks], item.custom)
            entries.append(FileEntry(item.source, item.sha256, ingested_at, item.chunks,
                                     vectors[offset:offset + n], item.tokens, item.skipped,
                                     metadata))
            offset += n
        session.write_batch(entries + batch.resumed)
        for e in entries + batch.resumed:
            report.ingested.append(e.source)
            report.chunks_added += len(e.chunks)
        report.chunks_resumed += sum(len(e.chunks) for e in batch.resumed)

    @staticmethod
    def _strict_message(failure: FileFailure) -> str:
        return (f"{failure.source}: {failure.reason} (--strict: nothing was written to the "
                "index)")
