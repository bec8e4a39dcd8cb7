"""plan_ingest: which files an incremental run keeps, loads and drops (no files, no index)."""

from __future__ import annotations

from ingest.plan import plan_ingest
from ingest.store.base import FileRecord


def rec(name: str, sha: str, skipped: str | None = None) -> FileRecord:
    return FileRecord(f"/kb/{name}", sha, 2, "2024-01-01T00:00:00+00:00", skipped=skipped)


def names(items) -> list[str]:
    return [(i if isinstance(i, str) else i.source).rsplit("/", 1)[-1] for i in items]


INDEXED = {r.source: r for r in (rec("same.md", "s1"), rec("edited.md", "e1"),
                                 rec("scan.pdf", "p1", skipped="page 2: no OCR"),
                                 rec("elsewhere.md", "x1"), rec("broken.md", "b1"))}


def plan(scanned: dict[str, str], unreadable=(), *, rechunk=False, sync=False, retry=True):
    return plan_ingest(INDEXED, {f"/kb/{k}": v for k, v in scanned.items()},
                       [f"/kb/{u}" for u in unreadable], rechunk=rechunk, sync=sync,
                       retry=retry)


def test_each_file_lands_in_one_group_and_todo_keeps_the_scan_order():
    p = plan({"new.md": "n1", "edited.md": "e2", "same.md": "s1", "scan.pdf": "p1"},
             unreadable=["broken.md"])
    assert names(p.unchanged) == ["same.md"]
    assert (names(p.new), names(p.changed), names(p.retried)) == (
        ["new.md"], ["edited.md"], ["scan.pdf"])
    assert names(p.todo) == ["new.md", "edited.md", "scan.pdf"]
    # Not among the paths, or unreadable now: kept as they are, after the unchanged ones.
    assert names(p.absent) == ["elsewhere.md", "broken.md"]
    assert names(p.keep) == ["same.md", "elsewhere.md", "broken.md"]
    assert p.gone == []


def test_sync_drops_what_was_not_given_but_keeps_what_was_given_and_unreadable():
    p = plan({"same.md": "s1"}, unreadable=["broken.md"], sync=True)
    assert names(p.absent) == ["broken.md"]
    assert names(p.gone) == ["edited.md", "scan.pdf", "elsewhere.md"]
    assert p.todo == []


def test_with_ocr_off_a_file_with_parts_left_out_is_not_retried():
    p = plan({"scan.pdf": "p1"}, retry=False)
    assert names(p.unchanged) == ["scan.pdf"] and p.retried == p.todo == []
    assert names(plan({"scan.pdf": "p2"}, retry=False).changed) == ["scan.pdf"]


def test_a_new_chunking_loads_every_file_again_and_drops_those_it_cannot_read():
    p = plan({"same.md": "s1", "scan.pdf": "p1", "edited.md": "e2", "elsewhere.md": "x1"},
             unreadable=["broken.md"], rechunk=True)
    assert p.unchanged == p.absent == p.retried == []
    assert names(p.changed) == names(p.todo) == ["same.md", "scan.pdf", "edited.md",
                                                 "elsewhere.md"]
    assert names(p.gone) == ["broken.md"]


def test_a_first_run_loads_everything_and_an_unchanged_run_loads_nothing():
    first = plan_ingest({}, {"/kb/a.md": "a"}, [], rechunk=False, sync=True, retry=True)
    assert (first.new, first.todo, first.keep, first.gone) == (["/kb/a.md"], ["/kb/a.md"], [],
                                                                 [])
    again = plan({"same.md": "s1", "edited.md": "e1", "scan.pdf": "p1", "elsewhere.md": "x1",
                  "broken.md": "b1"}, retry=False, sync=True)
    assert again.todo == again.absent == again.gone == []
    assert names(again.unchanged) == names(INDEXED.values())
