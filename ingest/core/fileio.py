"""Atomic file writes and JSONL, the one way every stage writes and reads them.

    atomic_write_text(Path("reports/ci/report.md"), "# report\\n")
    write_jsonl(Path("hits.jsonl"), [{"id": "q1", "hits": []}])
    for where, row in read_jsonl(Path("questions.jsonl"), QuestionsFileError):
        print(where, row["question"])              # where = "questions.jsonl:3"

A write goes to a uniquely named temporary file in the same folder, is fsynced, and replaces
the target with `os.replace` (atomic on POSIX); the folder is fsynced so the rename survives a
power cut. A reader never sees half a file, and two writers never share a temporary name.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ingest.core.errors import RagqaError


def fsync_path(path: Path) -> None:
    """Flushes a file's or a folder's entry to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_path(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    """Indented, non-ASCII kept readable, with a final newline."""
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def write_jsonl(path: Path, rows: Iterable[Any]) -> None:
    """One JSON object per line, UTF-8, written atomically."""
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def publish_dir(built: Path, final: Path) -> bool:
    """Moves the finished folder `built` to `final` in one rename; False (and `built` removed)
    when another process published `final` first. Both must be on one file system."""
    try:
        os.replace(built, final)
    except OSError:
        if not final.is_dir():
            raise
        shutil.rmtree(built, ignore_errors=True)
        return False
    fsync_path(final.parent)
    return True


def read_text(path: Path, error: type[RagqaError], what: str = "file") -> str:
    """The file as text (UTF-8, a BOM dropped), or `error` saying why it cannot be read."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise error(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise error(f"{what} {path} is a directory, not a file") from None
    except UnicodeDecodeError as exc:
        raise error(f"{what} {path} is not UTF-8 text ({exc.reason} at byte {exc.start})"
                    ) from None
    except OSError as exc:
        raise error(f"{what} {path} cannot be read: {exc.strerror or exc}") from None


def parse_jsonl(text: str, path: Path, error: type[RagqaError]) -> Iterator[tuple[str, Any]]:
    """`(where, value)` for each non-blank line; `where` is "path:line" for error messages.
    A line that is not JSON raises `error` naming the file and line."""
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            yield where, json.loads(line)
        except json.JSONDecodeError as exc:
            raise error(f"{where}: not valid JSON ({exc.msg})") from None


def read_jsonl(path: Path, error: type[RagqaError], what: str = "file"
               ) -> Iterator[tuple[str, Any]]:
    """`parse_jsonl` over the file at `path` (see `read_text` for unreadable files)."""
    return parse_jsonl(read_text(path, error, what), Path(path), error)
