"""`ragqa ingest PATH --watch`: keep an index in step with a folder until stopped.

    for report in watch(ingestor, [Path("docs")], stop=threading.Event()):
        print(change_lines(report))

Every `interval` seconds the files under the paths are listed with their size and
modification time (cheap: no file is read); when that listing changed and then stayed the
same for `debounce` seconds (a copy in progress is not ingested half-written), one
incremental run with `sync` adds new files, replaces changed ones and drops removed ones,
under the index's one writer lock. The index's own resume journal makes a crash or a restart
lose nothing: the next run (or the next start) picks up where it stopped.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from ingest.core.metadata import sidecar_path
from ingest.core.types import IngestReport
from ingest.pipeline import discover


def listing(paths: Sequence[Path], exclude: Path | None = None) -> dict[str, tuple[int, ...]]:
    """(size, mtime_ns) of every file under `paths`, and of its sidecar NAME.meta.json (its
    metadata: editing it re-ingests the file)."""
    files, _ = discover(paths, exclude=exclude)
    out = {}
    for f in files:
        try:
            st = f.stat()
        except OSError:  # removed while listing: the next listing tells
            continue
        try:
            side = sidecar_path(f).stat()
            out[str(f)] = (st.st_size, st.st_mtime_ns, side.st_size, side.st_mtime_ns)
        except OSError:
            out[str(f)] = (st.st_size, st.st_mtime_ns)
    return out


def watch(ingestor, paths: Sequence[Path], stop: threading.Event, interval: float = 1.0,
          debounce: float = 1.0) -> Iterator[IngestReport]:
    """The report of each run that a change of the folder causes, until `stop`. The folder
    is listed now, when this is called: a change made after the call is seen."""
    exclude = ingestor.target.exclude()
    return _runs(ingestor, paths, stop, interval, debounce, exclude, listing(paths, exclude))


def _runs(ingestor, paths: Sequence[Path], stop: threading.Event, interval: float,
          debounce: float, exclude: Path | None,
          seen: dict[str, tuple[int, ...]]) -> Iterator[IngestReport]:
    while not stop.wait(interval):
        now = listing(paths, exclude)
        if now == seen:
            continue
        # Wait until the folder is quiet: a file being copied changes size meanwhile.
        while not stop.wait(debounce):
            later = listing(paths, exclude)
            if later == now:
                break
            now = later
        if stop.is_set():
            return
        report = ingestor.ingest(list(paths), sync=True)
        seen = now
        yield report


def change_lines(report: IngestReport) -> list[str]:
    """One line per file the run added, replaced, removed or could not read."""
    removed = set(report.removed) - set(report.ingested)
    replaced = set(report.ingested) & set(report.removed)
    lines = [f"{'changed' if s in replaced else 'added'}: {s}" for s in report.ingested]
    lines += [f"removed: {s}" for s in sorted(removed)]
    lines += [f"failed: {f.source}: {f.reason}" for f in report.failed]
    return lines
