"""`ragqa ingest PATH --watch`: keep an index in step with a folder until stopped.

    for run in watch(ingestor, [Path("docs")], stop=threading.Event(), sync=False):
        print(change_lines(run))

Every `interval` seconds the files under the paths are listed with their size and
modification time (cheap: no file is read); when that listing changed and then stayed the
same for `debounce` seconds (a file still being copied changes size or time meanwhile: it is
ingested once two looks agree), one incremental run adds new files and replaces changed ones,
under the index's one writer lock. A file that vanished is removed from the index only with
`sync` (the user's `--sync`); without it, it is reported and kept. A root that vanished (an
unmounted disk, a renamed share) is never synced away: its documents stay, and it is
reported. Another writer holding the lock (an upload in the app) delays a run, with backoff;
it does not end the watch. The index's own resume journal makes a crash or a restart lose
nothing: the next run (or the next start) picks up where it stopped.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ingest.core.metadata import sidecar_path
from ingest.core.types import IngestReport
from ingest.pipeline import discover
from ingest.store import IndexLockedError

MAX_BACKOFF = 30.0  # seconds between tries while another writer holds the index


@dataclass
class WatchRun:
    """One run caused by a change: the ingest's report, and what vanished and was kept."""

    report: IngestReport
    vanished: list[str] = field(default_factory=list)  # files gone, kept (no --sync)
    missing_roots: list[str] = field(default_factory=list)  # watched roots that are gone


def listing(paths: Sequence[Path], exclude: Path | None = None) -> dict[str, tuple[int, ...]]:
    """(size, mtime_ns) of every file under `paths`, and of its sidecar NAME.meta.json (its
    metadata: editing it re-ingests the file)."""
    files, _ = discover([p for p in paths if Path(p).exists()], exclude=exclude)
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
          debounce: float = 1.0, sync: bool = False) -> Iterator[WatchRun]:
    """A `WatchRun` for each run that a change of the folder causes, until `stop`. The
    folder is listed now, when this is called: a change made after the call is seen."""
    exclude = ingestor.target.exclude()
    return _runs(ingestor, list(paths), stop, interval, debounce, exclude, sync,
                 listing(paths, exclude))


def _runs(ingestor, paths: list[Path], stop: threading.Event, interval: float,
          debounce: float, exclude: Path | None, sync: bool,
          seen: dict[str, tuple[int, ...]]) -> Iterator[WatchRun]:
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
        present = [p for p in paths if Path(p).exists()]
        report = (_ingest_when_free(ingestor, present, sync, stop, interval) if present
                  else IngestReport())
        if report is None:
            return
        vanished = [] if sync else sorted(set(seen) - set(now))
        missing = [str(p) for p in paths if not Path(p).exists()]
        seen = now
        yield WatchRun(report, vanished, missing)


def _ingest_when_free(ingestor, paths: list[Path], sync: bool, stop: threading.Event,
                      interval: float) -> IngestReport | None:
    """The run's report, retried while another writer holds the index (None: stopped)."""
    wait = interval
    while True:
        try:
            return ingestor.ingest(paths, sync=sync)
        except IndexLockedError:
            if stop.wait(wait):
                return None
            wait = min(wait * 2, MAX_BACKOFF)


def change_lines(run: WatchRun) -> list[str]:
    """One line per file the run added, replaced, removed, kept or could not read."""
    report = run.report
    removed = set(report.removed) - set(report.ingested)
    replaced = set(report.ingested) & set(report.removed)
    lines = [f"{'changed' if s in replaced else 'added'}: {s}" for s in report.ingested]
    lines += [f"removed: {s}" for s in sorted(removed)]
    lines += [f"vanished, kept in the index (--sync removes it): {s}" for s in run.vanished]
    lines += [f"watched folder is gone, its documents are kept: {s}" for s in run.missing_roots]
    lines += [f"failed: {f.source}: {f.reason}" for f in report.failed]
    return lines
