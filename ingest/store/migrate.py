"""Copying an index between stores, unchanged: `ragqa migrate --from DIR --to postgresql://…`.

    report = migrate(Path("indexes/kb"), "postgresql://ragqa@db/ragqa")
    report.files, report.chunks
    # (412, 9031)

Files go over whole, a batch at a time, with their chunks, vectors and BM25 tokens exactly as
stored (nothing is re-embedded or re-tokenized), through the target's own write session: its
writer lock, its batches, its atomic finish. The manifest keeps the embedder, chunking, index
type and creation time. The target must be empty: merging two indexes is an ingest's job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from ingest.core.errors import RagqaError
from ingest.store import index_target, open_store
from ingest.store.base import Location


class MigrateError(RagqaError):
    """The migration cannot run (the target holds an index already, say)."""


@dataclass(frozen=True)
class MigrateReport:
    files: int
    chunks: int


def migrate(source: Location, target: Location, batch_files: int = 100,
            progress: Callable[[int, int], None] | None = None) -> MigrateReport:
    """Copies the committed index at `source` into the empty place `target`."""
    if batch_files <= 0:
        raise MigrateError(f"batch_files must be greater than 0, not {batch_files}")
    src = open_store(source)
    dest = index_target(target)
    try:
        with src.snapshot(), dest.lock():
            live = dest.open_live()
            if live is not None:
                live.close()
                raise MigrateError(f"{target} already holds an index; migrate into an empty "
                                   "directory or database")
            template = replace(src.manifest, num_files=0, num_chunks=0, generation="")
            records = src.files()
            session = dest.begin(None, template, strict=False)
            try:
                chunks = 0
                for start in range(0, len(records), batch_files):
                    entries = [src.read_file(r) for r in records[start:start + batch_files]]
                    session.write_batch(entries)
                    chunks += sum(len(e.chunks) for e in entries)
                    if progress:
                        progress(min(start + batch_files, len(records)), len(records))
                session.finish(template, [])
            except BaseException:
                session.abort()
                raise
    finally:
        src.close()
    return MigrateReport(files=len(records), chunks=chunks)
