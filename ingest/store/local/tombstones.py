"""Deletion records ("tombstones"): the files removed from a generation since it was written.

    dead = Tombstones("gen-000007", total_rows=412)
    dead = dead.plus([record])                        # the removed file's rows
    write_tombstones(gen_dir / next_tombstones_name(gen_dir), dead)
    dead.rows()                                       # int64, sorted: what no search returns

Removing a document from an index folder used to copy every other file into a new
generation and rebuild FAISS and BM25: minutes at a million chunks. Now a removal writes the
generation's dead files into a NEW file beside its other files (`deleted-000003.json`, JSON,
written atomically and fsynced) and commits a manifest that names the same generation and
that file (`Manifest.dead_rows`, `Manifest.tombstones`). A file a reader of an earlier
manifest may open is never overwritten: each removal writes the next number, holding every
dead file so far, so a reader loads one file. Readers skip the dead rows in every search
(`ingest.store.local.reader`). When dead rows pass `COMPACT_SHARE` of the generation, or an
ingest writes a new generation anyway, the live files are copied into a new one without them
(compaction). Superseded records go with the grace rule of stale generations
(`ingest.store.local.writer.remove_stale_tombstones`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ingest.core.fileio import atomic_write_json
from ingest.core.types import IndexOpenError
from ingest.store.base import FileRecord, Manifest

TOMBSTONES_PREFIX = "deleted-"
TOMBSTONES_FORMAT = 1
# Past this share of dead rows in its generation, a removal rewrites the index instead:
# dead rows still cost memory and the HNSW graph's walk, and BM25's statistics drift.
COMPACT_SHARE = 0.25


@dataclass(frozen=True)
class DeadFile:
    """A removed file's rows in the generation: first_row .. first_row + num_chunks - 1."""

    source: str
    first_row: int
    num_chunks: int


@dataclass(frozen=True)
class Tombstones:
    """Every file removed from `generation` since it was written (one file on disk)."""

    generation: str
    total_rows: int  # the generation's rows, live and dead
    files: tuple[DeadFile, ...] = ()

    @property
    def num_rows(self) -> int:
        return sum(f.num_chunks for f in self.files)

    def plus(self, records: Iterable[FileRecord]) -> Tombstones:
        added = tuple(DeadFile(r.source, r.first_row, r.num_chunks) for r in records)
        return Tombstones(self.generation, self.total_rows, self.files + added)

    def first_rows(self) -> set[int]:
        """The dead files' first rows: a file's key within its generation."""
        return {f.first_row for f in self.files}

    def rows(self) -> np.ndarray:
        """Every dead row, ascending."""
        if not self.files:
            return np.zeros(0, dtype=np.int64)
        return np.sort(np.concatenate([np.arange(f.first_row, f.first_row + f.num_chunks,
                                                 dtype=np.int64) for f in self.files]))

    def to_json(self) -> dict:
        return {"format_version": TOMBSTONES_FORMAT, "generation": self.generation,
                "total_rows": self.total_rows,
                "files": [{"source": f.source, "first_row": f.first_row,
                           "num_chunks": f.num_chunks} for f in self.files]}


def tombstones_name(number: int) -> str:
    return f"{TOMBSTONES_PREFIX}{number:06d}.json"


def tombstones_number(name: str) -> int:
    """The number in `deleted-NNNNNN.json`; -1 for any other name."""
    tail = name[len(TOMBSTONES_PREFIX):].removesuffix(".json")
    return int(tail) if name.startswith(TOMBSTONES_PREFIX) and tail.isdigit() else -1


def next_tombstones_name(generation_dir: Path) -> str:
    """A name no file of the generation has had (a reader may still open any of them)."""
    numbers = [tombstones_number(p.name) for p in Path(generation_dir).iterdir()]
    return tombstones_name(max([0, *numbers]) + 1)


def write_tombstones(path: Path, tombstones: Tombstones) -> None:
    """Written whole to a temporary file, fsynced, renamed, the folder fsynced: durable
    before the manifest that names it replaces the old one."""
    atomic_write_json(path, tombstones.to_json())


def read_tombstones(generation_dir: Path, name: str, generation: str,
                    total_rows: int, dead_rows: int) -> Tombstones:
    """The deletion record a manifest names, checked against it (IndexOpenError if it
    disagrees or cannot be read)."""
    path = Path(generation_dir) / name
    if not path.is_file():
        raise IndexOpenError(
            f"{path} is missing: a newer commit may have removed it while this index was being "
            "opened (open it again); if it stays missing, re-ingest into a new index directory")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format_version") != TOMBSTONES_FORMAT:
            raise ValueError(f"format {data.get('format_version')!r}, not {TOMBSTONES_FORMAT}")
        found = Tombstones(data["generation"], int(data["total_rows"]),
                           tuple(DeadFile(str(f["source"]), int(f["first_row"]),
                                          int(f["num_chunks"])) for f in data["files"]))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError,
            AttributeError) as exc:
        raise IndexOpenError(f"{path} is damaged ({exc}); re-ingest into a new index "
                             "directory") from None
    rows = found.rows()
    if (found.generation != generation or found.total_rows != total_rows
            or len(rows) != dead_rows or len(np.unique(rows)) != len(rows)
            or (len(rows) and (rows[0] < 0 or rows[-1] >= total_rows))):
        raise IndexOpenError(f"{path} does not match the manifest ({generation}, {total_rows} "
                             f"rows of which {dead_rows} removed); re-ingest into a new index "
                             "directory")
    return found


def read_dead(index_dir: Path, manifest: Manifest) -> Tombstones:
    """The rows removed from the manifest's generation (none when it names no record)."""
    total = manifest.num_chunks + manifest.dead_rows
    if manifest.tombstones is None:
        return Tombstones(manifest.generation, total)
    return read_tombstones(Path(index_dir) / manifest.generation, manifest.tombstones,
                           manifest.generation, total, manifest.dead_rows)
