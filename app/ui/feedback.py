"""Thumbs up/down on answers, kept in SQLite and exported as JSONL to grow the reference QA set.

    store = FeedbackStore(Path("indexes/feedback.sqlite3"))
    fid = store.add(FeedbackEntry(question="Who?", answer="Ada [1].", rating=1,
                                  citations=[{"n": 1, "source": "a.pdf", "page": 2}]))
    store.set_comment(fid, "exactly right")
    store.to_jsonl().splitlines()[0]
    # '{"id": "fb-1", "question": "Who?", "answer": "Ada [1].", "rating": "up", ...}'

One short-lived connection per call: Streamlit serves each browser session from its own
thread, and a sqlite3 connection must not cross threads.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.core.clock import utc_now
from ingest.core.errors import RagqaError

# 2 added `user_name`: who rated (empty where nobody signs in).
SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    rating      INTEGER NOT NULL CHECK (rating IN (0, 1)),
    comment     TEXT NOT NULL DEFAULT '',
    question    TEXT NOT NULL,
    answer      TEXT NOT NULL,
    abstained   INTEGER NOT NULL DEFAULT 0,
    citations   TEXT NOT NULL DEFAULT '[]',
    settings    TEXT NOT NULL DEFAULT '{}',
    index_dir   TEXT NOT NULL DEFAULT '',
    user_name   TEXT NOT NULL DEFAULT ''
)
"""


class FeedbackError(RagqaError):
    """The feedback database cannot be opened or written (the message names the file)."""


@dataclass(frozen=True)
class FeedbackEntry:
    """One rating of one answer. `rating` is 1 for thumbs up, 0 for thumbs down."""

    question: str
    answer: str
    rating: int
    comment: str = ""
    abstained: bool = False
    citations: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    index_dir: str = ""
    user: str = ""  # the signed-in user who rated; "" on an open (loopback) UI

    def __post_init__(self) -> None:
        if self.rating not in (0, 1):
            raise ValueError(f"rating must be 1 (thumbs up) or 0 (thumbs down), not {self.rating}")


@dataclass(frozen=True)
class FeedbackRecord:
    """A stored rating with its id and timestamps (ISO 8601, UTC)."""

    id: int
    created_at: str
    updated_at: str
    entry: FeedbackEntry

    def to_json(self) -> dict[str, Any]:
        """One JSONL line. A thumbs-up on a real answer also carries `answers`, so the file
        can be fed straight to `ragqa eval --qa` as reference QA after review."""
        e = self.entry
        out: dict[str, Any] = {
            "id": f"fb-{self.id}",
            "question": e.question,
            "answer": e.answer,
            "rating": "up" if e.rating == 1 else "down",
            "comment": e.comment,
            "abstained": e.abstained,
            "citations": e.citations,
            "settings": e.settings,
            "index": e.index_dir,
            "user": e.user,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
        if e.rating == 1 and not e.abstained:
            out["answers"] = [e.answer]
        return out



class FeedbackStore:
    """Ratings in one SQLite file, created (with its folder) on first use.

    Args:
        path: the database file, e.g. `indexes/feedback.sqlite3`.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if self.path.exists() and self.path.is_dir():
            raise FeedbackError(f"feedback database {self.path} is a folder, not a file")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise FeedbackError(
                        f"feedback database {self.path} has schema version {version}; "
                        f"this ragqa reads version {SCHEMA_VERSION}"
                    )
                db.execute(_SCHEMA)
                columns = {row[1] for row in db.execute("PRAGMA table_info(feedback)")}
                if "user_name" not in columns:  # a version-1 database: ratings stay, no user
                    db.execute("ALTER TABLE feedback ADD COLUMN user_name TEXT NOT NULL "
                               "DEFAULT ''")
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except (sqlite3.Error, OSError) as exc:
            raise FeedbackError(f"cannot open feedback database {self.path}: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        # timeout: two sessions rating at once wait for each other instead of failing.
        db = sqlite3.connect(self.path, timeout=10)
        db.row_factory = sqlite3.Row
        return db

    def _write(self, sql: str, params: tuple) -> sqlite3.Cursor:
        try:
            db = self._connect()
            try:
                with db:  # commits, or rolls back on error
                    return db.execute(sql, params)
            finally:
                db.close()
        except sqlite3.Error as exc:
            raise FeedbackError(f"cannot write feedback to {self.path}: {exc}") from exc

    def add(self, entry: FeedbackEntry) -> int:
        """Stores a rating; returns its id (for a later comment or change of mind)."""
        now = utc_now()
        cur = self._write(
            "INSERT INTO feedback (created_at, updated_at, rating, comment, question, answer,"
            " abstained, citations, settings, index_dir, user_name)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (now, now, entry.rating, entry.comment, entry.question, entry.answer,
             int(entry.abstained), json.dumps(entry.citations, ensure_ascii=False),
             json.dumps(entry.settings, ensure_ascii=False, default=str), entry.index_dir,
             entry.user),
        )
        return int(cur.lastrowid)

    def set_rating(self, feedback_id: int, rating: int) -> None:
        if rating not in (0, 1):
            raise ValueError(f"rating must be 1 (thumbs up) or 0 (thumbs down), not {rating}")
        self._update(feedback_id, "rating", rating)

    def set_comment(self, feedback_id: int, comment: str) -> None:
        self._update(feedback_id, "comment", comment.strip())

    def _update(self, feedback_id: int, column: str, value: Any) -> None:
        cur = self._write(f"UPDATE feedback SET {column} = ?, updated_at = ? WHERE id = ?",
                          (value, utc_now(), feedback_id))
        if cur.rowcount == 0:
            raise FeedbackError(f"no feedback with id {feedback_id} in {self.path}")

    def records(self) -> list[FeedbackRecord]:
        """All ratings, oldest first."""
        try:
            db = self._connect()
            try:
                rows = db.execute("SELECT * FROM feedback ORDER BY id").fetchall()
            finally:
                db.close()
        except sqlite3.Error as exc:
            raise FeedbackError(f"cannot read feedback from {self.path}: {exc}") from exc
        return [_record(row) for row in rows]

    def count(self) -> int:
        return len(self.records())

    def to_jsonl(self) -> str:
        """Every rating as one JSON object per line (UTF-8 text, Chinese kept readable)."""
        return "".join(json.dumps(r.to_json(), ensure_ascii=False) + "\n" for r in self.records())



def _record(row: sqlite3.Row) -> FeedbackRecord:
    entry = FeedbackEntry(
        question=row["question"], answer=row["answer"], rating=row["rating"],
        comment=row["comment"], abstained=bool(row["abstained"]),
        citations=json.loads(row["citations"]), settings=json.loads(row["settings"]),
        index_dir=row["index_dir"], user=row["user_name"],
    )
    return FeedbackRecord(id=row["id"], created_at=row["created_at"],
                          updated_at=row["updated_at"], entry=entry)
