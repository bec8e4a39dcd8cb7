"""What an incremental ingest run does with each file: one pure decision, then `Ingestor` runs it.

    >>> old = {"/kb/a.md": FileRecord("/kb/a.md", "aa", 3, "2024-01-01"),
    ...        "/kb/b.md": FileRecord("/kb/b.md", "bb", 2, "2024-01-01")}
    >>> plan = plan_ingest(old, {"/kb/a.md": "aa", "/kb/c.md": "cc"}, unreadable=(),
    ...                    rechunk=False, sync=True, retry=True)
    >>> [r.source for r in plan.unchanged], plan.new, [r.source for r in plan.gone]
    (['/kb/a.md'], ['/kb/c.md'], ['/kb/b.md'])

`sync` drops only files under the run's roots: another folder's documents in the same index
stay, and so do those of a root that has vanished (an unmounted disk is not a deletion).

    >>> plan = plan_ingest(old, {"/kb/a.md": "aa"}, unreadable=(), rechunk=False, sync=True,
    ...                    retry=True, roots=["/other"])
    >>> [r.source for r in plan.gone], [r.source for r in plan.absent]
    ([], ['/kb/b.md'])
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import PurePath

from ingest.store.base import FileRecord


@dataclass(frozen=True)
class IngestPlan:
    """The files of one run, each in one group. Sources are resolved paths as strings."""

    unchanged: list[FileRecord]  # the same bytes, cut the same way: kept as they are
    new: list[str]  # not in the index: loaded
    changed: list[str]  # in the index with other bytes, or any when the chunking changed: loaded
    retried: list[str]  # the same bytes, but parts were left out last time (scans): loaded
    absent: list[FileRecord]  # in the index, not among the paths (or unreadable now): kept
    gone: list[FileRecord]  # in the index, dropped: by `sync`, or unreadable for a re-chunk
    todo: list[str]  # new, changed and retried, in the order they were scanned

    @property
    def keep(self) -> list[FileRecord]:
        """The indexed files the run keeps as they are, in the order the index lists them
        after the unchanged ones."""
        return self.unchanged + self.absent


def plan_ingest(indexed: Mapping[str, FileRecord], scanned: Mapping[str, str],
                unreadable: Collection[str], *, rechunk: bool, sync: bool,
                retry: bool, force: Collection[str] = (),
                roots: Collection[str] | None = None) -> IngestPlan:
    """Sorts every file of a run into an `IngestPlan`.

    Args:
        indexed: the index's files by source, in the index's order.
        scanned: the sha256 of every file of this run, by source, in the order scanned.
        unreadable: sources named or found this run that could not be read (they are not
            dropped by `sync`).
        rechunk: the index's chunks were cut with another size or overlap: every file is
            loaded again.
        sync: drop indexed files that are not among this run's files and lie under one of
            `roots` (None: anywhere).
        roots: the run's files and folders that exist now, as resolved paths.
        retry: load again a file whose parts were left out last time (OCR is not off).
        force: load these again even when their bytes are the same (`ragqa docs reingest`).
    """
    unchanged = [r for s, r in indexed.items()
                 if not rechunk and scanned.get(s) == r.sha256 and not (retry and r.skipped)
                 and s not in force]
    same = {r.source for r in unchanged}
    todo = [s for s in scanned if s not in same]
    new = [s for s in todo if s not in indexed]
    retried = [s for s in todo
               if s in indexed and not rechunk and indexed[s].sha256 == scanned[s]]
    changed = [s for s in todo if s in indexed and s not in set(retried)]
    given = set(scanned) | set(unreadable)
    absent, gone = [], []
    for s, r in indexed.items():
        if s in scanned:
            continue
        if rechunk or (sync and s not in given and _under(s, roots)):
            gone.append(r)
        else:
            absent.append(r)
    return IngestPlan(unchanged=unchanged, new=new, changed=changed, retried=retried,
                      absent=absent, gone=gone, todo=todo)


def _under(source: str, roots: Collection[str] | None) -> bool:
    if roots is None:
        return True
    path = PurePath(source)
    return any(path == PurePath(r) or PurePath(r) in path.parents for r in roots)
